/*
 * waits.c - waits that follow the namespace's clocks when they move.
 *
 * A namespace clock is host clock + the page's offset (REALTIME, or the
 * MONOTONIC and BOOTTIME advance), and a writer can move it at any time:
 * `timens set --advance 1h`, a settime inside. The kernel waits on its own
 * clocks and does not see the page, so a program already waiting would
 * sleep on as if nothing happened. Two ways to follow the page:
 *
 *   - Sleeps libtimens owns (clock_nanosleep, nanosleep, usleep, sleep)
 *     wait on the page's `wake` word with FUTEX_WAIT_BITSET and the host
 *     deadline. The writer bumps `wake` and wakes every sleeper after each
 *     write; a sleeper then computes its deadline again. No periodic cost.
 *   - Waits the kernel does for the program (condition variables,
 *     semaphores, poll, epoll, select) cannot wait on a second word. They
 *     wait in slices of at most TIMENS_SLICE_NS; after each slice the
 *     namespace clock decides whether the deadline has passed, and tracked
 *     timers are re-armed if the page moved (timerfds.c). A wait shorter
 *     than one slice, or without a deadline, stays one kernel wait.
 *
 * Relative sleeps are measured on the namespace's MONOTONIC clock (as the
 * kernel measures them on its own), so an advance ends them too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libtimens.h"

/* --- nanosecond arithmetic, saturating: deadlines may be anything --------- */

int64_t timens_ts_ns(const struct timespec *ts)
{
	int64_t ns;

	if (__builtin_mul_overflow((int64_t)ts->tv_sec, TIMENS_NSEC_PER_SEC, &ns) ||
	    __builtin_add_overflow(ns, (int64_t)ts->tv_nsec, &ns))
		return ts->tv_sec < 0 ? INT64_MIN : INT64_MAX;
	return ns;
}

struct timespec timens_ns_ts(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / TIMENS_NSEC_PER_SEC, .tv_nsec = ns % TIMENS_NSEC_PER_SEC };

	if (ts.tv_nsec < 0) {
		ts.tv_nsec += TIMENS_NSEC_PER_SEC;
		ts.tv_sec -= 1;
	}
	return ts;
}

int64_t timens_ns_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b < 0 ? INT64_MIN : INT64_MAX;
	return r;
}

/* --- the namespace's clocks next to the kernel's ---------------------------- */

int timens_view(struct timens_view *v)
{
	const struct timens_page *p = __atomic_load_n(&timens_page, __ATOMIC_ACQUIRE);
	unsigned long spins = 0;

	if (p == NULL)
		return 0;
	while (!timens_page_try_read(p, v))
		if (timens_reader_wait(__atomic_load_n(&p->seq, __ATOMIC_RELAXED), &spins))
			return 0;
	return 1;
}

int timens_clock_kind(clockid_t id)
{
	switch (id) {
	case CLOCK_REALTIME:
		return TIMENS_KIND_REALTIME;
	case CLOCK_MONOTONIC:
		return TIMENS_KIND_MONOTONIC;
	case CLOCK_BOOTTIME:
		return TIMENS_KIND_BOOTTIME;
	}
	return TIMENS_KIND_OTHER;
}

int64_t timens_view_to_ns(const struct timens_view *v, int kind, int64_t host)
{
	struct timespec ts = timens_ns_ts(host);
	int64_t sec = ts.tv_sec, nsec = ts.tv_nsec;

	switch (kind) {
	case TIMENS_KIND_REALTIME:
		timens_view_realtime(v, &sec, &nsec);
		break;
	case TIMENS_KIND_MONOTONIC:
		timens_add_saturating(&sec, &nsec, v->monotonic_sec, v->monotonic_nsec);
		break;
	case TIMENS_KIND_BOOTTIME:
		timens_add_saturating(&sec, &nsec, v->boottime_sec, v->boottime_nsec);
		break;
	}
	return timens_ts_ns(&(struct timespec){ .tv_sec = sec, .tv_nsec = nsec });
}

/* Host and namespace reading of clock kind at one instant, and the view;
 * 0 if there is no page to follow. */
static int read_pair(int kind, int64_t *host, int64_t *ns, struct timens_view *v)
{
	static const clockid_t ids[] = {
		[TIMENS_KIND_REALTIME] = CLOCK_REALTIME,
		[TIMENS_KIND_MONOTONIC] = CLOCK_MONOTONIC,
		[TIMENS_KIND_BOOTTIME] = CLOCK_BOOTTIME,
	};
	struct timespec ts;

	if (!timens_view(v))
		return 0;
	if (__atomic_load_n(&timens_real_clock_gettime, __ATOMIC_RELAXED)(ids[kind], &ts) != 0)
		return 0;
	*host = timens_ts_ns(&ts);
	*ns = timens_view_to_ns(v, kind, *host);
	return 1;
}

