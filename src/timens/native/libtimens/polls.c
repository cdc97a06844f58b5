/*
 * polls.c - poll, ppoll, select, pselect and epoll waits with a timeout.
 *
 * Their timeouts are relative, measured on MONOTONIC; inside a namespace
 * that is the namespace's MONOTONIC, which an advance moves. An event loop
 * (asyncio, libuv, glib) computes the timeout from that clock and waits
 * here; after an advance it must wake up and look at its clock again. A
 * wait longer than one slice (waits.c) is made of slices, and returns
 * "timed out" as soon as the namespace clock is past its end. A wait with
 * no timeout is sliced only while the process has timers to re-arm
 * (timers.c), so an idle program waiting forever pays nothing.
 *
 * Events, errors and signals end the wait at once, as they would without
 * slices. Each slice is the ppoll/epoll_pwait/pselect form of the call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "libtimens.h"

/* Milliseconds for epoll, rounded up as the kernel rounds. */
static int slice_ms(int64_t ns)
{
	return (int)((ns + 999999) / 1000000);
}

static int valid_timespec(const struct timespec *ts)
{
	return ts == NULL || (ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < TIMENS_NSEC_PER_SEC);
}

/* --- poll, ppoll ------------------------------------------------------------- */

struct poll_args {
	struct pollfd *fds;
	nfds_t nfds;
};

static int poll_slice(void *arg, int64_t slice_ns, const sigset_t *mask)
{
	static int (*next)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	struct poll_args *a = arg;
	struct timespec ts = timens_ns_ts(slice_ns);

	return TIMENS_NEXT(next, "ppoll")(a->fds, a->nfds, &ts, mask);
}

TIMENS_EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	static int (*next)(struct pollfd *, nfds_t, int);
	struct timens_timeout t;

	if (!timens_timeout_start(&t, timeout < 0 ? -1 : timeout * 1000000LL))
		return TIMENS_NEXT(next, "poll")(fds, nfds, timeout);
	return timens_slices(&t, NULL, poll_slice, &(struct poll_args){ fds, nfds });
}

TIMENS_EXPORT int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
			const sigset_t *sigmask)
{
	static int (*next)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	struct timens_timeout t;

	if (!valid_timespec(tmo) || !timens_timeout_start(&t, tmo == NULL ? -1 : timens_ts_ns(tmo)))
		return TIMENS_NEXT(next, "ppoll")(fds, nfds, tmo, sigmask);
	return timens_slices(&t, sigmask, poll_slice, &(struct poll_args){ fds, nfds });
}

/* The _FORTIFY_SOURCE forms: checked by libc, then waited for as above. */
TIMENS_EXPORT int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
	static int (*next)(struct pollfd *, nfds_t, int, size_t);

	if (fdslen / sizeof(*fds) < nfds)
		return TIMENS_NEXT(next, "__poll_chk")(fds, nfds, timeout, fdslen);  /* aborts */
	return poll(fds, nfds, timeout);
}

TIMENS_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
			      const sigset_t *sigmask, size_t fdslen)
{
	static int (*next)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *, size_t);

	if (fdslen / sizeof(*fds) < nfds)
		return TIMENS_NEXT(next, "__ppoll_chk")(fds, nfds, tmo, sigmask, fdslen);  /* aborts */
	return ppoll(fds, nfds, tmo, sigmask);
}

/* --- epoll ------------------------------------------------------------------- */

struct epoll_args {
	int epfd;
	struct epoll_event *events;
	int maxevents;
	int nanoseconds;  /* epoll_pwait2: not rounded to milliseconds */
};

static int epoll_slice(void *arg, int64_t slice_ns, const sigset_t *mask)
{
	static int (*pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	static int (*pwait2)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
	struct epoll_args *a = arg;
	struct timespec ts = timens_ns_ts(slice_ns);

	if (a->nanoseconds)
		return TIMENS_NEXT(pwait2, "epoll_pwait2")(a->epfd, a->events, a->maxevents, &ts, mask);
	return TIMENS_NEXT(pwait, "epoll_pwait")(a->epfd, a->events, a->maxevents, slice_ms(slice_ns), mask);
}

TIMENS_EXPORT int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	static int (*next)(int, struct epoll_event *, int, int);
	struct timens_timeout t;

	if (!timens_timeout_start(&t, timeout < 0 ? -1 : timeout * 1000000LL))
		return TIMENS_NEXT(next, "epoll_wait")(epfd, events, maxevents, timeout);
	return timens_slices(&t, NULL, epoll_slice, &(struct epoll_args){ epfd, events, maxevents, 0 });
}

