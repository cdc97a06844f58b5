/*
 * timers.c - timerfds and POSIX timers that follow live changes of the
 * namespace's clocks.
 *
 * The kernel arms a timer on its own clock at the host deadline libtimens
 * computed when the program armed it. When the page moves (an advance, a
 * set, a settime inside), that host deadline is stale. So armed timers are
 * remembered here (timerfds by fd, POSIX timers by id) with the offset
 * their host deadline was computed with, and re-armed when the page's
 * `wake` word moved:
 *
 *   - absolute REALTIME timers keep their namespace deadline: new host
 *     deadline = namespace deadline - new REALTIME offset (frozen: as
 *     deadlines.c converts it);
 *   - absolute MONOTONIC and BOOTTIME timers likewise with the advance;
 *   - relative timers, on any clock, run on MONOTONIC as the kernel's do:
 *     an advance shortens them, a REALTIME set does not.
 *
 * The next expiry comes from timerfd_gettime (timer_gettime), so periodic
 * timers keep their phase; a deadline that moved into the past makes the
 * timer due, and a timerfd counts the expirations missed
 * (TFD_IOC_SET_TICKS), as after that much time. (A POSIX timer's overrun
 * count cannot be set: it fires once.)
 *
 * TFD_TIMER_CANCEL_ON_SET: a REALTIME timerfd armed absolute with it is
 * cancelled when the namespace's REALTIME jumps against its MONOTONIC (a
 * set, a settime inside), which is what the kernel checks on a host clock
 * step: it becomes readable (TFD_IOC_SET_TICKS), and the next read()
 * fails with ECANCELED. An advance moves both clocks alike: time passed,
 * nothing was set, and the timer fires if its deadline came.
 *
 * Who re-arms: the process itself, in the waits it makes through libc -
 * read() of a tracked timerfd, the sleeps and sliced waits of waits.c and
 * polls.c, which slice waits without a timeout too while timers are
 * tracked. A process whose threads all wait elsewhere (sigwait, pause, raw
 * syscalls) re-arms nothing until one of them comes by.
 *
 * Only fds below TIMENS_TIMERFDS and TIMENS_POSIX_TIMERS POSIX timers are
 * followed; read() of any fd costs one comparison more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "libtimens.h"

#define TIMENS_TIMERFDS 1024
#define TIMENS_POSIX_TIMERS 256

#ifndef TFD_TIMER_CANCEL_ON_SET
#define TFD_TIMER_CANCEL_ON_SET (1 << 1)
#endif
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

enum {
	ARMED = 1,       /* a slot in use */
	ABSOLUTE = 2,    /* armed with TFD_TIMER_ABSTIME */
	CANCEL = 4,      /* ... and TFD_TIMER_CANCEL_ON_SET, on REALTIME */
};

struct timer {
	uint32_t state;
	uint32_t cancelled;  /* a REALTIME move cancelled it; read() says so once */
	clockid_t clock;     /* the timer's clock */
	clockid_t follows;   /* the clock whose page offset its deadline follows */
	int64_t base;        /* that offset when its host deadline was computed */
	int64_t skew;        /* CANCEL: REALTIME - MONOTONIC offsets then */
	uintptr_t key;       /* POSIX timers: timer_t + 1; 0 = free */
};

static struct timer timers[TIMENS_TIMERFDS];
static struct timer posix_timers[TIMENS_POSIX_TIMERS];
static clockid_t created[TIMENS_TIMERFDS];  /* clock + 1 from timerfd_create; 0: unknown */
static int tracked;           /* slots in use */
static int following;         /* a thread is re-arming */
static uint32_t followed;     /* the wake value last followed */

static int (*real_timerfd_settime)(int, int, const struct itimerspec *, struct itimerspec *);
static int (*real_timerfd_gettime)(int, struct itimerspec *);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static ssize_t (*real_read)(int, void *, size_t);
static int (*real_close)(int);
static int (*real_timer_settime)(timer_t, int, const struct itimerspec *, struct itimerspec *);
static int (*real_timer_gettime)(timer_t, struct itimerspec *);

clockid_t timens_timerfd_clock(int fd)
{
	if (fd < 0 || fd >= TIMENS_TIMERFDS)
		return -1;
	return __atomic_load_n(&created[fd], __ATOMIC_RELAXED) - 1;
}

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

