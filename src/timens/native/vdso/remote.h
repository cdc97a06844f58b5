/*
 * remote.h - act inside a stopped tracee: read and write its memory, make
 * it run one system call (x86-64).
 */
#ifndef TIMENS_REMOTE_H
#define TIMENS_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct remote {
	pid_t pid;
	int mem;                            /* /proc/PID/mem, read-write */
	uint64_t syscall_insn;              /* address of a `syscall` in the vDSO text */
	struct user_regs_struct saved;      /* registers to put back when done */
	int pending_signal;                 /* a signal that arrived while stepping */
};

int remote_open(struct remote *r, pid_t pid);
void remote_close(struct remote *r);
int remote_read(struct remote *r, uint64_t addr, void *buf, size_t len);
int remote_write(struct remote *r, uint64_t addr, const void *buf, size_t len);

/* Run one system call in the tracee (its registers saved before, restored
 * by remote_restore): returns what the call returned, -errno on failure,
 * or -ESRCH/-EIO if the tracee could not be made to run it. */
long remote_syscall(struct remote *r, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		    uint64_t a5, uint64_t a6);
int remote_save(struct remote *r);
int remote_restore(struct remote *r);

#endif /* TIMENS_REMOTE_H */
