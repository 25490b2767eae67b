#include "textflag.h"

// func badLFAVX2(b []byte) (i, done int)
//
// For j = 0, 32, 64, … while j+33 <= len(b): compare b[j:j+32] with LF
// and b[j+1:j+33] with ':'; the first LF whose next octet is not ':' is
// returned as i. Otherwise i = -1 and done = the first j not looked at.
// The main loop takes 64 octets a turn and tests both halves at once.
TEXT ·badLFAVX2(SB), NOSPLIT, $0-40
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	XORQ AX, AX
	MOVL $0x0a, DX
	MOVD DX, X0
	VPBROADCASTB X0, Y0
	MOVL $0x3a, DX
	MOVD DX, X1
	VPBROADCASTB X1, Y1
	MOVQ CX, BX
	SUBQ $64, BX            // 64 a turn while j+65 <= len(b)

loop64:
	CMPQ AX, BX
	JGE  tail
	VMOVDQU (SI)(AX*1), Y2
	VMOVDQU 32(SI)(AX*1), Y5
	VMOVDQU 1(SI)(AX*1), Y3
	VMOVDQU 33(SI)(AX*1), Y6
	VPCMPEQB Y0, Y2, Y2
	VPCMPEQB Y0, Y5, Y5
	VPCMPEQB Y1, Y3, Y3
	VPCMPEQB Y1, Y6, Y6
	VPANDN   Y2, Y3, Y4
	VPANDN   Y5, Y6, Y7
	VPOR     Y4, Y7, Y8
	VPTEST   Y8, Y8
	JNZ      found64
	ADDQ     $64, AX
	JMP      loop64

found64:
	VPMOVMSKB Y4, DX
	TESTL DX, DX
	JNZ   found
	VPMOVMSKB Y7, DX
	ADDQ  $32, AX
	JMP   found

tail:
	SUBQ $32, CX            // 32 a turn while j+33 <= len(b)

loop32:
	CMPQ AX, CX
	JGE  none
	VMOVDQU (SI)(AX*1), Y2
	VMOVDQU 1(SI)(AX*1), Y3
	VPCMPEQB Y0, Y2, Y2
	VPCMPEQB Y1, Y3, Y3
	VPANDN   Y2, Y3, Y4
	VPMOVMSKB Y4, DX
	TESTL DX, DX
	JNZ   found
	ADDQ  $32, AX
	JMP   loop32

found:
	BSFL DX, DX
	ADDQ DX, AX
	MOVQ AX, i+24(FP)
	MOVQ AX, done+32(FP)
	VZEROUPPER
	RET

none:
	MOVQ $-1, i+24(FP)
	MOVQ AX, done+32(FP)
	VZEROUPPER
	RET
