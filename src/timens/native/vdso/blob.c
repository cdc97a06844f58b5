/*
 * blob.c - the clock functions timens injects next to a program's vDSO.
 *
 * Built freestanding (setup.py: -mgeneral-regs-only -fPIC -nostdlib
 * -ffreestanding -fno-stack-protector) into a flat, position-independent
 * piece of code: it runs inside any program, Go's runtime included, which
 * keeps X15 zero and expects the callee-saved registers kept, so it uses
 * general registers only, no libc and no syscall. The page is read through
 * timens_page_read.h only, with its seqlock rules; what the page holds is
 * applied to what the original vDSO function returned:
 *
 *   REALTIME, REALTIME_COARSE, REALTIME_ALARM, TAI   timens_view_realtime
 *                                                    (offset, or frozen)
 *   MONOTONIC, MONOTONIC_RAW, MONOTONIC_COARSE       + monotonic advance
 *   BOOTTIME, BOOTTIME_ALARM                         + boottime advance
 *
 * If a writer stays inside the page for longer than the reader waits (it
 * died mid-update), reads give host time: a clock read must never hang.
 */
#include <linux/time.h>  /* the kernel's clock ids; no libc in here */

#include "blob_abi.h"
#include "timens_page_read.h"

#define SPIN_LIMIT 4000000UL  /* as libtimens.so: about 0.1 s */

/* The x86-64 kernel ABI's timespec and timeval. */
struct kts { int64_t tv_sec, tv_nsec; };
struct ktv { int64_t tv_sec, tv_usec; };

/* The same sets as libtimens.so's (libtimens/libtimens.h). */
#define REALTIME_SET \
	((1u << CLOCK_REALTIME) | (1u << CLOCK_REALTIME_COARSE) | (1u << CLOCK_REALTIME_ALARM) | (1u << CLOCK_TAI))
#define MONOTONIC_SET ((1u << CLOCK_MONOTONIC) | (1u << CLOCK_MONOTONIC_RAW) | (1u << CLOCK_MONOTONIC_COARSE))
#define BOOTTIME_SET ((1u << CLOCK_BOOTTIME) | (1u << CLOCK_BOOTTIME_ALARM))

typedef int (*clock_gettime_fn)(int, struct kts *);
typedef int (*gettimeofday_fn)(struct ktv *, void *);
typedef long (*time_fn)(long *);

extern struct timens_blob_head timens_blob_head __attribute__((visibility("hidden")));

int timens_blob_clock_gettime(int id, struct kts *ts) __attribute__((visibility("hidden")));
int timens_blob_gettimeofday(struct ktv *tv, void *tz) __attribute__((visibility("hidden")));
long timens_blob_time(long *t) __attribute__((visibility("hidden")));

/* The head comes first in the image; its entry fields are filled at link time. */
__asm__(".pushsection .text.head,\"ax\",@progbits\n"
	".globl timens_blob_head\n"
	".hidden timens_blob_head\n"
	"timens_blob_head:\n"
	".quad 0x4f5344564e534d54\n"
	".long timens_blob_clock_gettime - timens_blob_head\n"
	".long timens_blob_gettimeofday - timens_blob_head\n"
	".long timens_blob_time - timens_blob_head\n"
	".long timens_blob_end - timens_blob_head\n"
	".quad 0, 0, 0, 0\n"
	".popsection\n"
	".pushsection .text.tail,\"ax\",@progbits\n"
	"timens_blob_end:\n"
	".popsection\n");

static int read_view(struct timens_view *v)
{
	const struct timens_page *p = (const struct timens_page *)__atomic_load_n(&timens_blob_head.page,
										  __ATOMIC_RELAXED);
	unsigned long spins;

	if (p == 0)
		return 0;
	for (spins = 0; spins < SPIN_LIMIT; spins++) {
		if (timens_page_try_read(p, v))
			return 1;
		__builtin_ia32_pause();
	}
	return 0;
}

static void shift(int id, struct kts *ts)
{
	unsigned int bit = (unsigned int)id < 32 ? 1u << id : 0;
	struct timens_view v;
	int64_t sec = ts->tv_sec, nsec = ts->tv_nsec;

	if (!(bit & (REALTIME_SET | MONOTONIC_SET | BOOTTIME_SET)) || !read_view(&v))
		return;
	if (bit & REALTIME_SET)
		timens_view_realtime(&v, &sec, &nsec);
	else if (bit & MONOTONIC_SET)
		timens_add_saturating(&sec, &nsec, v.monotonic_sec, v.monotonic_nsec);
	else
		timens_add_saturating(&sec, &nsec, v.boottime_sec, v.boottime_nsec);
	ts->tv_sec = sec;
	ts->tv_nsec = nsec;
}

static int original_clock_gettime(int id, struct kts *ts)
{
	return ((clock_gettime_fn)timens_blob_head.orig_clock_gettime)(id, ts);
}

int timens_blob_clock_gettime(int id, struct kts *ts)
{
	int ret = original_clock_gettime(id, ts);

	if (ret == 0 && ts != 0)
		shift(id, ts);
	return ret;
}

/* From the nanosecond clock, truncated once, as libtimens.so does. */
int timens_blob_gettimeofday(struct ktv *tv, void *tz)
{
	struct kts ts;
	int ret;

	if (tz != 0 && (ret = ((gettimeofday_fn)timens_blob_head.orig_gettimeofday)(0, tz)) != 0)
		return ret;
	if (tv == 0)
		return 0;
	if ((ret = timens_blob_clock_gettime(CLOCK_REALTIME, &ts)) != 0)
		return ret;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

/* Seconds of the coarse clock, as the kernel's time(). */
long timens_blob_time(long *t)
{
	struct kts ts;

	if (timens_blob_clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0)
		return ((time_fn)timens_blob_head.orig_time)(t);
	if (t != 0)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
