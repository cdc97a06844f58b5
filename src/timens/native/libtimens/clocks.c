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
#include <errno.h>
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

/* A failed host read, as libc reports it. Out of line: reads that work
 * never touch errno. */
static __attribute__((noinline, cold)) int host_failed(int ret)
{
	errno = -ret;
	return -1;
}

/* Clock ID as the namespace reads it: the host's, then the page's view.
 * Inlined into each reader, so the view stays in registers; where ID is
 * a constant REALTIME clock, only the REALTIME fields are loaded. */
static inline __attribute__((always_inline)) int namespace_now(clockid_t id, struct timespec *ts)
{
	struct timens_view v;
	int ret = __atomic_load_n(&timens_host_clock_gettime, __ATOMIC_RELAXED)(id, ts);

	if (__builtin_expect(ret != 0, 0))
		return host_failed(ret);
	if (timens_read_view_of(&v, TIMENS_VIEW_OF(id)))
		timens_view_clock(&v, id, ts);
	return 0;
}

/* Out of line: clock_gettime's pass-through stays a bare tail call. */
static __attribute__((noinline)) int page_clock_gettime(clockid_t id, struct timespec *ts)
{
	return namespace_now(id, ts);
}

/* The commonest reads, each with only its clock's fields. */
static __attribute__((noinline)) int realtime_clock_gettime(struct timespec *ts)
{
	return namespace_now(CLOCK_REALTIME, ts);
}

static __attribute__((noinline)) int monotonic_clock_gettime(struct timespec *ts)
{
	return namespace_now(CLOCK_MONOTONIC, ts);
}

TIMENS_EXPORT int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (__builtin_expect(id == CLOCK_REALTIME, 1))
		return realtime_clock_gettime(ts);
	if (id == CLOCK_MONOTONIC)
		return monotonic_clock_gettime(ts);
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

/*
 * Seconds as the kernel's time() gives them: the coarse (tick) clock.
 * An offset of whole seconds (the usual one) needs no nanoseconds: the
 * vDSO's time() plus the offset. Otherwise, or while frozen, the coarse
 * clock with the whole offset, so that time() turns over to the next
 * second when the namespace's REALTIME does.
 */
TIMENS_EXPORT time_t time(time_t *out)
{
	time_t (*host)(time_t *) = __atomic_load_n(&timens_host_time, __ATOMIC_RELAXED);
	struct timens_view v;
	struct timespec ts;
	int paged = timens_read_view_of(&v, TIMENS_VIEW_REALTIME);
	int64_t sec;
	int ret;

	if (__builtin_expect(host != NULL, 1) &&
	    (!paged || __builtin_expect(v.realtime_nsec == 0 && !(v.flags & TIMENS_FLAG_FROZEN), 1))) {
		sec = host(NULL);
		if (paged && __builtin_add_overflow(sec, v.realtime_sec, &sec))
			sec = v.realtime_sec < 0 ? INT64_MIN : INT64_MAX;
	} else {
		ret = __atomic_load_n(&timens_host_clock_gettime, __ATOMIC_RELAXED)(CLOCK_REALTIME_COARSE, &ts);
		if (__builtin_expect(ret != 0, 0))
			return host_failed(ret);
		if (paged)
			timens_view_clock(&v, CLOCK_REALTIME_COARSE, &ts);
		sec = ts.tv_sec;
	}
	if (out)
		*out = (time_t)sec;
	return (time_t)sec;
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
