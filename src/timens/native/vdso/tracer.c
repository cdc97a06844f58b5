/*
 * timens-tracer: REALTIME for programs that never load libtimens.so
 * (static, Go, musl), through their vDSO. The Python package runs it;
 * users never call it directly.
 *
 *   timens-tracer run PAGE [-e ERR_FD] [-x PROGRAM] -- ARG0 ARG...
 *       Run PROGRAM (default ARG0) with ARG0 ARG... as its argv, following
 *       it and everything it starts (fork, vfork, clone), and patch the
 *       vDSO of every program image right after each execve (patch.c).
 *       ERR_FD is timens-helper's: a failed exec writes its errno there
 *       instead of a message. Exits as the command does (its status, or
 *       its signal).
 *       Signals sent to the tracer with kill() are passed on to PROG;
 *       those of the terminal reach PROG directly. Once PROG has ended the
 *       tracer ends too, and what PROG left running is let go (its later
 *       execs are no longer patched).
 *
 *   timens-tracer inject PAGE PID
 *       Patch a running process once (every thread stopped meanwhile),
 *       then let it go: no tracer stays attached.
 *
 * A traced tree cannot be traced by anyone else meanwhile (gdb, strace,
 * CRIU): the kernel allows one tracer per process.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "patch.h"

#define EXIT_OWN_ERROR 125
#define MAX_WAITING 4096

static pid_t command_pid;

/* Pids between their exec event and the execve's return, where we patch. */
static pid_t waiting[MAX_WAITING];

static pid_t *find_waiting(pid_t pid)
{
	for (int i = 0; i < MAX_WAITING; i++)
		if (waiting[i] == pid)
			return &waiting[i];
	return NULL;
}

static int take_waiting(pid_t pid)
{
	pid_t *slot = find_waiting(pid);

	if (slot)
		*slot = 0;
	return slot != NULL;
}

static void add_waiting(pid_t pid)
{
	for (int i = 0; i < MAX_WAITING; i++)
		if (waiting[i] == 0 || waiting[i] == pid) {
			waiting[i] = pid;
			return;
		}
}

/* Only signals sent by a process: the terminal's reach the command itself. */
static void pass_on(int sig, siginfo_t *info, void *context)
{
	(void)context;
	if (command_pid > 0 && info->si_code <= 0)
		kill(command_pid, sig);
}

static void pass_signals_on(void)
{
	static const int signals[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH, SIGCONT };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = pass_on;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		sigaction(signals[i], &sa, NULL);
	/* As a shell does: a tracer stopped by ^Z could not let the command's own
	 * stop and the SIGCONT that ends it pass in order. */
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
}

/* End as the command ended: its exit status, or its signal. */
static int end_as(int status)
{
	sigset_t all;

	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	prctl(PR_SET_DUMPABLE, 0);  /* the command dumped core already, if it was to */
	signal(WTERMSIG(status), SIG_DFL);
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	kill(getpid(), WTERMSIG(status));
	return 128 + WTERMSIG(status);
}

static void warn(pid_t pid, const char *why)
{
	/* Once per tracer: a tree may exec thousands of times. */
	static int warned;

	if (!warned++)
		fprintf(stderr, "timens: cannot give process %d the namespace's REALTIME (%s); it reads host REALTIME\n",
			(int)pid, why);
}

/* One stop of a tracee: what it is, and how to let it go on. */
static void on_stop(pid_t pid, int status, const char *page)
{
	int sig = WSTOPSIG(status), event = status >> 16, pending = 0;
	const char *why;

	switch (event) {
	case PTRACE_EVENT_EXEC:
		/* Registers set now are lost to execve's return: patch at its syscall exit. */
		add_waiting(pid);
		ptrace(PTRACE_SYSCALL, pid, 0, 0);
		return;
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
	case PTRACE_EVENT_CLONE:
		ptrace(PTRACE_CONT, pid, 0, 0);
		return;
	case PTRACE_EVENT_STOP:
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
			ptrace(PTRACE_LISTEN, pid, 0, 0);  /* a group-stop: stay stopped for job control */
		else
			ptrace(PTRACE_CONT, pid, 0, 0);  /* a new child's first stop */
		return;
	}
	if (sig == (SIGTRAP | 0x80)) {
		if (take_waiting(pid) && patch_at_exec(pid, page, &why, &pending) != 0)
			warn(pid, why);
		ptrace(PTRACE_CONT, pid, 0, pending);
		return;
	}
	/* A signal on its way to the tracee; while waiting for exec's end, keep watching syscalls. */
	ptrace(find_waiting(pid) ? PTRACE_SYSCALL : PTRACE_CONT, pid, 0, sig);
}

