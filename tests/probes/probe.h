/*
 * What every probe shares: nanosecond arithmetic and the two ways to read
 * a clock. libc_ns() reads as a program does (the vDSO, and libtimens.so
 * when it is preloaded); host_ns() makes the raw syscall, which libtimens
 * does not see, so for REALTIME it is host time (MONOTONIC and BOOTTIME
 * are still offset by the kernel's namespace).
 */
#ifndef PROBE_H
#define PROBE_H

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
#define NSEC_PER_MSEC 1000000LL

static inline int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

/* Nanoseconds as a timespec, tv_nsec in [0, 1e9) also for negatives. */
static inline struct timespec ns_ts(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC };

	if (ts.tv_nsec < 0) {
		ts.tv_nsec += NSEC_PER_SEC;
		ts.tv_sec -= 1;
	}
	return ts;
}

/* A clock through libc, as a program reads it; exits on failure. */
static inline int64_t libc_ns(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts)) {
		printf("error clock_gettime %d %s\n", (int)clock, strerror(errno));
		exit(2);
	}
	return ts_ns(&ts);
}

/* A clock through the raw syscall, bypassing libc and so libtimens. */
static inline int64_t host_ns(clockid_t clock)
{
	struct timespec ts;

	if (syscall(SYS_clock_gettime, clock, &ts)) {
		printf("error raw clock_gettime %d %s\n", (int)clock, strerror(errno));
		exit(2);
	}
	return ts_ns(&ts);
}

#endif
