/*
 * Shared helpers for the kt_* probes: small programs that run inside a
 * time namespace made by timens and print what they read, one
 * "key value..." line per fact, for tests/test_kernel_selftests.py.
 *
 * Probes that check something themselves print "ok NAME" or
 * "not ok NAME: why" and exit 1 if any check failed.
 */
#ifndef KT_COMMON_H
#define KT_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define NSEC_PER_SEC 1000000000LL
#define NSEC_PER_MSEC 1000000LL

static int kt_failed;

static inline int64_t kt_ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

static inline struct timespec kt_ns_ts(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC };

	return ts;
}

/* Read a clock through libc (the vDSO where it has one); exits on failure. */
static inline int64_t kt_now(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts)) {
		printf("error clock_gettime %d %s\n", (int)clock, strerror(errno));
		exit(2);
	}
	return kt_ts_ns(&ts);
}

static inline void kt_check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("ok %s\n", name);
	} else {
		kt_failed = 1;
		printf("not ok %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}

static inline void kt_skip(const char *name, const char *why)
{
	printf("skip %s: %s\n", name, why);
	fflush(stdout);
}

/* Inode of a /proc/self/ns/ link, 0 if it cannot be read. */
static inline unsigned long kt_ns_inode(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (unsigned long)st.st_ino;
}

#endif
