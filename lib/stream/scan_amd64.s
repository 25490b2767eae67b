#include "textflag.h"

// decodeAVX2 and encodeAVX2 (below) go the same way; these are its
// parts. Registers: SI and CX are src and its length, DI and DX dst and
// its length; R10 is ns (where the line starts in src), R11 nd, R12 the
// lines done; R8 is j, where the 64 octets of src start whose LFs are
// in the mask R9 (those not yet taken); BX is the line's length; Y0
// holds LFs.

// LINES_START loads the arguments of a func(dst, src []byte) (nd, ns,
// lines int), zeroes ns, nd, lines and j, fills Y0 with LFs, and goes
// to done if src is shorter than the mask's 64 octets.
#define LINES_START(done) \
	MOVQ dst_base+0(FP), DI; \
	MOVQ dst_len+8(FP), DX; \
	MOVQ src_base+24(FP), SI; \
	MOVQ src_len+32(FP), CX; \
	XORQ R10, R10; \
	XORQ R11, R11; \
	XORQ R12, R12; \
	XORQ R8, R8; \
	MOVL $0x0a, AX; \
	VMOVD AX, X0; \
	VPBROADCASTB X0, Y0; \
	CMPQ CX, $64; \
	JLT  done

// LINES_END returns nd, ns and lines.
#define LINES_END \
	MOVQ R11, nd+48(FP); \
	MOVQ R10, ns+56(FP); \
	MOVQ R12, lines+64(FP); \
	VZEROUPPER; \
	RET

// NEXT_LINE finds the end of the line at R10 and leaves its length, LF
// excluded, in BX, less than limit, else goes to done. At next the
// mask's 64 octets move on (to done if they would pass src's end, or
// could only hold an LF at limit or past it); at mask the mask is made;
// at line the next LF is taken from it.
#define NEXT_LINE(next, mask, line, done, limit) \
next: \
	ADDQ $64, R8; \
	LEAQ 64(R8), AX; \
	CMPQ AX, CX; \
	JHI  done; \
	MOVQ R8, AX; \
	SUBQ R10, AX; \
	CMPQ AX, $limit; \
	JGE  done; \
mask: \
	VMOVDQU (SI)(R8*1), Y1; \
	VMOVDQU 32(SI)(R8*1), Y2; \
	VPCMPEQB Y0, Y1, Y1; \
	VPCMPEQB Y0, Y2, Y2; \
	VPMOVMSKB Y1, R9; \
	VPMOVMSKB Y2, AX; \
	SHLQ $32, AX; \
	ORQ  AX, R9; \
line: \
	TESTQ R9, R9; \
	JZ    next; \
	BSFQ  R9, BX; \
	LEAQ  -1(R9), AX; \
	ANDQ  AX, R9; \
	ADDQ  R8, BX; \
	SUBQ  R10, BX; \
	CMPQ  BX, $limit; \
	JGE   done

// COPY_LINE copies BX octets from src at R10+soff to dst at R11+doff,
// in blocks of 32, as many as cover them but three at least, so that
// lines of text (up to 95 octets) take no loop whose end the processor
// would have to guess; to done if src has not all of those blocks to
// load or dst room for them. R13, AX and R14 are used up.
#define COPY_LINE(soff, doff, done, more, copied) \
	LEAQ  31(BX), R13; \
	ANDQ  $-32, R13; \
	MOVQ  $96, AX; \
	CMPQ  R13, AX; \
	CMOVQLT AX, R13; \
	LEAQ  soff(R10)(R13*1), AX; \
	CMPQ  AX, CX; \
	JHI   done; \
	LEAQ  doff(R11)(R13*1), AX; \
	CMPQ  AX, DX; \
	JHI   done; \
	LEAQ  soff(SI)(R10*1), AX; \
	LEAQ  doff(DI)(R11*1), R14; \
	VMOVDQU (AX), Y1; \
	VMOVDQU 32(AX), Y2; \
	VMOVDQU 64(AX), Y3; \
	VMOVDQU Y1, (R14); \
	VMOVDQU Y2, 32(R14); \
	VMOVDQU Y3, 64(R14); \
	SUBQ $96, R13; \
	JZ   copied; \
	ADDQ $96, AX; \
	ADDQ $96, R14; \
more: \
	VMOVDQU (AX), Y1; \
	VMOVDQU Y1, (R14); \
	ADDQ $32, AX; \
	ADDQ $32, R14; \
	SUBQ $32, R13; \
	JNZ  more; \
copied:

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
// Decodes the ":" lines at the start of src into dst. It stops before a
// line that does not start with ":", that is longer than MaxLine
// (65,536 octets, tag and LF included), or that it cannot finish with
// 64 octets still to load from src around the line's LF, and whole
// blocks of 32 (96 octets at least) to load and store its payload.
// src[:ns] is then the whole lines decoded, dst[:nd] their payloads with
// their LFs, and lines their number; dst beyond nd may have been
// written.
//
// The LFs are found 64 octets at a time, at places that do not depend
// on where the lines start, into a mask whose lowest bit is the next
// line's end. So finding a line's end never waits on the line before,
// and the processor can copy one line while it finds the next. Each line
// is copied from just past its ":"; the next line's copy writes over
// what went past.
TEXT ·decodeAVX2(SB), NOSPLIT, $0-72
	LINES_START(done)
	CMPB (SI), $0x3a
	JNE  done
	JMP  mask
	// BX: the payload's length, LF included (the line's, tag included,
	// less one), less than MaxLine.
	NEXT_LINE(next, mask, line, done, 65536)
	COPY_LINE(1, 0, done, more, copied)
	ADDQ BX, R11
	LEAQ 1(R10)(BX*1), R10  // past the LF
	INCQ R12
	CMPQ R10, CX
	JGE  done
	CMPB (SI)(R10*1), $0x3a
	JEQ  line

done:
	LINES_END

// func encodeAVX2(dst, src []byte) (nd, ns, lines int)
//
// Encodes the whole lines at the start of src into dst, each behind a
// ":" tag: the inverse of decodeAVX2, found and copied the same way. It
// stops before a line of more than MaxPiece (65,534) octets before its
// LF, or that it cannot finish with the 64 octets around its LF in src,
// and its octets, rounded up to 32 and 96 at least, there to load and
// with room in dst after the tag. src[:ns] is then the lines encoded,
// dst[:nd] those lines with their tags (nd = ns + lines), and lines
// their number; dst beyond nd may have been written.
TEXT ·encodeAVX2(SB), NOSPLIT, $0-72
	LINES_START(done)
	JMP  mask
	// BX: the line's octets before its LF, MaxPiece at most.
	NEXT_LINE(next, mask, line, done, 65535)
	INCQ BX                 // and the LF
	COPY_LINE(0, 1, done, more, copied)
	MOVB $0x3a, (DI)(R11*1)
	LEAQ 1(R11)(BX*1), R11
	ADDQ BX, R10            // past the LF
	INCQ R12
	CMPQ R10, CX
	JLT  line

done:
	LINES_END
