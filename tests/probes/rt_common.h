/*
 * Shared helpers for the rt_* probes: small programs run with libtimens.so
 * preloaded (tests/test_libtimens.py). They print "key value..." lines with
 * times in nanoseconds; the tests do the judging.
 *
 * host_ns() asks the kernel directly (a raw syscall, which libtimens does
 * not see), so it is host time; libc calls go through libtimens.
 */
#ifndef RT_COMMON_H
#define RT_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NSEC_PER_SEC 1000000000LL

static inline int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

/* Host clock, bypassing libc and so libtimens. */
static inline int64_t host_ns(clockid_t clock)
{
	struct timespec ts;

	if (syscall(SYS_clock_gettime, clock, &ts)) {
		printf("error raw clock_gettime %d %s\n", (int)clock, strerror(errno));
		exit(2);
	}
	return ts_ns(&ts);
}

/* Clock through libc, as a program reads it: namespace time. */
static inline int64_t libc_ns(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts)) {
		printf("error clock_gettime %d %s\n", (int)clock, strerror(errno));
		exit(2);
	}
	return ts_ns(&ts);
}

/* An absolute deadline: namespace REALTIME now + ns. */
static inline struct timespec ns_deadline(clockid_t clock, int64_t ns)
{
	int64_t t = libc_ns(clock) + ns;
	struct timespec ts = { .tv_sec = t / NSEC_PER_SEC, .tv_nsec = t % NSEC_PER_SEC };

	if (ts.tv_nsec < 0) {
		ts.tv_nsec += NSEC_PER_SEC;
		ts.tv_sec -= 1;
	}
	return ts;
}

#endif
