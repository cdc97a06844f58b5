/*
 * timens-tracer: REALTIME for programs that never load libtimens.so
 * (static, Go, musl), through their vDSO. The Python package runs it;
 * users never call it directly.
 *
 *   timens-tracer run PAGE -- PROG ARG...
 *       Run PROG, following it and everything it starts (fork, vfork,
 *       clone), and patch the vDSO of every program image right after each
 *       execve (patch.c). Exits as PROG does (its status, or its signal).
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
#include <sys/wait.h>
#include <unistd.h>

#include "patch.h"

#define EXIT_OWN_ERROR 125
#define MAX_WAITING 4096

static pid_t command_pid;

/* Pids between their exec event and the execve's return, where we patch. */
static pid_t waiting[MAX_WAITING];

static int take_waiting(pid_t pid)
{
	for (int i = 0; i < MAX_WAITING; i++)
		if (waiting[i] == pid) {
			waiting[i] = 0;
			return 1;
		}
	return 0;
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
	int sig = WSTOPSIG(status), event = status >> 16;
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
		if (take_waiting(pid) && patch_at_exec(pid, page, &why) != 0)
			warn(pid, why);
		ptrace(PTRACE_CONT, pid, 0, 0);
		return;
	}
	/* A signal on its way to the tracee; while waiting for exec's end, keep watching syscalls. */
	for (int i = 0; i < MAX_WAITING; i++)
		if (waiting[i] == pid) {
			ptrace(PTRACE_SYSCALL, pid, 0, sig);
			return;
		}
	ptrace(PTRACE_CONT, pid, 0, sig);
}

static int run(const char *page, char **argv)
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
		execvp(argv[0], argv);
		fprintf(stderr, "timens: %s: %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(go[0]);
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

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "run") == 0 && strcmp(argv[3], "--") == 0)
		return run(argv[2], argv + 4);
	fprintf(stderr, "timens-tracer: internal program of timens; see 'timens --help'\n");
	return EXIT_OWN_ERROR;
}
