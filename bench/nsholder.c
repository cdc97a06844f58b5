/*
 * nsholder: keep N time namespaces alive, one sleeping process in each,
 * for the benchmarks that need many namespaces on the system.
 *
 *   nsholder N [MONOTONIC_SEC]
 *
 * Each child unshares a time namespace, gives it a MONOTONIC offset (so a
 * lister has something to report), enters it with setns as nsenter does
 * and sleeps. nsholder prints "ready" once all are in place and waits for
 * EOF on stdin, then kills them. The children also die with nsholder
 * (PR_SET_PDEATHSIG), and nsholder is killed with its parent, so no
 * namespace outlives a benchmark stopped by Ctrl-C or killed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int hold(long mono_sec, int ready_fd)
{
	char offsets[64];
	int fd, len;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || unshare(CLONE_NEWTIME) != 0)
		return 1;
	len = snprintf(offsets, sizeof(offsets), "monotonic %ld 0", mono_sec);
	fd = open("/proc/self/timens_offsets", O_WRONLY);
	if (fd < 0 || write(fd, offsets, len) != len)
		return 1;
	close(fd);
	fd = open("/proc/self/ns/time_for_children", O_RDONLY);
	if (fd < 0 || setns(fd, CLONE_NEWTIME) != 0)
		return 1;
	close(fd);
	if (write(ready_fd, "x", 1) != 1)
		return 1;
	close(ready_fd);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10;
	long mono_sec = argc > 2 ? atol(argv[2]) : 12345;
	pid_t *pids = calloc(n > 0 ? n : 1, sizeof(*pids));
	int ready[2], failed = 0;
	char c;

	if (pids == NULL || pipe(ready) != 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		return 2;
	for (long i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(ready[0]);
			_exit(hold(mono_sec, ready[1]));
		}
		if (pids[i] < 0) {
			n = i;
			failed = 1;
			break;
		}
	}
	close(ready[1]);
	for (long i = 0; i < n && !failed; i++)
		if (read(ready[0], &c, 1) != 1)
			failed = 1;  /* a child exited before it was ready */
	if (failed) {
		fprintf(stderr, "nsholder: could not make %ld namespaces\n", n);
	} else {
		printf("ready\n");
		fflush(stdout);
		while (read(0, &c, 1) > 0)
			;
	}
	for (long i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	return failed;
}
