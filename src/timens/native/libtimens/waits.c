/*
 * waits.c - waits that follow the namespace's clocks when they move.
 *
 * A namespace clock is host clock + the page's offset (REALTIME, or the
 * MONOTONIC and BOOTTIME advance), and a writer can move it at any time:
 * `timens set --advance 1h`, a settime inside. The kernel waits on its own
 * clocks and does not see the page, so a program already waiting would
 * sleep on as if nothing happened. Two ways to follow the page:
 *
 *   - Sleeps libtimens owns (clock_nanosleep, nanosleep, usleep, sleep,
 *     thrd_sleep)
 *     wait on the page's `wake` word with FUTEX_WAIT_BITSET and the host
 *     deadline. The writer bumps `wake` and wakes every sleeper after each
 *     write; a sleeper then computes its deadline again. No periodic cost.
 *   - Waits the kernel does for the program (condition variables,
 *     semaphores, poll, epoll, select) cannot wait on a second word. They
 *     wait in slices of at most TIMENS_SLICE_NS; after each slice the
 *     namespace clock decides whether the deadline has passed, and tracked
 *     timers are re-armed if the page moved (timers.c). A wait shorter
 *     than one slice, or without a deadline, stays one kernel wait (unless
 *     the process has timers to re-arm: then waits without a deadline are
 *     sliced too).
 *
 * Relative sleeps are measured on the namespace's MONOTONIC clock (as the
 * kernel measures them on its own), so an advance ends them too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
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

/* The kernel's clock id and the namespace's reading of it, from one read. */
static int read_now(clockid_t id, int64_t *host, int64_t *ns)
{
	struct timens_view v;
	struct timespec ts;

	if (!timens_read_view(&v) ||
	    __atomic_load_n(&timens_real_clock_gettime, __ATOMIC_RELAXED)(id, &ts) != 0)
		return 0;
	*host = timens_ts_ns(&ts);
	timens_view_clock(&v, id, &ts);
	*ns = timens_ts_ns(&ts);
	return 1;
}

/* The host deadline on clock id for the namespace deadline ns (deadlines.c
 * decides, frozen REALTIME included). */
static int64_t host_deadline(clockid_t id, int64_t ns)
{
	struct timespec abs = timens_ns_ts(ns), buf;

	return timens_ts_ns(timens_host_deadline(id, &abs, &buf));
}

static int64_t host_now(clockid_t id)
{
	struct timespec ts;

	__atomic_load_n(&timens_real_clock_gettime, __ATOMIC_RELAXED)(id, &ts);
	return timens_ts_ns(&ts);
}

int timens_real_clock_nanosleep(clockid_t id, int flags, const struct timespec *req,
				struct timespec *rem)
{
	static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);

	return TIMENS_NEXT(next, "clock_nanosleep")(id, flags, req, rem);
}

/* --- sleeps libtimens owns: a futex wait on the page's wake word ------------- */

/*
 * FUTEX_WAIT_BITSET on wake while it still holds seen, until host_abs on
 * the kernel's REALTIME or MONOTONIC clock. Returns 0 when woken or wake
 * moved, else the errno (ETIMEDOUT, EINTR, ...). Shared (not private):
 * the writers live in other processes. A cancellation point as the sleep
 * it replaces: cancellation is made asynchronous around the syscall, as
 * libc does for its own.
 */
static int futex_wait_until(const uint32_t *wake, uint32_t seen, clockid_t id, int64_t host_abs)
{
	int op = FUTEX_WAIT_BITSET | (id == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0), old_type;
	struct timespec abs = timens_ns_ts(host_abs);
	long ret;

	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old_type);
	ret = syscall(SYS_futex, wake, op, seen, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
	pthread_setcanceltype(old_type, NULL);
	if (ret == 0 || errno == EAGAIN)
		return 0;
	return errno;
}

/*
 * Between two waits of a sleep: re-arm the process's timers with every
 * signal blocked, then say whether a signal with a handler is pending. It
 * is delivered when the mask is restored, and the sleep must then end
 * with EINTR, as the one kernel sleep would have (a re-armed timer's
 * signal comes exactly here).
 */
