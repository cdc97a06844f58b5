/*
 * rt_watch OLD NEW: print "ready" once REALTIME reads host + OLD (ns), then
 * poll until it reads host + NEW and print "seen". Exits 1 after 20 s.
 */
#include "rt_common.h"

static int reads_with(int64_t off)
{
	int64_t before = host_ns(CLOCK_REALTIME), value = libc_ns(CLOCK_REALTIME);
	int64_t after = host_ns(CLOCK_REALTIME);

	return value - off >= before && value - off <= after;
}

int main(int argc, char **argv)
{
	int64_t old_off, new_off, give_up = host_ns(CLOCK_MONOTONIC) + 20 * NSEC_PER_SEC;

	if (argc != 3)
		return 2;
	old_off = atoll(argv[1]);
	new_off = atoll(argv[2]);
	while (!reads_with(old_off))
		if (host_ns(CLOCK_MONOTONIC) > give_up || usleep(1000) < 0)
			return 1;
	printf("ready\n");
	fflush(stdout);
	while (!reads_with(new_off))
		if (host_ns(CLOCK_MONOTONIC) > give_up || usleep(1000) < 0)
			return 1;
	printf("seen\n");
	return 0;
}
