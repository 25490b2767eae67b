#include "textflag.h"

// func badLFAVX2(b []byte) (i, done, lfs int)
//
// For j = 0, 32, 64, … while j+33 <= len(b): compare b[j:j+32] with LF
// and b[j+1:j+33] with ':'; the first LF whose next octet is not ':' is
// returned as i (and done = i). Otherwise i = -1 and done = the first j
// not looked at. lfs counts the LFs looked at: those before done, and
// the one at i. The main loop takes 64 octets a turn and tests both
// halves at once.
TEXT ·badLFAVX2(SB), NOSPLIT, $0-48
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	XORQ AX, AX
	XORQ R8, R8
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
	VPCMPEQB Y0, Y2, Y2     // LFs, low half
	VPCMPEQB Y0, Y5, Y5     // LFs, high half
	VPCMPEQB Y1, Y3, Y3
	VPCMPEQB Y1, Y6, Y6
	VPANDN   Y2, Y3, Y4     // LFs not followed by ':', low half
	VPANDN   Y5, Y6, Y7     // and high half
	VPOR     Y4, Y7, Y8
	VPTEST   Y8, Y8
	JNZ      found64
	VPMOVMSKB Y2, DX
	POPCNTL  DX, DX
	ADDQ     DX, R8
	VPMOVMSKB Y5, DX
	POPCNTL  DX, DX
	ADDQ     DX, R8
	ADDQ     $64, AX
	JMP      loop64

found64:
	VPMOVMSKB Y4, DX
	VPMOVMSKB Y2, R9
	TESTL DX, DX
	JNZ   found
	POPCNTL R9, R9          // the low half has none: all its LFs count
	ADDQ  R9, R8
	VPMOVMSKB Y7, DX
	VPMOVMSKB Y5, R9
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
	VPMOVMSKB Y2, R9
	TESTL DX, DX
	JNZ   found
	POPCNTL R9, R9
	ADDQ  R9, R8
	ADDQ  $32, AX
	JMP   loop32

found:
	// DX: the block's bad LFs, R9: its LFs. The first bad one is at t;
	// the LFs at t and before it count.
	BSFL DX, DX
	MOVQ DX, CX
	MOVQ $2, R10
	SHLQ CX, R10
	DECQ R10
	ANDQ R10, R9
	POPCNTQ R9, R9
	ADDQ R9, R8
	ADDQ DX, AX
	MOVQ AX, i+24(FP)
	MOVQ AX, done+32(FP)
	MOVQ R8, lfs+40(FP)
	VZEROUPPER
	RET

none:
	MOVQ $-1, i+24(FP)
	MOVQ AX, done+32(FP)
	MOVQ R8, lfs+40(FP)
	VZEROUPPER
	RET

// func decodeAVX2(dst, src []byte) (nd, ns, lines int)
//
// Decodes the ":" lines at the start of src into dst, a line at a time,
// 32 octets a turn: each turn loads 32 octets and stores them whole, and
// an LF among them ends the line. It stops before a line that does not
// start with ":", that is longer than MaxLine (65,536 octets, tag and LF
// included), or that it cannot finish with 32 octets still to load from
// src and to store into dst. src[:ns] is then the whole lines decoded,
// dst[:nd] their payloads with their LFs, and lines their number; dst
// beyond nd may have been written.
TEXT ·decodeAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), DX
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	XORQ R10, R10           // ns: the start of the line
	XORQ R11, R11           // nd
	XORQ R12, R12           // lines
	MOVL $0x0a, AX
	MOVD AX, X0
	VPBROADCASTB X0, Y0

line:
	CMPQ R10, CX
	JGE  done
	CMPB (SI)(R10*1), $0x3a
	JNE  done
	LEAQ 1(R10), R8         // s: past the ":"
	MOVQ R11, R9            // d

block:
	LEAQ 32(R8), AX
	CMPQ AX, CX
	JHI  done
	LEAQ 32(R9), AX
	CMPQ AX, DX
	JHI  done
	VMOVDQU (SI)(R8*1), Y1
	VMOVDQU Y1, (DI)(R9*1)
	VPCMPEQB Y0, Y1, Y2
	VPMOVMSKB Y2, AX
	TESTL AX, AX
	JNZ  lf
	ADDQ $32, R8
	ADDQ $32, R9
	MOVQ R8, BX
	SUBQ R10, BX
	CMPQ BX, $65536
	JHI  done               // too long already
	JMP  block

lf:
	BSFL AX, AX
	LEAQ 1(R8)(AX*1), R8    // past the LF
	LEAQ 1(R9)(AX*1), R9
	MOVQ R8, BX
	SUBQ R10, BX
	CMPQ BX, $65536
	JHI  done
	MOVQ R8, R10
	MOVQ R9, R11
	INCQ R12
	JMP  line

done:
	MOVQ R11, nd+48(FP)
	MOVQ R10, ns+56(FP)
	MOVQ R12, lines+64(FP)
	VZEROUPPER
	RET
