/*
 * clocks.c - clock reads: host clock + the namespace's REALTIME offset.
 *
 * REALTIME, REALTIME_COARSE, REALTIME_ALARM and TAI get the offset; every
 * other clock id (MONOTONIC, BOOTTIME, CPU clocks, ...) passes through
 * untouched. Each read is the real libc read (the vDSO) plus one seqlock
 * read of the page.
 */
#define _GNU_SOURCE
#include <stddef.h>

#include "libtimens.h"

/* <sys/timeb.h> is gone from glibc's headers; ftime itself is still there. */
struct timeb {
	time_t time;
	unsigned short millitm;
	short timezone;
	short dstflag;
};
int ftime(struct timeb *tb);

/* Host REALTIME (or REALTIME_COARSE) + offset. */
static int namespace_now(clockid_t id, struct timespec *ts)
{
	struct timespec off;
	int ret = __atomic_load_n(&timens_real_clock_gettime, __ATOMIC_RELAXED)(id, ts);

	if (ret == 0 && timens_realtime_offset(&off))
		timens_ts_add(ts, &off);
	return ret;
}

TIMENS_EXPORT int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (!timens_clock_in(id, TIMENS_REALTIME_CLOCKS))
		return __atomic_load_n(&timens_real_clock_gettime, __ATOMIC_RELAXED)(id, ts);
	return namespace_now(id, ts);
}

TIMENS_EXPORT int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec off;
	int ret = __atomic_load_n(&timens_real_gettimeofday, __ATOMIC_RELAXED)(tv, tz);
	long nsec;

	/* The header says tv is never NULL; callers and the kernel disagree. */
	__asm__("" : "+r"(tv));
	if (ret != 0 || tv == NULL || !timens_realtime_offset(&off))
		return ret;
	nsec = tv->tv_usec * 1000L + off.tv_nsec;  /* < 2e9 */
	tv->tv_sec += off.tv_sec;
	if (nsec >= TIMENS_NSEC_PER_SEC) {
		nsec -= TIMENS_NSEC_PER_SEC;
		tv->tv_sec += 1;
	}
	tv->tv_usec = nsec / 1000;
	return 0;
}

/* Seconds as the kernel's time() gives them: the coarse (tick) clock. */
TIMENS_EXPORT time_t time(time_t *out)
{
	struct timespec ts;

	if (namespace_now(CLOCK_REALTIME_COARSE, &ts) != 0)
		return (time_t)-1;
	if (out)
		*out = ts.tv_sec;
	return ts.tv_sec;
}

TIMENS_EXPORT int timespec_get(struct timespec *ts, int base)
{
	static int (*next)(struct timespec *, int);

	if (base != TIME_UTC)
		return TIMENS_NEXT(next, "timespec_get")(ts, base);
	return namespace_now(CLOCK_REALTIME, ts) == 0 ? base : 0;
}

TIMENS_EXPORT int ftime(struct timeb *tb)
{
	struct timespec ts;

	if (namespace_now(CLOCK_REALTIME, &ts) != 0)
		return -1;
	tb->time = ts.tv_sec;
	tb->millitm = (unsigned short)(ts.tv_nsec / 1000000);
	tb->timezone = 0;  /* as glibc's ftime: the kernel timezone is obsolete */
	tb->dstflag = 0;
	return 0;
}
