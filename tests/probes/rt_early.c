/*
 * rt_early: a shared library whose constructor reads REALTIME before
 * libtimens's own constructor has run (LD_PRELOAD="libtimens.so
 * rt_early.so": the loader initialises rt_early first). libtimens answers
 * such reads with host time. Prints "early before value after".
 */
#include "rt_common.h"

__attribute__((constructor)) static void early(void)
{
	int64_t before = host_ns(CLOCK_REALTIME), value = libc_ns(CLOCK_REALTIME);
	int64_t after = host_ns(CLOCK_REALTIME);

	printf("early %lld %lld %lld\n", (long long)before, (long long)value, (long long)after);
	fflush(stdout);
}