static int follow_then_signalled(void)
{
	sigset_t all, old, pending;
	struct sigaction sa;
	int signalled = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	timens_timers_follow();
	if (sigpending(&pending) == 0)
		for (int sig = 1; sig < NSIG && !signalled; sig++)
			signalled = sigismember(&pending, sig) == 1 && sigismember(&old, sig) == 0 &&
				    sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
				    sa.sa_handler != SIG_IGN;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return signalled;
}

/* The clock a sleep waits on: relative sleeps run on MONOTONIC (as the
 * kernel's do: a REALTIME set does not move them), BOOTTIME ones on
 * BOOTTIME; -1 for clocks the page does not move or a futex cannot wait on. */
static clockid_t sleep_clock(clockid_t id, int flags)
{
	if (id == CLOCK_REALTIME)
		return (flags & TIMER_ABSTIME) ? CLOCK_REALTIME : CLOCK_MONOTONIC;
	if (id == CLOCK_MONOTONIC || id == CLOCK_BOOTTIME)
		return id;
	return -1;
}

int timens_sleep(clockid_t id, int flags, const struct timespec *req, struct timespec *rem)
{
	const struct timens_page *p = __atomic_load_n(&timens_page, __ATOMIC_ACQUIRE);
	clockid_t clock = sleep_clock(id, flags);
	int saved_errno = errno, err = 0;
	int64_t host, now, deadline, host_dl;

	if (p == NULL || clock < 0 || req == NULL || req->tv_nsec < 0 ||
	    req->tv_nsec >= TIMENS_NSEC_PER_SEC || !read_now(clock, &host, &now))
		return -1;  /* the real call gives the kernel's own answer */
	if (flags & TIMER_ABSTIME)
		deadline = timens_ts_ns(req);
	else if (req->tv_sec < 0)
		return -1;
	else
		deadline = timens_ns_add(now, timens_ts_ns(req));
	for (;;) {
		/* Load wake before reading the page: a write in between moves
		 * it, and the wait below returns at once. */
		uint32_t seen = __atomic_load_n(&p->wake, __ATOMIC_ACQUIRE);

		host_dl = host_deadline(clock, deadline);
		host = host_now(clock);
		if (host >= host_dl)
			break;
		if (clock == CLOCK_BOOTTIME) {
			/* futex has no BOOTTIME clock: sleep on it in slices. */
			struct timespec end = timens_ns_ts(host_dl - host < TIMENS_SLICE_NS ?
							   host_dl : host + TIMENS_SLICE_NS);

			err = timens_real_clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &end, NULL);
		} else {
			err = futex_wait_until(&p->wake, seen, clock, host_dl);
			if (err == ETIMEDOUT && __atomic_load_n(&p->wake, __ATOMIC_ACQUIRE) == seen) {
				err = 0;  /* the deadline passed and the page stayed */
				break;
			}
		}
		if (err == ETIMEDOUT)
			err = 0;
		if (err == 0 && follow_then_signalled())
			err = EINTR;
		if (err != 0)
			break;
	}
	if (err == EINTR && rem != NULL && !(flags & TIMER_ABSTIME))
		*rem = timens_ns_ts(read_now(clock, &host, &now) && deadline > now ? deadline - now : 0);
	errno = saved_errno;
	return err;
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

/* C11's sleep: 0, -1 when a signal ended it, another negative value on error. */
TIMENS_EXPORT int thrd_sleep(const struct timespec *req, struct timespec *rem)
{
	static int (*next)(const struct timespec *, struct timespec *);
	int err = timens_sleep(CLOCK_MONOTONIC, 0, req, rem);

	if (err < 0)
		return TIMENS_NEXT(next, "thrd_sleep")(req, rem);
	return err == 0 ? 0 : err == EINTR ? -1 : -2;
}

/* --- waits the kernel does: in slices ----------------------------------------- */

/*
 * Wait until the namespace's clock id (REALTIME or MONOTONIC) reaches abs,
 * in slices: wait(arg, host_abs) makes one kernel wait until host_abs on
 * the kernel's clock id and returns 0, ETIMEDOUT or another errno value.
 * Returns the first result that is not ETIMEDOUT, ETIMEDOUT once the
 * namespace clock is past abs, or -1 if the real call should wait alone
 * (no page, another clock, an invalid abs).
 */
