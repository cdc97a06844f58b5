/*
 * monoloop: cost of one clock_gettime(CLOCK_MONOTONIC) call in this
 * process, for bench_run.py to compare inside and outside a time namespace.
 *
 *   monoloop [CALLS [REPS]]
 *
 * Times REPS batches of CALLS reads each and prints the median batch as
 * "ns_per_call X.XXX".
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? atol(argv[1]) : 1000000;
	int reps = argc > 2 ? atoi(argv[2]) : 21;
	double *per = calloc(reps, sizeof(*per));
	volatile long long sink = 0;
	struct timespec ts;
	long i;
	int r;

	for (i = 0; i < calls; i++) {	/* warm up */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sink += ts.tv_nsec;
	}
	for (r = 0; r < reps; r++) {
		double start = now_ns();

		for (i = 0; i < calls; i++) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			sink += ts.tv_nsec;
		}
		per[r] = (now_ns() - start) / calls;
	}
	qsort(per, reps, sizeof(*per), cmp);
	printf("ns_per_call %.3f\n", per[reps / 2]);
	return 0;
}
