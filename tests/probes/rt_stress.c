/*
 * rt_stress SECONDS THREADS OFF_A OFF_B: threads read REALTIME as fast as
 * they can while a writer flips the page between two offsets (ns). Every
 * read must be host time + OFF_A or host time + OFF_B, with host time
 * between two raw host reads around it. A torn read (seconds of one
 * offset, nanoseconds of the other) matches neither.
 * Prints "reads N a NA b NB torn NT".
 */
#include "rt_common.h"

#include <pthread.h>

static int64_t seconds, off_a, off_b;
static long long total_reads, seen_a, seen_b, torn;

static void *reader(void *arg)
{
	int64_t end = host_ns(CLOCK_MONOTONIC) + seconds * NSEC_PER_SEC;
	long long reads = 0, a = 0, b = 0, bad = 0;

	(void)arg;
	while ((reads & 255) || host_ns(CLOCK_MONOTONIC) < end) {
		int64_t before = host_ns(CLOCK_REALTIME), value = libc_ns(CLOCK_REALTIME);
		int64_t after = host_ns(CLOCK_REALTIME);

		reads++;
		if (value - off_a >= before && value - off_a <= after) {
			a++;
		} else if (value - off_b >= before && value - off_b <= after) {
			b++;
		} else {
			if (bad++ < 5)
				printf("torn before %lld value %lld after %lld\n", (long long)before,
				       (long long)value, (long long)after);
		}
	}
	__atomic_add_fetch(&total_reads, reads, __ATOMIC_RELAXED);
	__atomic_add_fetch(&seen_a, a, __ATOMIC_RELAXED);
	__atomic_add_fetch(&seen_b, b, __ATOMIC_RELAXED);
	__atomic_add_fetch(&torn, bad, __ATOMIC_RELAXED);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[64];
	int n;

	if (argc != 5)
		return 2;
	seconds = atoll(argv[1]);
	n = atoi(argv[2]);
	off_a = atoll(argv[3]);
	off_b = atoll(argv[4]);
	if (n < 1 || n > 64)
		return 2;
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < n; i++)
		pthread_create(&threads[i], NULL, reader, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	printf("reads %lld a %lld b %lld torn %lld\n", total_reads, seen_a, seen_b, torn);
	return 0;
}
