/*
 * clockloop: cost of one REALTIME read in this process, for
 * bench_realtime.py to compare native, libtimens and libfaketime.
 *
 *   clockloop clock_gettime|gettimeofday|time|syscall [CALLS [REPS]]
 *
 * (syscall: clock_gettime(CLOCK_REALTIME) as a raw system call on every
 * read, which is what Chaos Mesh's injected code does.)
 *
 * Times REPS batches of CALLS reads each with raw MONOTONIC_RAW syscalls
 * (which no preload library sees) and prints the median batch as
 * "ns_per_call X.XXX".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double now_ns(void)
{
	struct timespec ts;

	syscall(SYS_clock_gettime, CLOCK_MONOTONIC_RAW, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile long long sink;

static void batch(int which, long calls)
{
	struct timespec ts;
	struct timeval tv;
	long long acc = 0;

	for (long i = 0; i < calls; i++) {
		switch (which) {
		case 0:
			clock_gettime(CLOCK_REALTIME, &ts);
			acc += ts.tv_nsec;
			break;
		case 1:
			gettimeofday(&tv, NULL);
			acc += tv.tv_usec;
			break;
		case 2:
			acc += time(NULL);
			break;
		default:
			syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
			acc += ts.tv_nsec;
		}
	}
	sink = acc;
}

int main(int argc, char **argv)
{
	const char *fn = argc > 1 ? argv[1] : "clock_gettime";
	long calls = argc > 2 ? atol(argv[2]) : 1000000;
	int reps = argc > 3 ? atoi(argv[3]) : 11;
	int which = !strcmp(fn, "clock_gettime") ? 0 : !strcmp(fn, "gettimeofday") ? 1 : !strcmp(fn, "time") ? 2 : 3;
	double *per = calloc(reps, sizeof(*per));

	if (per == NULL || reps < 1 || calls < 1)
		return 2;
	batch(which, calls);  /* warm up: binding, caches */
	for (int r = 0; r < reps; r++) {
		double start = now_ns();

		batch(which, calls);
		per[r] = (now_ns() - start) / calls;
	}
	qsort(per, reps, sizeof(*per), cmp);
	printf("ns_per_call %.3f\n", per[reps / 2]);
	return 0;
}