/* The command, once traced: as timens-helper's enter would exec it. */
static void exec_command(const char *program, char **argv, int err_fd)
{
	int err;

	if (err_fd >= 0)
		fcntl(err_fd, F_SETFD, FD_CLOEXEC);
	execvp(program, argv);
	err = errno;
	if (err_fd < 0 || write(err_fd, &err, sizeof(err)) != (ssize_t)sizeof(err))
		fprintf(stderr, "timens: %s: %s\n", program, strerror(err));
	_exit(err == ENOENT ? 127 : 126);
}

static int run(const char *page, const char *program, char **argv, int err_fd)
{
	int go[2], status;
	char byte = 0;
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) != 0) {
		perror("timens: pipe");
		return EXIT_OWN_ERROR;
	}
	command_pid = fork();
	if (command_pid < 0) {
		perror("timens: fork");
		return EXIT_OWN_ERROR;
	}
	if (command_pid == 0) {
		/* Wait until traced, so that the first exec is patched too. */
		close(go[1]);
		if (read(go[0], &byte, 1) != 1)
			_exit(EXIT_OWN_ERROR);
		exec_command(program ? program : argv[0], argv, err_fd);
	}
	close(go[0]);
	if (err_fd >= 0)
		close(err_fd);  /* the command's exec alone may keep it open */
	pass_signals_on();
	if (ptrace(PTRACE_SEIZE, command_pid, 0,
		   PTRACE_O_TRACEEXEC | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
			   PTRACE_O_TRACESYSGOOD) != 0) {
		fprintf(stderr, "timens: cannot trace the command (%s); static and Go programs read host REALTIME "
				"(TIMENS_VDSO_PATCH=0 turns this off)\n",
			strerror(errno));
	}
	if (write(go[1], "g", 1) != 1)
		return EXIT_OWN_ERROR;
	close(go[1]);
	for (;;) {
		pid = waitpid(-1, &status, __WALL);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			return EXIT_OWN_ERROR;  /* no child left: cannot happen before the command ends */
		}
		if (WIFSTOPPED(status))
			on_stop(pid, status, page);
		else if (pid == command_pid)
			return end_as(status);
		else
			take_waiting(pid);
	}
}

static int run_options(int argc, char **argv)
{
	const char *page = argv[0], *program = NULL;
	int err_fd = -1, opt;

	optind = 1;
	while ((opt = getopt(argc, argv, "+e:x:")) != -1) {
		switch (opt) {
		case 'e': err_fd = atoi(optarg); break;
		case 'x': program = optarg; break;
		default: return EXIT_OWN_ERROR;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "timens-tracer: run: no command\n");
		return EXIT_OWN_ERROR;
	}
	return run(page, program, argv + optind, err_fd);
}

/* --- inject: patch a running process once ----------------------------------- */

#define MAX_THREADS 4096

struct thread {
	pid_t tid;
	int signal;  /* a signal it was stopped on the way to: delivered at detach */
};

static struct thread threads[MAX_THREADS];
static int nthreads;

static int refuse(pid_t pid, const char *why)
{
	fprintf(stderr, "timens: cannot inject into process %d: %s\n", (int)pid, why);
	return EXIT_OWN_ERROR;
}

static void detach_all(void)
{
	while (nthreads > 0) {
		nthreads--;
		ptrace(PTRACE_DETACH, threads[nthreads].tid, 0, threads[nthreads].signal);
	}
}

/* A field of /proc/PID/status as a number, -1 if absent. */
static long status_field(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t len = strlen(field);
	long value = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, len) == 0 && line[len] == ':')
			value = strtol(line + len + 1, NULL, 10);
	fclose(f);
	return value;
}

/* Why the program cannot take the patch, judged from its executable; NULL if it can. */
static const char *foreign_program(pid_t pid)
{
	unsigned char ident[20];
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == EACCES || errno == EPERM ? "permission denied (inject needs root or the same user)" : NULL;
	if (read(fd, ident, sizeof(ident)) != (ssize_t)sizeof(ident)) {
		close(fd);
		return NULL;  /* not ours to judge: the vDSO check decides */
	}
	close(fd);
	if (ident[4] == 1)
		return "it is a 32-bit program (only 64-bit x86-64 programs can be injected)";
	if (ident[18] != 62 || ident[19] != 0)  /* e_machine EM_X86_64, little endian */
		return "it is a program for another architecture (only x86-64 programs can be injected)";
	return NULL;
}

