/*
 * setwatch: N processes polling CLOCK_REALTIME, for bench_live_set.py to
 * time how long a live change takes to reach all of them.
 *
 *   setwatch N PERIOD_US
 *
 * Forks N readers. Each reads clock_gettime(CLOCK_REALTIME) every PERIOD_US
 * microseconds, as a program that looks at the clock now and then does;
 * when REALTIME has jumped forward by more than 12 hours since its last
 * read, it reports the CLOCK_MONOTONIC instant it saw the jump (a raw
 * syscall: no preload library changes it). setwatch prints "ready" once
 * every reader has read the clock once, then, for every jump all N have
 * seen, one line "seen MEDIAN P99 MAX" (CLOCK_MONOTONIC ns). Readers die
 * with setwatch, and setwatch ends them all at EOF on stdin.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define JUMP_NS (12LL * 3600 * 1000000000)

static int64_t ns_of(const struct timespec *ts)
{
	return ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static int64_t monotonic_ns(void)
{
	struct timespec ts;

	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return ns_of(&ts);
}

static int reader(long period_us, int ready_fd, int seen_fd)
{
	struct timespec ts, nap = {period_us / 1000000, period_us % 1000000 * 1000};
	int64_t last, now, when;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		return 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	last = ns_of(&ts);
	if (write(ready_fd, "x", 1) != 1)
		return 1;
	close(ready_fd);
	for (;;) {
		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_REALTIME, &ts);
		now = ns_of(&ts);
		if (now - last > JUMP_NS) {
			when = monotonic_ns();
			if (write(seen_fd, &when, sizeof(when)) != sizeof(when))
				return 1;
		}
		last = now;
	}
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	long period_us = argc > 2 ? atol(argv[2]) : 10000;
	int ready[2], seen[2], status = 0;
	int64_t *when = calloc(n > 0 ? n : 1, sizeof(*when));
	pid_t *pids = calloc(n > 0 ? n : 1, sizeof(*pids));
	long got = 0;
	char c;

	if (n < 1 || period_us < 1 || !when || !pids || pipe(ready) || pipe(seen))
		return 2;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (long i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(ready[0]);
			close(seen[0]);
			_exit(reader(period_us, ready[1], seen[1]));
		}
		if (pids[i] < 0) {
			n = i;
			status = 1;
			break;
		}
	}
	close(ready[1]);
	close(seen[1]);
	for (long i = 0; i < n && !status; i++)
		if (read(ready[0], &c, 1) != 1)
			status = 1;
	if (!status) {
		printf("ready\n");
		fflush(stdout);
	}
	while (!status) {
		struct pollfd fds[2] = {{0, POLLIN, 0}, {seen[0], POLLIN, 0}};

		if (poll(fds, 2, -1) < 0)
			continue;
		if (fds[0].revents && read(0, &c, 1) <= 0)
			break;  /* EOF: done */
		if (!fds[1].revents)
			continue;
		if (read(seen[0], &when[got], sizeof(*when)) != sizeof(*when)) {
			status = 1;
			break;
		}
		if (++got == n) {
			qsort(when, n, sizeof(*when), cmp);
			printf("seen %lld %lld %lld\n", (long long)when[n / 2],
			       (long long)when[n * 99 / 100], (long long)when[n - 1]);
			fflush(stdout);
			got = 0;
		}
	}
	for (long i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	return status;
}
