/*
 * clocks.c - clock reads: host clock + what the page adds (libtimens.h).
 *
 * REALTIME, REALTIME_COARSE, REALTIME_ALARM and TAI read the REALTIME
 * offset or the frozen instant; MONOTONIC (+_COARSE, _RAW) and BOOTTIME
 * (+_ALARM) get the page's advance on top of the kernel's offsets. CPU
 * clocks and the rest pass through untouched. Each read is the real libc
 * read (the vDSO) plus one seqlock read of the page.
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

/* Clock ID as the namespace reads it: the host's, then the page's view.
 * Inlined into each reader, so the view stays in registers. */
static inline __attribute__((always_inline)) int namespace_now(clockid_t id, struct timespec *ts)
{
	struct timens_view v;
	int ret = __atomic_load_n(&timens_real_clock_gettime, __ATOMIC_RELAXED)(id, ts);

	if (__builtin_expect(ret == 0, 1) && timens_read_view(&v))
		timens_view_clock(&v, id, ts);
	return ret;
}

/* Out of line: clock_gettime's pass-through stays a bare tail call. */
static __attribute__((noinline)) int page_clock_gettime(clockid_t id, struct timespec *ts)
{
	return namespace_now(id, ts);
}

TIMENS_EXPORT int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (!timens_clock_in(id, TIMENS_PAGE_CLOCKS))
		return __atomic_load_n(&timens_real_clock_gettime, __ATOMIC_RELAXED)(id, ts);
	return page_clock_gettime(id, ts);
}

/*
 * From the nanosecond clock, truncated once: host microseconds + offset
 * would truncate twice and could read up to 2 us early.
 */
TIMENS_EXPORT int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;

	/* The header says tv is never NULL; callers and the kernel disagree. */
	__asm__("" : "+r"(tv));
	if (__builtin_expect(tz != NULL, 0) &&
	    __atomic_load_n(&timens_real_gettimeofday, __ATOMIC_RELAXED)(NULL, tz) != 0)
		return -1;
	if (tv == NULL)
		return 0;
	if (namespace_now(CLOCK_REALTIME, &ts) != 0)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
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
