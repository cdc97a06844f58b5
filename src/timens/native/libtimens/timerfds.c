/*
 * timerfds.c - timerfds that follow live changes of the namespace's clocks.
 *
 * The kernel arms a timerfd on its own clock at the host deadline libtimens
 * computed when the program armed it. When the page moves (an advance, a
 * set, a settime inside), that host deadline is stale. So armed timerfds
 * are remembered here, by fd, with the offset their host deadline was
 * computed with, and re-armed when the page's `wake` word moved:
 *
 *   - absolute REALTIME timers keep their namespace deadline: new host
 *     deadline = namespace deadline - new REALTIME offset (while REALTIME is
 *     frozen they wait, unless the frozen instant is past the deadline);
 *   - absolute MONOTONIC and BOOTTIME timers likewise with the advance;
 *   - relative timers, on any clock, run on MONOTONIC as the kernel's do:
 *     an advance shortens them, a REALTIME set does not.
 *
 * The next expiry comes from timerfd_gettime, so periodic timers keep their
 * phase, and a host deadline that moved into the past lets the kernel count
 * the expirations missed, as it would after that much time.
 *
 * TFD_TIMER_CANCEL_ON_SET: a REALTIME timerfd armed absolute with it is
 * cancelled by any move of the namespace's REALTIME, as a host clock step
 * would cancel it: it becomes readable (TFD_IOC_SET_TICKS), and the next
 * read() fails with ECANCELED.
 *
 * Who re-arms: the process itself, in the waits it makes through libc -
 * read() of a tracked timerfd, and the sliced waits of polls.c and waits.c,
 * which slice waits without a timeout too while timerfds are tracked. A
 * thread blocked in a raw syscall does not re-arm anything.
 *
 * Only fds below TIMENS_TIMERFDS are tracked; read() of any other fd costs
 * one comparison more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "libtimens.h"

#define TIMENS_TIMERFDS 1024

#ifndef TFD_TIMER_CANCEL_ON_SET
#define TFD_TIMER_CANCEL_ON_SET (1 << 1)
#endif
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

/* How far a timer waiting on a frozen REALTIME is put off: it is re-armed
 * when REALTIME runs again. */
#define FROZEN_PUT_OFF (100LL * 365 * 86400 * TIMENS_NSEC_PER_SEC)

enum {
	ARMED = 1,       /* a slot in use */
	ABSOLUTE = 2,    /* armed with TFD_TIMER_ABSTIME */
	CANCEL = 4,      /* ... and TFD_TIMER_CANCEL_ON_SET, on REALTIME */
	FROZEN = 8,      /* armed while REALTIME was frozen: `base` is the instant */
};

struct timer {
	uint32_t state;
	uint32_t cancelled;  /* a REALTIME move cancelled it; read() says so once */
	clockid_t clock;
	int64_t base;        /* offset its host deadline was computed with */
	int64_t next;        /* namespace time of its next expiry, if FROZEN */
};

static struct timer timers[TIMENS_TIMERFDS];
static int tracked;           /* slots in use */
static int following;         /* a thread is re-arming */
static uint32_t followed;     /* the wake value last followed */

static int (*real_timerfd_settime)(int, int, const struct itimerspec *, struct itimerspec *);
static int (*real_timerfd_gettime)(int, struct itimerspec *);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static ssize_t (*real_read)(int, void *, size_t);
static int (*real_close)(int);

int timens_timers_tracked(void)
{
	return __atomic_load_n(&tracked, __ATOMIC_RELAXED) != 0;
}

static int tracked_fd(int fd)
{
	return fd >= 0 && fd < TIMENS_TIMERFDS && __atomic_load_n(&timers[fd].state, __ATOMIC_RELAXED);
}

static void forget(int fd)
{
	if (__atomic_exchange_n(&timers[fd].state, 0, __ATOMIC_RELAXED))
		__atomic_fetch_sub(&tracked, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&timers[fd].cancelled, 0, __ATOMIC_RELAXED);
}

/* Which offset governs a timer: relative timers run on MONOTONIC. */
static int timer_kind(const struct timer *t)
{
	if (!(t->state & ABSOLUTE))
		return TIMENS_KIND_MONOTONIC;
	switch (t->clock) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_ALARM:
		return TIMENS_KIND_REALTIME;
	case CLOCK_BOOTTIME:
	case CLOCK_BOOTTIME_ALARM:
		return TIMENS_KIND_BOOTTIME;
	}
	return TIMENS_KIND_MONOTONIC;
}