/* The clock whose offset a timer follows: relative timers run on MONOTONIC. */
static clockid_t follows(clockid_t clock, int flags)
{
	if (!(flags & TFD_TIMER_ABSTIME))
		return CLOCK_MONOTONIC;
	if (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_ALARM || clock == CLOCK_TAI)
		return CLOCK_REALTIME;
	if (clock == CLOCK_BOOTTIME || clock == CLOCK_BOOTTIME_ALARM)
		return CLOCK_BOOTTIME;
	return CLOCK_MONOTONIC;
}

/* The clock that reads the timer's timeline (the _ALARM ones need an RTC). */
static clockid_t readable(clockid_t id)
{
	return id == CLOCK_REALTIME_ALARM ? CLOCK_REALTIME :
	       id == CLOCK_BOOTTIME_ALARM ? CLOCK_BOOTTIME : id;
}

/* What the page adds to clock id, in ns (deadlines.c: host = namespace - this). */
static int64_t offset_ns(const struct timens_view *v, clockid_t id)
{
	int64_t sec, nsec;

	timens_page_offset(v, id, &sec, &nsec);
	return timens_ts_ns(&(struct timespec){ .tv_sec = sec, .tv_nsec = nsec });
}

/* How far the namespace's REALTIME stands from its MONOTONIC, beyond the host's. */
static int64_t skew_of(const struct timens_view *v)
{
	return timens_ns_add(offset_ns(v, CLOCK_REALTIME), -offset_ns(v, CLOCK_MONOTONIC));
}

/* Fill t for a timer on clock armed with flags and value; 0 if there is
 * nothing to follow (disarmed, unknown clock, no page). */
static uint32_t arm_state(struct timer *t, clockid_t clock, int flags, const struct itimerspec *value)
{
	struct timens_view v;
	uint32_t state = ARMED;

	if (clock < 0 || (value->it_value.tv_sec == 0 && value->it_value.tv_nsec == 0) ||
	    !timens_read_view(&v))
		return 0;
	t->clock = clock;
	t->follows = follows(clock, flags);
	t->base = offset_ns(&v, t->follows);
	t->skew = skew_of(&v);
	if (flags & TFD_TIMER_ABSTIME)
		state |= ABSOLUTE;
	if ((flags & TFD_TIMER_ABSTIME) && (flags & TFD_TIMER_CANCEL_ON_SET) &&
	    t->follows == CLOCK_REALTIME)
		state |= CANCEL;
	return state;
}

void timens_timerfd_armed(int fd, clockid_t clock, int flags, const struct itimerspec *value)
{
	uint32_t state;

	if (fd < 0 || fd >= TIMENS_TIMERFDS)
		return;
	forget(fd);
	state = arm_state(&timers[fd], clock >= 0 ? clock : timens_timerfd_clock(fd), flags, value);
	if (state == 0)
		return;
	__atomic_fetch_add(&tracked, 1, __ATOMIC_RELAXED);
	/* Last: a follower only looks at a slot whose state is set. */
	__atomic_store_n(&timers[fd].state, state, __ATOMIC_RELEASE);
}

static uintptr_t posix_key(timer_t id)
{
	return (uintptr_t)id + 1;  /* glibc's first timer_t is 0 */
}

void timens_posix_timer_forget(timer_t id)
{
	uintptr_t key = posix_key(id);

	for (int i = 0; i < TIMENS_POSIX_TIMERS; i++) {
		struct timer *t = &posix_timers[i];

		if (__atomic_load_n(&t->key, __ATOMIC_ACQUIRE) == key) {
			if (__atomic_exchange_n(&t->state, 0, __ATOMIC_RELAXED))
				__atomic_fetch_sub(&tracked, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&t->key, 0, __ATOMIC_RELEASE);
		}
	}
}

