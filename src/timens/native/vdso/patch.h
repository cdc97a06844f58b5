/*
 * patch.h - put the blob (blob.c) into a stopped tracee and point its vDSO
 * time functions at it: through the symbol table at exec, before anything
 * looked them up; with a jump over each function's first instructions in a
 * running process, whose lookups are already done.
 */
#ifndef TIMENS_PATCH_H
#define TIMENS_PATCH_H

#include <sys/types.h>

/* Each returns 0, or -1 with *why set to one line for the user; on failure
 * the tracee is left as it was (registers, memory and mappings). */
int patch_at_exec(pid_t pid, const char *page_path, const char **why);
int patch_running(pid_t pid, const pid_t *threads, int nthreads, const char *page_path, const char **why);

#endif /* TIMENS_PATCH_H */