/* The clock that reads the timer's timeline (the _ALARM ones need an RTC to be read). */
static clockid_t readable(clockid_t id)
{
	return id == CLOCK_REALTIME_ALARM ? CLOCK_REALTIME :
	       id == CLOCK_BOOTTIME_ALARM ? CLOCK_BOOTTIME : id;
}

/* The offset of kind in v, and whether it is a frozen REALTIME (then the
 * frozen instant is returned instead). */
static int64_t base_of(const struct timens_view *v, int kind, int *frozen)
{
	*frozen = kind == TIMENS_KIND_REALTIME && (v->flags & TIMENS_FLAG_FROZEN);
	if (*frozen)
		return timens_ts_ns(&(struct timespec){ .tv_sec = v->frozen_sec, .tv_nsec = v->frozen_nsec });
	return timens_view_to_ns(v, kind, 0);
}

void timens_timerfd_armed(int fd, clockid_t clock, int flags, const struct itimerspec *value)
{
	struct timer *t;
	struct timens_view v;
	int frozen;

	if (fd < 0 || fd >= TIMENS_TIMERFDS)
		return;
	t = &timers[fd];
	forget(fd);
	if (value->it_value.tv_sec == 0 && value->it_value.tv_nsec == 0)
		return;  /* disarmed: nothing to follow */
	if (!timens_view(&v))
		return;
	t->clock = clock;
	t->state = ARMED;
	if (flags & TFD_TIMER_ABSTIME) {
		t->state |= ABSOLUTE;
		if ((flags & TFD_TIMER_CANCEL_ON_SET) && timer_kind(t) == TIMENS_KIND_REALTIME)
			t->state |= CANCEL;
	}
	t->base = base_of(&v, timer_kind(t), &frozen);
	t->next = timens_ts_ns(&value->it_value);
	if (frozen)
		t->state |= FROZEN;
	__atomic_fetch_add(&tracked, 1, __ATOMIC_RELAXED);
	/* Last: a follower only looks at a slot whose state is set. */
	__atomic_store_n(&t->state, t->state, __ATOMIC_RELEASE);
}

/* Re-arm one timer for the view v; forget it if there is nothing left to follow. */
static void follow_one(int fd, const struct timens_view *v)
{
	struct timer *t = &timers[fd];
	int kind = timer_kind(t), frozen, was_frozen = !!(t->state & FROZEN);
	int64_t base = base_of(v, kind, &frozen), host_now, host_next, ns_next, host_new;
	struct itimerspec cur, arm;
	struct timespec now;

	if (base == t->base && frozen == was_frozen)
		return;
	if (real_timerfd_gettime(fd, &cur) != 0) {
		forget(fd);  /* closed behind our back, or no timerfd any more */
		return;
	}
	if (cur.it_value.tv_sec != 0 || cur.it_value.tv_nsec != 0) {
		timens_real_clock_gettime(readable(t->clock), &now);
		host_now = timens_ts_ns(&now);
		host_next = timens_ns_add(host_now, timens_ts_ns(&cur.it_value));
		ns_next = was_frozen ? t->next : timens_ns_add(host_next, t->base);
		if (!frozen)
			host_new = timens_ns_add(ns_next, -base);
		else if (ns_next <= base)
			host_new = host_now;  /* the frozen instant is past it: due now */
		else
			host_new = timens_ns_add(host_now, FROZEN_PUT_OFF);
		arm.it_interval = cur.it_interval;
		if (t->state & ABSOLUTE)
			arm.it_value = timens_ns_ts(host_new > 0 ? host_new : 1);
		else
			arm.it_value = timens_ns_ts(host_new > host_now ? host_new - host_now : 1);
		real_timerfd_settime(fd, (t->state & ABSOLUTE ? TFD_TIMER_ABSTIME : 0) |
				     (t->state & CANCEL ? TFD_TIMER_CANCEL_ON_SET : 0), &arm, NULL);
		t->next = ns_next;
	} else if (!(t->state & CANCEL)) {
		forget(fd);  /* a one-shot timer that expired: done */
		return;
	}
	t->base = base;
	t->state = frozen ? t->state | FROZEN : t->state & ~(uint32_t)FROZEN;
	if (t->state & CANCEL) {
		uint64_t one = 1;

		__atomic_store_n(&t->cancelled, 1, __ATOMIC_RELAXED);
		if (ioctl(fd, TFD_IOC_SET_TICKS, &one) != 0) {
			/* A kernel without it: make the timer due now instead. */
			arm.it_interval = (struct timespec){ 0, 0 };
			arm.it_value = (struct timespec){ 0, 1 };
			real_timerfd_settime(fd, TFD_TIMER_ABSTIME, &arm, NULL);
		}
	}
}

