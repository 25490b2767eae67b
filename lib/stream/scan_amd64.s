#include "textflag.h"

// func badLFAVX2(b []byte) (i, done, lfs int)
//
// For j = 0, 32, 64, … while j+33 <= len(b): compare b[j:j+32] with LF
// and b[j+1:j+33] with ':'; the first LF whose next octet is not ':' is
// returned as i (and done = i). Otherwise i = -1 and done = the first j
// not looked at. lfs counts the LFs looked at: those before done, and
// the one at i.
//
// The main loop takes 128 octets a turn and counts their LFs in byte
// lanes (subtracting the compare masks, each -1 where an LF is), which it
// adds up (VPSADBW) every 63 turns, before a lane could pass 255. A turn
// that finds a bad LF, and the last octets, go to the 32-octet loop,
// which counts with VPMOVMSKB and POPCNT and finds the LF's place.
TEXT ·badLFAVX2(SB), NOSPLIT, $0-48
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	XORQ AX, AX
	XORQ R8, R8
	MOVL $0x0a, DX
	VMOVD DX, X0
	VPBROADCASTB X0, Y0
	MOVL $0x3a, DX
	VMOVD DX, X1
	VPBROADCASTB X1, Y1
	VPXOR Y15, Y15, Y15     // zero
	VPXOR Y14, Y14, Y14     // LF counts, a byte lane each
	VPXOR Y13, Y13, Y13     // their sums, four quadwords
	MOVQ $63, R11           // turns before the lanes are added up
	MOVQ CX, BX
	SUBQ $128, BX           // 128 a turn while j+129 <= len(b)

loop128:
	CMPQ AX, BX
	JGE  sum
	VMOVDQU (SI)(AX*1), Y2
	VMOVDQU 32(SI)(AX*1), Y4
	VMOVDQU 64(SI)(AX*1), Y6
	VMOVDQU 96(SI)(AX*1), Y8
	VMOVDQU 1(SI)(AX*1), Y3
	VMOVDQU 33(SI)(AX*1), Y5
	VMOVDQU 65(SI)(AX*1), Y7
	VMOVDQU 97(SI)(AX*1), Y9
	VPCMPEQB Y0, Y2, Y2     // LFs
	VPCMPEQB Y0, Y4, Y4
	VPCMPEQB Y0, Y6, Y6
	VPCMPEQB Y0, Y8, Y8
	VPCMPEQB Y1, Y3, Y3     // ":" after them
	VPCMPEQB Y1, Y5, Y5
	VPCMPEQB Y1, Y7, Y7
	VPCMPEQB Y1, Y9, Y9
	VPANDN   Y2, Y3, Y3     // LFs not followed by ':'
	VPANDN   Y4, Y5, Y5
	VPANDN   Y6, Y7, Y7
	VPANDN   Y8, Y9, Y9
	VPOR     Y3, Y5, Y5
	VPOR     Y7, Y9, Y9
	VPOR     Y5, Y9, Y9
	VPTEST   Y9, Y9
	JNZ      sum            // the 32-octet loop finds it
	VPSUBB   Y2, Y14, Y14
	VPSUBB   Y4, Y14, Y14
	VPSUBB   Y6, Y14, Y14
	VPSUBB   Y8, Y14, Y14
	ADDQ     $128, AX
	DECQ     R11
	JNZ      loop128
	VPSADBW  Y15, Y14, Y14
	VPADDQ   Y14, Y13, Y13
	VPXOR    Y14, Y14, Y14
	MOVQ     $63, R11
	JMP      loop128

sum:
	VPSADBW      Y15, Y14, Y14
	VPADDQ       Y14, Y13, Y13
	VEXTRACTI128 $1, Y13, X14
	VPADDQ       X14, X13, X13
	VPSHUFD      $0x4e, X13, X14
	VPADDQ       X14, X13, X13
	VMOVQ        X13, DX
	ADDQ         DX, R8
	SUBQ         $32, CX    // 32 a turn while j+33 <= len(b)

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
	VMOVD AX, X0
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
