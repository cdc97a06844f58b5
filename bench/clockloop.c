/*
 * clockloop: cost of one clock read in this process, for bench_reads.py
 * to compare native, timens (kernel namespace, libtimens) and libfaketime.
 *
 *   clockloop clock_gettime|gettimeofday|time|monotonic|syscall [CALLS [REPS]]
 *
 * clock_gettime reads CLOCK_REALTIME; monotonic is clock_gettime of
 * CLOCK_MONOTONIC; syscall is clock_gettime(CLOCK_REALTIME) as a raw system
 * call on every read (what Chaos Mesh's injected code does). Times REPS batches of CALLS reads each in CPU time of
 * this thread (raw syscalls, which no preload library or vDSO patch sees;
 * CPU time, so that time spent descheduled on a busy machine does not
 * count) and prints the median batch as "ns_per_call X.XXX", and the
 * seconds the clock read first as "first_sec N", so the caller can check
 * the offset applied.
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

static double cpu_ns(void)
{
	struct timespec ts;

	syscall(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile long long sink;

static const char *const names[] = {"clock_gettime", "gettimeofday", "time", "monotonic", "syscall"};

static long long batch(int which, long calls)
{
	struct timespec ts;
	struct timeval tv;
	long long acc = 0, first = 0;

	for (long i = 0; i < calls; i++) {
		switch (which) {
		case 0:
			clock_gettime(CLOCK_REALTIME, &ts);
			acc += ts.tv_nsec;
			first = first ? first : ts.tv_sec;
			break;
		case 1:
			gettimeofday(&tv, NULL);
			acc += tv.tv_usec;
			first = first ? first : tv.tv_sec;
			break;
		case 2:
			acc += time(NULL);
			first = first ? first : acc;
			break;
		case 3:
			clock_gettime(CLOCK_MONOTONIC, &ts);
			acc += ts.tv_nsec;
			first = first ? first : ts.tv_sec;
			break;
		default:
			syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
			acc += ts.tv_nsec;
			first = first ? first : ts.tv_sec;
		}
	}
	sink = acc;
	return first;
}

int main(int argc, char **argv)
{
	const char *fn = argc > 1 ? argv[1] : "clock_gettime";
	long calls = argc > 2 ? atol(argv[2]) : 1000000;
	int reps = argc > 3 ? atoi(argv[3]) : 11;
	int which = 0;
	double *per = calloc(reps, sizeof(*per));
	long long first;

	while (which < 5 && strcmp(fn, names[which]))
		which++;
	if (which == 5 || per == NULL || reps < 1 || calls < 1)
		return 2;
	first = batch(which, calls);  /* also warms up: binding, caches */
	for (int r = 0; r < reps; r++) {
		double start = cpu_ns();

		batch(which, calls);
		per[r] = (cpu_ns() - start) / calls;
	}
	qsort(per, reps, sizeof(*per), cmp);
	printf("ns_per_call %.3f\nfirst_sec %lld\n", per[reps / 2], first);
	return 0;
}
