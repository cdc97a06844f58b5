/*
 * patch.h - put the blob (blob.c) into a stopped tracee and point its vDSO
 * time functions at it: through the symbol table at exec, before anything
 * looked them up; with a jump over each function's first instructions in a
 * running process, whose lookups are already done.
 */
#ifndef TIMENS_PATCH_H
#define TIMENS_PATCH_H

#include <stdint.h>
#include <sys/types.h>

/* Each returns 0, or -1 with *why set to one line for the user; on failure
 * the tracee is left as it was (registers, memory and mappings). A signal
 * that reached the tracee meanwhile is left in *pending (if not 0 already),
 * for the caller to deliver as it lets the tracee go. */
int patch_at_exec(pid_t pid, const char *page_path, const char **why, int *pending);
/* In a running process (every thread stopped; RIPS: where each one is):
 * 1 if a thread is inside an instruction the jump would replace (nothing
 * was changed: stop again later). */
int patch_running(pid_t pid, const uint64_t *rips, int nrips, const char *page_path, const char **why,
		  int *pending);

#endif /* TIMENS_PATCH_H */
