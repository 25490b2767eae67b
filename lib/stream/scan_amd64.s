#include "textflag.h"

// func badLFAVX2(b []byte) (i, done int)
//
// For j = 0, 32, 64, … while j+33 <= len(b): compare b[j:j+32] with LF
// and b[j+1:j+33] with ':'; the first LF whose next octet is not ':' is
// returned as i. Otherwise i = -1 and done = the first j not looked at.
TEXT ·badLFAVX2(SB), NOSPLIT, $0-40
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	XORQ AX, AX
	SUBQ $32, CX
	MOVL $0x0a, DX
	MOVD DX, X0
	VPBROADCASTB X0, Y0
	MOVL $0x3a, DX
	MOVD DX, X1
	VPBROADCASTB X1, Y1

loop:
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
	JMP   loop

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
