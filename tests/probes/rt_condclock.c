/*
 * rt_condclock: where glibc keeps a condvar's clock. libtimens reads bit
 * value 2 of __data.__wrefs (set: CLOCK_MONOTONIC) to know whether
 * pthread_cond_timedwait's deadline is REALTIME; this checks it holds for
 * the glibc the tests run on. Prints "CLOCK wrefs-bit".
 */
#include "rt_common.h"

#include <pthread.h>

static unsigned int clock_bit(clockid_t clock, int use_attr)
{
	pthread_condattr_t attr;
	pthread_cond_t cond;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, clock);
	pthread_cond_init(&cond, use_attr ? &attr : NULL);
	return cond.__data.__wrefs & 2u;
}

int main(void)
{
	pthread_cond_t initialised = PTHREAD_COND_INITIALIZER;

	printf("initializer %u\n", initialised.__data.__wrefs & 2u);
	printf("default %u\n", clock_bit(CLOCK_REALTIME, 0));
	printf("realtime %u\n", clock_bit(CLOCK_REALTIME, 1));
	printf("monotonic %u\n", clock_bit(CLOCK_MONOTONIC, 1));
	return 0;
}