/* Stop one thread (seized already); 0 once it is in a ptrace stop. */
static int wait_stopped(struct thread *t)
{
	int status, tries;
	pid_t got;

	for (tries = 0; tries < 2000; tries++) {  /* about 2 s */
		got = waitpid(t->tid, &status, __WALL | WNOHANG);
		if (got == t->tid) {
			if (!WIFSTOPPED(status))
				return -1;  /* it ended meanwhile */
			if ((status >> 16) == 0 && WSTOPSIG(status) != SIGTRAP)
				t->signal = WSTOPSIG(status);
			return 0;
		}
		if (got < 0 && errno != EINTR)
			return -1;
		usleep(1000);
	}
	return -1;
}

/* Seize and stop every thread of PID, including threads started meanwhile. */
static const char *stop_all(pid_t pid, long options)
{
	char path[64];
	int found_new = 1;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	while (found_new) {
		DIR *dir = opendir(path);
		struct dirent *d;

		if (dir == NULL)
			return "it is gone";
		found_new = 0;
		while ((d = readdir(dir)) != NULL) {
			pid_t tid = (pid_t)strtol(d->d_name, NULL, 10);
			int known = 0;

			for (int i = 0; i < nthreads; i++)
				known |= threads[i].tid == tid;
			if (tid <= 0 || known)
				continue;
			if (nthreads == MAX_THREADS) {
				closedir(dir);
				return "it has too many threads";
			}
			if (ptrace(PTRACE_SEIZE, tid, 0, options) != 0) {
				if (errno == ESRCH)
					continue;  /* the thread ended */
				closedir(dir);
				return errno == EPERM ? "not permitted (it is traced already, or inject lacks the privilege)"
						      : strerror(errno);
			}
			threads[nthreads].tid = tid;
			threads[nthreads].signal = 0;
			ptrace(PTRACE_INTERRUPT, tid, 0, 0);
			if (wait_stopped(&threads[nthreads]) != 0) {
				ptrace(PTRACE_DETACH, tid, 0, 0);
				continue;  /* ended, or will not stop (uninterruptible): it cannot run the code meanwhile anyway */
			}
			nthreads++;
			found_new = 1;
		}
		closedir(dir);
	}
	return nthreads > 0 ? NULL : "it has no thread that could be stopped";
}

static int inject(const char *page, pid_t pid)
{
	uint64_t rips[MAX_THREADS];
	struct user_regs_struct regs;
	const char *why;
	long seccomp;
	int ret = 1;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return refuse(pid, "no such process");
	if (status_field(pid, "TracerPid") > 0)
		return refuse(pid, "it is traced already (a debugger, strace, or timens's own tracer)");
	if ((why = foreign_program(pid)) != NULL)
		return refuse(pid, why);
	/* A seccomp filter could forbid, or kill on, the calls inject makes it
	 * run; the kernel suspends filters for a tracer with CAP_SYS_ADMIN. */
	seccomp = status_field(pid, "Seccomp");
	for (int attempt = 0; ret == 1 && attempt < 100; attempt++) {
		if (attempt)
			usleep(2000);
		if ((why = stop_all(pid, seccomp > 0 ? PTRACE_O_SUSPEND_SECCOMP : 0)) != NULL) {
			detach_all();
			if (seccomp > 0 && strncmp(why, "not permitted", 13) == 0)
				why = "it runs under seccomp, which only a tracer with CAP_SYS_ADMIN may suspend";
			return refuse(pid, why);
		}
		for (int i = 0; i < nthreads; i++)
			rips[i] = ptrace(PTRACE_GETREGS, threads[i].tid, 0, &regs) == 0 ? regs.rip : 0;
		ret = patch_running(threads[0].tid, rips, nthreads, page, &why, &threads[0].signal);
		detach_all();
	}
	if (ret == 1)
		return refuse(pid, "a thread stays inside the code to patch");
	return ret == 0 ? 0 : refuse(pid, why);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "run") == 0)
		return run_options(argc - 2, argv + 2);
	if (argc == 4 && strcmp(argv[1], "inject") == 0)
		return inject(argv[2], (pid_t)strtol(argv[3], NULL, 10));
	fprintf(stderr, "timens-tracer: internal program of timens; see 'timens --help'\n");
	return EXIT_OWN_ERROR;
}