TIMENS_EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
			      const sigset_t *sigmask)
{
	static int (*next)(int, struct epoll_event *, int, int, const sigset_t *);
	struct timens_timeout t;

	if (!timens_timeout_start(&t, timeout < 0 ? -1 : timeout * 1000000LL))
		return TIMENS_NEXT(next, "epoll_pwait")(epfd, events, maxevents, timeout, sigmask);
	return timens_slices(&t, sigmask, epoll_slice, &(struct epoll_args){ epfd, events, maxevents, 0 });
}

TIMENS_EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
			       const struct timespec *tmo, const sigset_t *sigmask)
{
	static int (*next)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
	struct timens_timeout t;

	if (!valid_timespec(tmo) || !timens_timeout_start(&t, tmo == NULL ? -1 : timens_ts_ns(tmo)))
		return TIMENS_NEXT(next, "epoll_pwait2")(epfd, events, maxevents, tmo, sigmask);
	return timens_slices(&t, sigmask, epoll_slice, &(struct epoll_args){ epfd, events, maxevents, 1 });
}

/* --- select, pselect ------------------------------------------------------------ */

/*
 * select and pselect overwrite their fd sets with the ready ones (all
 * clear on a timeout), so each slice starts from a copy of the caller's.
 * Sets larger than FD_SETSIZE are waited for in one piece.
 */
struct select_args {
	int nfds;
	fd_set *user[3];
	fd_set saved[3];
};

static int select_slice(void *arg, int64_t slice_ns, const sigset_t *mask)
{
	static int (*next)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
	struct select_args *a = arg;
	struct timespec ts = timens_ns_ts(slice_ns);

	for (int i = 0; i < 3; i++)
		if (a->user[i])
			memcpy(a->user[i], &a->saved[i], ((size_t)a->nfds + 7) / 8);
	return TIMENS_NEXT(next, "pselect")(a->nfds, a->user[0], a->user[1], a->user[2], &ts, mask);
}

static struct select_args *save_sets(struct select_args *a, int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	a->nfds = nfds;
	a->user[0] = r;
	a->user[1] = w;
	a->user[2] = e;
	for (int i = 0; i < 3; i++)
		if (a->user[i])
			memcpy(&a->saved[i], a->user[i], ((size_t)nfds + 7) / 8);
	return a;
}

TIMENS_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tmo)
{
	static int (*next)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	struct timens_timeout t;
	struct select_args a;
	int64_t ns = -1, left;
	int ret;

	if (tmo != NULL)
		ns = tmo->tv_sec < 0 || tmo->tv_usec < 0 || tmo->tv_usec >= 1000000 ? -2 :
		     timens_ts_ns(&(struct timespec){ .tv_sec = tmo->tv_sec, .tv_nsec = tmo->tv_usec * 1000L });
	if (nfds < 0 || nfds > FD_SETSIZE || ns == -2 || !timens_timeout_start(&t, ns))
		return TIMENS_NEXT(next, "select")(nfds, r, w, e, tmo);
	ret = timens_slices(&t, NULL, select_slice, save_sets(&a, nfds, r, w, e));
	if (tmo != NULL) {
		/* Linux leaves the time not slept in the caller's timeval. */
		left = ret == 0 ? 0 : timens_timeout_left(&t);
		tmo->tv_sec = left / TIMENS_NSEC_PER_SEC;
		tmo->tv_usec = left % TIMENS_NSEC_PER_SEC / 1000;
	}
	return ret;
}

TIMENS_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
			  const sigset_t *sigmask)
{
	static int (*next)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
	struct timens_timeout t;
	struct select_args a;

	if (nfds < 0 || nfds > FD_SETSIZE || !valid_timespec(tmo) ||
	    !timens_timeout_start(&t, tmo == NULL ? -1 : timens_ts_ns(tmo)))
		return TIMENS_NEXT(next, "pselect")(nfds, r, w, e, tmo, sigmask);
	return timens_slices(&t, sigmask, select_slice, save_sets(&a, nfds, r, w, e));
}