static int resolve(void)
{
	return TIMENS_NEXT(real_timerfd_settime, "timerfd_settime") &&
	       TIMENS_NEXT(real_timerfd_gettime, "timerfd_gettime") &&
	       TIMENS_NEXT(real_poll, "poll") && TIMENS_NEXT(real_read, "read");
}

void timens_timers_follow(void)
{
	const struct timens_page *p = __atomic_load_n(&timens_page, __ATOMIC_ACQUIRE);
	struct timens_view v;
	uint32_t wake;
	int saved_errno = errno;

	if (p == NULL || !timens_timers_tracked())
		return;
	wake = __atomic_load_n(&p->wake, __ATOMIC_ACQUIRE);
	if (wake == __atomic_load_n(&followed, __ATOMIC_RELAXED))
		return;
	/* One thread re-arms; the others go on waiting (a signal handler that
	 * interrupted the one re-arming must not wait for it either). */
	if (__atomic_exchange_n(&following, 1, __ATOMIC_ACQUIRE))
		return;
	/* Stored before the page is read: a write after this moves wake again. */
	__atomic_store_n(&followed, wake, __ATOMIC_RELAXED);
	if (resolve() && timens_view(&v))
		for (int fd = 0; fd < TIMENS_TIMERFDS; fd++)
			if (__atomic_load_n(&timers[fd].state, __ATOMIC_ACQUIRE))
				follow_one(fd, &v);
	__atomic_store_n(&following, 0, __ATOMIC_RELEASE);
	errno = saved_errno;
}

/* A read of a tracked timerfd: follow the page first; wait in slices if
 * it blocks; report a cancellation once. */
static ssize_t timerfd_read(int fd, void *buf, size_t n)
{
	struct timer *t = &timers[fd];
	uint64_t ticks;
	int flags;

	for (;;) {
		timens_timers_follow();
		if (n >= sizeof(ticks) && __atomic_exchange_n(&t->cancelled, 0, __ATOMIC_RELAXED)) {
			/* Take the tick that made it readable, as the kernel does. */
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			if (real_poll(&pfd, 1, 0) == 1)
				real_read(fd, &ticks, sizeof(ticks));
			errno = ECANCELED;
			return -1;
		}
		flags = fcntl(fd, F_GETFL);
		if (flags < 0 || (flags & O_NONBLOCK) || !tracked_fd(fd))
			return real_read(fd, buf, n);
		{
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int ready = real_poll(&pfd, 1, (int)(TIMENS_SLICE_NS / 1000000));

			if (ready < 0)
				return -1;  /* EINTR: as an interrupted read */
			if (ready > 0 && !__atomic_load_n(&t->cancelled, __ATOMIC_RELAXED))
				return real_read(fd, buf, n);
		}
	}
}

TIMENS_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (__builtin_expect(tracked_fd(fd), 0) && resolve())
		return timerfd_read(fd, buf, n);
	return TIMENS_NEXT(real_read, "read")(fd, buf, n);
}

TIMENS_EXPORT int close(int fd)
{
	if (__builtin_expect(tracked_fd(fd), 0))
		forget(fd);
	return TIMENS_NEXT(real_close, "close")(fd);
}

TIMENS_EXPORT int timerfd_gettime(int fd, struct itimerspec *cur)
{
	if (tracked_fd(fd))
		timens_timers_follow();  /* the time left after a move, not before */
	return TIMENS_NEXT(real_timerfd_gettime, "timerfd_gettime")(fd, cur);
}

TIMENS_EXPORT int timerfd_create(int clockid, int flags)
{
	static int (*next)(int, int);
	int fd = TIMENS_NEXT(next, "timerfd_create")(clockid, flags);

	/* A new timer under a number a closed one may have left behind. */
	if (fd >= 0 && fd < TIMENS_TIMERFDS)
		forget(fd);
	return fd;
}
