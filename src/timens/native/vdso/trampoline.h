/*
 * trampoline.h - move the first instructions of a function elsewhere, so
 * that a `jmp rel32` can take their place and the function still runs.
 */
#ifndef TIMENS_TRAMPOLINE_H
#define TIMENS_TRAMPOLINE_H

#include <stdint.h>

#define TIMENS_JMP_LEN 5

/*
 * Build in OUT (at most SIZE bytes) a trampoline to run at address AT: the
 * whole instructions of CODE (the function at address FROM) that cover its
 * first TIMENS_JMP_LEN bytes, RIP-relative operands fixed up, then a jump
 * back to the rest. Returns its length, with *covered set to how many bytes
 * of the function it replaces; 0 for an instruction it does not know (only
 * what function prologues hold is decoded: push/pop, mov, lea, ALU and
 * compare forms, endbr64) or a target out of reach.
 */
int timens_trampoline(const unsigned char *code, uint64_t from, uint64_t at, unsigned char *out, int size,
		      int *covered);

/* A `jmp rel32` at FROM to TO in OUT; 0 if TO is out of reach. */
int timens_jmp(uint64_t from, uint64_t to, unsigned char out[TIMENS_JMP_LEN]);

#endif /* TIMENS_TRAMPOLINE_H */
