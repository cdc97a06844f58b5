/*
 * trampoline.c - relocate a function's first instructions (x86-64).
 *
 * The decoder knows the instruction forms that open the vDSO's functions
 * and nothing else: an unknown one makes the caller refuse, it is never
 * guessed at. RIP-relative operands (the vDSO reaches its vvar pages that
 * way) get their displacement recomputed for the new address, which the
 * caller keeps within +-2 GB.
 */
#include <string.h>

#include "trampoline.h"

static int fits_rel32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* Length of the instruction at C, and where its RIP-relative disp32 is
 * (-1 if none); 0 if it is not a form this decoder knows. */
static int insn_length(const unsigned char *c, int *disp_at)
{
	int i = 0, imm, mod, rm;
	unsigned char op;

	*disp_at = -1;
	if (c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa)
		return 4;  /* endbr64 */
	if ((c[i] & 0xf0) == 0x40)
		i++;  /* REX */
	op = c[i++];
	if ((op >= 0x50 && op <= 0x5f) || op == 0x90)
		return i;  /* push, pop, nop */
	switch (op) {
	case 0x01: case 0x03: case 0x09: case 0x0b: case 0x21: case 0x23: case 0x29: case 0x2b:
	case 0x31: case 0x33: case 0x39: case 0x3b: case 0x85: case 0x89: case 0x8b: case 0x8d:
		imm = 0;  /* ALU r/m,r and r,r/m; test; mov; lea */
		break;
	case 0x80: case 0x83: case 0xc6:
		imm = 1;
		break;
	case 0x81: case 0xc7:
		imm = 4;
		break;
	default:
		return 0;  /* branches, calls and anything else: refuse */
	}
	mod = c[i] >> 6;
	rm = c[i] & 7;
	i++;
	if (mod == 0 && rm == 5) {
		*disp_at = i;
		i += 4;
	} else if (mod != 3 && rm == 4) {
		return 0;  /* SIB forms: not in any prologue seen */
	} else if (mod == 1) {
		i += 1;
	} else if (mod == 2) {
		i += 4;
	}
	return i + imm;
}

int timens_jmp(uint64_t from, uint64_t to, unsigned char out[TIMENS_JMP_LEN])
{
	int64_t rel = (int64_t)(to - (from + TIMENS_JMP_LEN));
	int32_t rel32 = (int32_t)rel;

	if (!fits_rel32(rel))
		return 0;
	out[0] = 0xe9;
	memcpy(out + 1, &rel32, sizeof(rel32));
	return TIMENS_JMP_LEN;
}

int timens_trampoline(const unsigned char *code, uint64_t from, uint64_t at, unsigned char *out, int size,
		      int *covered)
{
	int n = 0, len, disp_at;

	while (n < TIMENS_JMP_LEN) {
		len = insn_length(code + n, &disp_at);
		if (len == 0 || n + len + TIMENS_JMP_LEN > size)
			return 0;
		memcpy(out + n, code + n, (size_t)len);
		if (disp_at >= 0) {
			int32_t disp;
			int64_t target, moved;

			memcpy(&disp, code + n + disp_at, sizeof(disp));
			target = (int64_t)(from + n + len) + disp;
			moved = target - (int64_t)(at + n + len);
			if (!fits_rel32(moved))
				return 0;
			disp = (int32_t)moved;
			memcpy(out + n + disp_at, &disp, sizeof(disp));
		}
		n += len;
	}
	*covered = n;
	if (!timens_jmp(at + n, from + n, out + n))
		return 0;
	return n + TIMENS_JMP_LEN;
}
