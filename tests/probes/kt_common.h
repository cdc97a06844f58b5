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

#include "probe.h"

#include <stdarg.h>
#include <sys/stat.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static int kt_failed;

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