/*
 * How long until the namespace clock reaches deadline, in ns (<= 0: it has).
 * A frozen REALTIME never gets there by itself: INT64_MAX, unless the
 * frozen instant is already past the deadline.
 */
static int64_t remaining(int kind, const struct timens_view *v, int64_t ns_now, int64_t deadline)
{
	if (kind == TIMENS_KIND_REALTIME && (v->flags & TIMENS_FLAG_FROZEN))
		return deadline <= ns_now ? 0 : INT64_MAX;
	return deadline <= ns_now ? 0 : deadline - ns_now;
}

int timens_real_clock_nanosleep(clockid_t id, int flags, const struct timespec *req,
				struct timespec *rem)
{
	static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);

	return TIMENS_NEXT(next, "clock_nanosleep")(id, flags, req, rem);
}

/* --- sleeps libtimens owns: a futex wait on the page's wake word ------------- */

/*
 * FUTEX_WAIT_BITSET on wake while it still holds seen, until host_abs
 * (NULL: no timeout) on the kernel's REALTIME or MONOTONIC clock. Returns
 * 0 when woken or wake moved, else the errno (ETIMEDOUT, EINTR, ...).
 * Shared (not private): the writers live in other processes. A
 * cancellation point as the sleep it replaces: cancellation is made
 * asynchronous around the syscall, as libc does for its own.
 */
static int futex_wait_until(const uint32_t *wake, uint32_t seen, int realtime,
			    const struct timespec *host_abs)
{
	int op = FUTEX_WAIT_BITSET | (realtime ? FUTEX_CLOCK_REALTIME : 0), old_type;
	long ret;

	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old_type);
	ret = syscall(SYS_futex, wake, op, seen, host_abs, NULL, FUTEX_BITSET_MATCH_ANY);
	pthread_setcanceltype(old_type, NULL);
	if (ret == 0 || errno == EAGAIN)
		return 0;
	return errno;
}

int timens_sleep(clockid_t id, int flags, const struct timespec *req, struct timespec *rem)
{
	const struct timens_page *p = __atomic_load_n(&timens_page, __ATOMIC_ACQUIRE);
	int kind = timens_clock_kind(id), saved_errno = errno, err;
	struct timens_view v;
	int64_t host, now, deadline, left;

	if (p == NULL || kind == TIMENS_KIND_OTHER || req == NULL || req->tv_nsec < 0 ||
	    req->tv_nsec >= TIMENS_NSEC_PER_SEC || (!(flags & TIMER_ABSTIME) && req->tv_sec < 0))
		return -1;  /* the real call gives the kernel's own answer */
	if (!(flags & TIMER_ABSTIME) && kind == TIMENS_KIND_REALTIME)
		kind = TIMENS_KIND_MONOTONIC;  /* relative sleeps do not follow settime */
	if (!read_pair(kind, &host, &now, &v))
		return -1;
	deadline = (flags & TIMER_ABSTIME) ? timens_ts_ns(req) : timens_ns_add(now, timens_ts_ns(req));
	for (;;) {
		/* Load wake before reading the page: a write in between moves it,
		 * and the futex wait below returns at once. */
		uint32_t seen = __atomic_load_n(&p->wake, __ATOMIC_ACQUIRE);
		struct timespec abs;

		if (!read_pair(kind, &host, &now, &v))
			break;
		left = remaining(kind, &v, now, deadline);
		if (left <= 0) {
			errno = saved_errno;
			return 0;
		}
		if (kind == TIMENS_KIND_BOOTTIME) {
			/* futex has no BOOTTIME: sleep on it in slices instead. */
			abs = timens_ns_ts(timens_ns_add(host, left < TIMENS_SLICE_NS ? left : TIMENS_SLICE_NS));
			err = timens_real_clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &abs, NULL);
		} else {
			abs = timens_ns_ts(timens_ns_add(host, left));
			err = futex_wait_until(&p->wake, seen, kind == TIMENS_KIND_REALTIME,
					       left == INT64_MAX ? NULL : &abs);
		}
		if (err == ETIMEDOUT)
			err = 0;
		if (err == EINTR) {
			if (rem != NULL && !(flags & TIMER_ABSTIME)) {
				left = read_pair(kind, &host, &now, &v) ? remaining(kind, &v, now, deadline) : 0;
				*rem = timens_ns_ts(left == INT64_MAX ? timens_ts_ns(req) : left);
			}
			errno = saved_errno;
			return EINTR;
		}
		if (err != 0) {
			errno = saved_errno;
			return err;
		}
	}
	/* The page became unreadable mid-sleep (a stuck writer): the kernel's
	 * clock takes over from here. */
	errno = saved_errno;
	return timens_real_clock_nanosleep(id == CLOCK_REALTIME && !(flags & TIMER_ABSTIME) ?
					   CLOCK_MONOTONIC : id, flags, req, rem);
}