void timens_posix_timer_armed(timer_t id, clockid_t clock, int flags, const struct itimerspec *value)
{
	struct timer scratch = { 0 };
	uint32_t state;

	/* TIMER_ABSTIME is TFD_TIMER_ABSTIME; there is no cancel-on-set. */
	timens_posix_timer_forget(id);
	state = arm_state(&scratch, clock, flags & TIMER_ABSTIME, value);
	if (state == 0)
		return;
	for (int i = 0; i < TIMENS_POSIX_TIMERS; i++) {
		struct timer *t = &posix_timers[i];
		uintptr_t free_slot = 0;

		/* A slot is claimed with one compare-and-swap of its key. */
		if (__atomic_compare_exchange_n(&t->key, &free_slot, posix_key(id), 0,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			t->clock = scratch.clock;
			t->follows = scratch.follows;
			t->base = scratch.base;
			t->skew = scratch.skew;
			__atomic_fetch_add(&tracked, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&t->state, state, __ATOMIC_RELEASE);
			return;
		}
	}
	timens_warn_once("too many POSIX timers to follow", "the table is full",
			 "a live change does not re-arm the newest");
}

/*
 * The setting that re-arms t, now armed as cur, for the page offset base:
 * its next expiry in namespace time is host next expiry + the offset it
 * was armed with; its new host deadline is that - base. Returns the
 * expirations missed if that deadline has passed (then it is due now).
 */
static uint64_t rearm_setting(const struct timer *t, int64_t base, const struct itimerspec *cur,
			      struct itimerspec *arm)
{
	int64_t now, host_new, interval = timens_ts_ns(&cur->it_interval);
	uint64_t missed = 0;
	struct timespec ts;

	timens_real_clock_gettime(readable(t->clock), &ts);
	now = timens_ts_ns(&ts);
	host_new = timens_ns_add(timens_ns_add(timens_ns_add(now, timens_ts_ns(&cur->it_value)),
					       t->base), -base);
	if (host_new <= now) {
		/* Due: the expirations missed are counted here, not by the
		 * kernel (a host deadline before boot cannot even be armed). */
		if (interval > 0) {
			missed = (uint64_t)((now - host_new) / interval) + 1;
			host_new = timens_ns_add(host_new, (int64_t)missed * interval);
		} else {
			host_new = now;
		}
	}
	arm->it_interval = cur->it_interval;
	if (t->state & ABSOLUTE)
		arm->it_value = timens_ns_ts(host_new > 0 ? host_new : 1);
	else
		arm->it_value = timens_ns_ts(host_new > now ? host_new - now : 1);
	return missed;
}

static int armed(const struct itimerspec *cur)
{
	return cur->it_value.tv_sec != 0 || cur->it_value.tv_nsec != 0;
}

/* Re-arm the timerfd fd for the view v; forget it if there is nothing left
 * to follow; cancel it if it asked for that. */
static void follow_timerfd(int fd, const struct timens_view *v)
{
	struct timer *t = &timers[fd];
	int64_t base = offset_ns(v, t->follows), skew = skew_of(v);
	int cancel = (t->state & CANCEL) && skew != t->skew;
	struct itimerspec cur, arm;
	uint64_t missed;

	if (base == t->base && !cancel)
		return;
	if (real_timerfd_gettime(fd, &cur) != 0) {
		forget(fd);  /* closed behind our back, or no timerfd any more */
		return;
	}
	if (armed(&cur)) {
		missed = rearm_setting(t, base, &cur, &arm);
		real_timerfd_settime(fd, (t->state & ABSOLUTE ? TFD_TIMER_ABSTIME : 0) |
				     (t->state & CANCEL ? TFD_TIMER_CANCEL_ON_SET : 0), &arm, NULL);
		if (missed)
			ioctl(fd, TFD_IOC_SET_TICKS, &missed);
	} else if (!(t->state & CANCEL)) {
		forget(fd);  /* a one-shot timer that expired: done */
		return;
	}
	t->base = base;
	t->skew = skew;
	if (cancel) {
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

/* Re-arm a POSIX timer for the view v; forget it once it has expired. */
static void follow_posix(struct timer *t, const struct timens_view *v)
{
	int64_t base = offset_ns(v, t->follows);
	uintptr_t key = __atomic_load_n(&t->key, __ATOMIC_ACQUIRE);
	timer_t id = (timer_t)(key - 1);
	struct itimerspec cur, arm;

	if (key == 0 || base == t->base)
		return;
	if (real_timer_gettime(id, &cur) != 0 || !armed(&cur)) {
		timens_posix_timer_forget(id);
		return;
	}
	rearm_setting(t, base, &cur, &arm);
	real_timer_settime(id, t->state & ABSOLUTE ? TIMER_ABSTIME : 0, &arm, NULL);
	t->base = base;
}

static int resolve(void)
{
	return TIMENS_NEXT(real_timerfd_settime, "timerfd_settime") &&
	       TIMENS_NEXT(real_timerfd_gettime, "timerfd_gettime") &&
	       TIMENS_NEXT(real_timer_settime, "timer_settime") &&
	       TIMENS_NEXT(real_timer_gettime, "timer_gettime") &&
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
	if (resolve() && timens_read_view(&v)) {
		for (int fd = 0; fd < TIMENS_TIMERFDS; fd++)
			if (__atomic_load_n(&timers[fd].state, __ATOMIC_ACQUIRE))
				follow_timerfd(fd, &v);
		for (int i = 0; i < TIMENS_POSIX_TIMERS; i++)
			if (__atomic_load_n(&posix_timers[i].state, __ATOMIC_ACQUIRE))
				follow_posix(&posix_timers[i], &v);
	}
	__atomic_store_n(&following, 0, __ATOMIC_RELEASE);
	errno = saved_errno;
}

/* A forked child: POSIX timers are not inherited (timerfds are), and a
 * thread that was re-arming in the parent does not exist here. */
static void forked_child(void)
{
	int count = 0;

	for (int i = 0; i < TIMENS_POSIX_TIMERS; i++) {
		posix_timers[i].state = 0;
		posix_timers[i].key = 0;
	}
	for (int fd = 0; fd < TIMENS_TIMERFDS; fd++)
		count += timers[fd].state != 0;
	tracked = count;
	following = 0;
}

__attribute__((constructor)) static void timers_init(void)
{
	int saved_errno = errno;

	pthread_atfork(NULL, NULL, forked_child);
	/* Looked up now: read() and close() may first be called from a signal
	 * handler, where dlsym must not run. */
	resolve();
	TIMENS_NEXT(real_close, "close");
	errno = saved_errno;
}

/*
 * Whether a blocking read that a signal handler interrupted would have been
 * restarted: the kernel restarts it if that handler has SA_RESTART. Which
 * signal it was is not known here, so: if every handler has SA_RESTART.
 */
static int restartable(void)
{
	struct sigaction sa;

	for (int sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
		    sa.sa_handler != SIG_IGN && !(sa.sa_flags & SA_RESTART))
			return 0;
	return 1;
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

			if (ready < 0 && (errno != EINTR || !restartable()))
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

/* read() as _FORTIFY_SOURCE builds call it. */
TIMENS_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	static ssize_t (*next)(int, void *, size_t, size_t);

	if (__builtin_expect(tracked_fd(fd), 0) && n <= buflen && resolve())
		return timerfd_read(fd, buf, n);
	return TIMENS_NEXT(next, "__read_chk")(fd, buf, n, buflen);
}

TIMENS_EXPORT int close(int fd)
{
	if (__builtin_expect(tracked_fd(fd), 0))
		forget(fd);
	if (fd >= 0 && fd < TIMENS_TIMERFDS)
		__atomic_store_n(&created[fd], 0, __ATOMIC_RELAXED);
	return TIMENS_NEXT(real_close, "close")(fd);
}

TIMENS_EXPORT int timerfd_gettime(int fd, struct itimerspec *cur)
{
	if (tracked_fd(fd))
		timens_timers_follow();  /* the time left after a move, not before */
	return TIMENS_NEXT(real_timerfd_gettime, "timerfd_gettime")(fd, cur);
}

TIMENS_EXPORT int timer_gettime(timer_t id, struct itimerspec *cur)
{
	if (timens_timers_tracked())
		timens_timers_follow();  /* the time left after a move, not before */
	return TIMENS_NEXT(real_timer_gettime, "timer_gettime")(id, cur);
}

TIMENS_EXPORT int timerfd_create(int clockid, int flags)
{
	static int (*next)(int, int);
	int fd = TIMENS_NEXT(next, "timerfd_create")(clockid, flags);

	/* A new timer under a number a closed one may have left behind. */
	if (fd >= 0 && fd < TIMENS_TIMERFDS) {
		forget(fd);
		__atomic_store_n(&created[fd], clockid + 1, __ATOMIC_RELAXED);
	}
	return fd;
}
