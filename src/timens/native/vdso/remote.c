/*
 * remote.c - make a stopped tracee run system calls for us.
 *
 * The registers are set for the call with rip on a `syscall` instruction
 * inside the tracee's own vDSO text, and the tracee is single-stepped over
 * it. orig_rax is set to -1 so that the kernel's syscall-restart logic
 * leaves the setup alone; remote_restore puts every register back, so an
 * interrupted call (nanosleep, futex, epoll_wait) resumes or restarts as
 * it would have without us.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "remote.h"

int remote_open(struct remote *r, pid_t pid)
{
	char path[64];

	r->pid = pid;
	r->pending_signal = 0;
	r->syscall_insn = 0;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	r->mem = open(path, O_RDWR | O_CLOEXEC);
	return r->mem < 0 ? -1 : 0;
}

void remote_close(struct remote *r)
{
	if (r->mem >= 0)
		close(r->mem);
	r->mem = -1;
}

int remote_read(struct remote *r, uint64_t addr, void *buf, size_t len)
{
	return pread(r->mem, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
}

/* /proc/PID/mem writes even read-only private mappings (a copy-on-write page). */
int remote_write(struct remote *r, uint64_t addr, const void *buf, size_t len)
{
	return pwrite(r->mem, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
}

int remote_save(struct remote *r)
{
	return ptrace(PTRACE_GETREGS, r->pid, 0, &r->saved) == 0 ? 0 : -1;
}

int remote_restore(struct remote *r)
{
	return ptrace(PTRACE_SETREGS, r->pid, 0, &r->saved) == 0 ? 0 : -1;
}

/* The saved registers, set up to make system call NR at the `syscall` found. */
static struct user_regs_struct call_regs(const struct remote *r, long nr, const uint64_t a[6])
{
	struct user_regs_struct regs = r->saved;

	regs.rax = (uint64_t)nr;
	regs.orig_rax = (uint64_t)-1;
	regs.rdi = a[0];
	regs.rsi = a[1];
	regs.rdx = a[2];
	regs.r10 = a[3];
	regs.r8 = a[4];
	regs.r9 = a[5];
	regs.rip = r->syscall_insn;
	return regs;
}

long remote_syscall(struct remote *r, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		    uint64_t a5, uint64_t a6)
{
	const uint64_t args[6] = { a1, a2, a3, a4, a5, a6 };
	struct user_regs_struct regs;
	int status, tries;

	/* A signal may stop the step before the call ran: keep it, step again. */
	for (tries = 0; tries < 16; tries++) {
		regs = call_regs(r, nr, args);
		if (ptrace(PTRACE_SETREGS, r->pid, 0, &regs) != 0 || ptrace(PTRACE_SINGLESTEP, r->pid, 0, 0) != 0)
			return -ESRCH;
		while (waitpid(r->pid, &status, __WALL) < 0)
			if (errno != EINTR)
				return -ESRCH;
		if (!WIFSTOPPED(status) || ptrace(PTRACE_GETREGS, r->pid, 0, &regs) != 0)
			return -ESRCH;  /* killed meanwhile */
		if (regs.rip == r->syscall_insn + 2)
			return (long)regs.rax;
		if (WSTOPSIG(status) != SIGTRAP && (status >> 16) == 0)
			r->pending_signal = WSTOPSIG(status);  /* delivered once we are done */
	}
	return -EIO;
}