static int sliced_until(clockid_t id, const struct timespec *abs,
			int (*wait)(void *arg, const struct timespec *host_abs), void *arg)
{
	const struct timens_page *p = __atomic_load_n(&timens_page, __ATOMIC_ACQUIRE);
	uint32_t seen;
	int64_t host, host_dl;
	int first = 1, err;

	if (p == NULL || (id != CLOCK_REALTIME && id != CLOCK_MONOTONIC) || abs == NULL ||
	    abs->tv_nsec < 0 || abs->tv_nsec >= TIMENS_NSEC_PER_SEC)
		return -1;
	seen = __atomic_load_n(&p->wake, __ATOMIC_ACQUIRE);
	host_dl = host_deadline(id, timens_ts_ns(abs));
	for (;;) {
		struct timespec end;

		host = host_now(id);
		if (host >= host_dl && !first)
			return ETIMEDOUT;
		/* The first slice always waits, even past the deadline, so the
		 * real call checks its arguments as it would on its own. */
		end = timens_ns_ts(host_dl - host < TIMENS_SLICE_NS ? host_dl : host + TIMENS_SLICE_NS);
		err = wait(arg, &end);
		if (err != ETIMEDOUT)
			return err;
		first = 0;
		timens_timers_follow();
		if (__atomic_load_n(&p->wake, __ATOMIC_ACQUIRE) != seen) {
			seen = __atomic_load_n(&p->wake, __ATOMIC_ACQUIRE);
			host_dl = host_deadline(id, timens_ts_ns(abs));
		}
	}
}

static int cond_slice(void *arg, const struct timespec *host_abs)
{
	struct timens_cond_wait *w = arg;

	if (w->timed)
		return w->timed(w->cond, w->mutex, host_abs);
	return w->clocked(w->cond, w->mutex, w->clock, host_abs);
}

int timens_cond_sliced(struct timens_cond_wait *w, const struct timespec *abstime)
{
	return sliced_until(w->clock, abstime, cond_slice, w);
}

/* A semaphore wait's slice: its -1/errno result as an errno value. */
static int sem_slice(void *arg, const struct timespec *host_abs)
{
	struct timens_sem_wait *w = arg;
	int saved_errno = errno, ret, err;

	ret = w->timed ? w->timed(w->sem, host_abs) : w->clocked(w->sem, w->clock, host_abs);
	err = ret == 0 ? 0 : errno;
	errno = saved_errno;
	return err;
}

int timens_sem_sliced(struct timens_sem_wait *w, const struct timespec *abstime, int *ret)
{
	int err = sliced_until(w->clock, abstime, sem_slice, w);

	if (err < 0)
		return -1;
	*ret = err ? -1 : 0;
	if (err)
		errno = err;
	return 0;
}

int timens_timeout_start(struct timens_timeout *t, int64_t timeout_ns)
{
	int64_t host, now;

	t->infinite = timeout_ns < 0;
	if (t->infinite ? !timens_timers_tracked() : timeout_ns <= TIMENS_SLICE_NS)
		return 0;
	if (!read_now(CLOCK_MONOTONIC, &host, &now))
		return 0;
	t->deadline = t->infinite ? INT64_MAX : timens_ns_add(now, timeout_ns);
	return 1;
}

int64_t timens_timeout_left(const struct timens_timeout *t)
{
	int64_t host, now;

	if (t->infinite || !read_now(CLOCK_MONOTONIC, &host, &now) || now >= t->deadline)
		return 0;
	return t->deadline - now;
}

int64_t timens_timeout_slice(struct timens_timeout *t)
{
	int64_t left = t->infinite ? TIMENS_SLICE_NS : timens_timeout_left(t);

	return left < TIMENS_SLICE_NS ? left : TIMENS_SLICE_NS;
}

/* Between slices every signal is blocked, and each slice applies the
 * caller's mask atomically, as ppoll does: a signal that comes while
 * libtimens looks at the clock is delivered inside the next slice and ends
 * the wait with EINTR, as it would have ended the caller's one wait. (A
 * re-armed timer's signal comes exactly then.) */
int timens_slices(struct timens_timeout *t, const sigset_t *user_mask, timens_slice_fn fn, void *arg)
{
	sigset_t all, old;
	int64_t slice;
	int ret = 0, saved_errno;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while ((slice = timens_timeout_slice(t)) > 0) {
		ret = fn(arg, slice, user_mask ? user_mask : &old);
		if (ret != 0)
			break;
		timens_timers_follow();
	}
	saved_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved_errno;
	return ret;
}