TIMENS_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
	static int (*next)(const struct timespec *, struct timespec *);
	int err = timens_sleep(CLOCK_MONOTONIC, 0, req, rem);

	if (err < 0)
		return TIMENS_NEXT(next, "nanosleep")(req, rem);
	if (err > 0) {
		errno = err;
		return -1;
	}
	return 0;
}

TIMENS_EXPORT int usleep(useconds_t usec)
{
	struct timespec req = { .tv_sec = usec / 1000000, .tv_nsec = (long)(usec % 1000000) * 1000 };

	return nanosleep(&req, NULL);
}

/* As glibc's sleep: the seconds left when a signal ends it, rounded up. */
TIMENS_EXPORT unsigned int sleep(unsigned int seconds)
{
	struct timespec req = { .tv_sec = seconds }, rem = { 0 };
	int saved_errno = errno;

	if (nanosleep(&req, &rem) == 0)
		return 0;
	errno = saved_errno;
	return (unsigned int)rem.tv_sec + (rem.tv_nsec > 0);
}

/* --- waits the kernel does: in slices ----------------------------------------- */

int timens_sliced_until(clockid_t id, const struct timespec *abs, timens_wait_fn wait, void *arg)
{
	int kind = timens_clock_kind(id), first = 1, err;
	struct timens_view v;
	int64_t host, now, deadline, left;

	if (abs == NULL || abs->tv_nsec < 0 || abs->tv_nsec >= TIMENS_NSEC_PER_SEC ||
	    kind == TIMENS_KIND_OTHER || !read_pair(kind, &host, &now, &v))
		return -1;
	deadline = timens_ts_ns(abs);
	for (;;) {
		struct timespec slice_end;

		left = remaining(kind, &v, now, deadline);
		if (left <= 0 && !first)
			return ETIMEDOUT;
		/* The first slice always waits (even if the deadline passed), so
		 * the real call checks its arguments as it would on its own. */
		slice_end = timens_ns_ts(timens_ns_add(host, left < TIMENS_SLICE_NS ? left : TIMENS_SLICE_NS));
		err = wait(arg, &slice_end);
		if (err != ETIMEDOUT)
			return err;
		first = 0;
		timens_timers_follow();
		if (!read_pair(kind, &host, &now, &v))
			return ETIMEDOUT;  /* no page any more: the last slice was the host deadline's */
	}
}

int timens_timeout_start(struct timens_timeout *t, int64_t timeout_ns)
{
	struct timens_view v;
	int64_t host, now;

	t->infinite = timeout_ns < 0;
	if (t->infinite ? !timens_timers_tracked() : timeout_ns <= TIMENS_SLICE_NS)
		return 0;
	if (!read_pair(TIMENS_KIND_MONOTONIC, &host, &now, &v))
		return 0;
	t->deadline = t->infinite ? INT64_MAX : timens_ns_add(now, timeout_ns);
	return 1;
}

int64_t timens_timeout_slice(struct timens_timeout *t)
{
	struct timens_view v;
	int64_t host, now, left;

	if (t->infinite)
		return TIMENS_SLICE_NS;
	if (!read_pair(TIMENS_KIND_MONOTONIC, &host, &now, &v))
		return 0;
	left = remaining(TIMENS_KIND_MONOTONIC, &v, now, t->deadline);
	return left < TIMENS_SLICE_NS ? left : TIMENS_SLICE_NS;
}

int64_t timens_timeout_left(const struct timens_timeout *t)
{
	struct timens_view v;
	int64_t host, now;

	if (t->infinite || !read_pair(TIMENS_KIND_MONOTONIC, &host, &now, &v))
		return 0;
	return remaining(TIMENS_KIND_MONOTONIC, &v, now, t->deadline);
}
