/*
 * polls.c - poll, ppoll, select, pselect and epoll waits with a timeout.
 *
 * Their timeouts are relative, measured on MONOTONIC; inside a namespace
 * that is the namespace's MONOTONIC, which an advance moves. An event loop
 * (asyncio, libuv, glib) computes the timeout from that clock and waits
 * here; after an advance it must wake up and look at its clock again. A
 * wait longer than one slice (waits.c) is made of slices, and returns
 * "timed out" as soon as the namespace clock is past its end. A wait with
 * no timeout is sliced only while the process has timerfds to re-arm
 * (timerfds.c), so an idle program waiting forever pays nothing.
 *
 * Events and errors end the wait at once, as they would without slices.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "libtimens.h"

/* Milliseconds for poll and epoll, rounded up as the kernel rounds. */
static int slice_ms(int64_t ns)
{
	return (int)((ns + 999999) / 1000000);
}

TIMENS_EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	static int (*next)(struct pollfd *, nfds_t, int);
	struct timens_timeout t;
	int64_t slice;
	int ret;

	if (!timens_timeout_start(&t, timeout < 0 ? -1 : timeout * 1000000LL))
		return TIMENS_NEXT(next, "poll")(fds, nfds, timeout);
	while ((slice = timens_timeout_slice(&t)) > 0) {
		ret = TIMENS_NEXT(next, "poll")(fds, nfds, slice_ms(slice));
		if (ret != 0)
			return ret;
		timens_timers_follow();
	}
	return 0;
}

TIMENS_EXPORT int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
			const sigset_t *sigmask)
{
	static int (*next)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	struct timens_timeout t;
	struct timespec ts;
	int64_t slice;
	int ret;

	if ((tmo != NULL && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= TIMENS_NSEC_PER_SEC)) ||
	    !timens_timeout_start(&t, tmo == NULL ? -1 : timens_ts_ns(tmo)))
		return TIMENS_NEXT(next, "ppoll")(fds, nfds, tmo, sigmask);
	while ((slice = timens_timeout_slice(&t)) > 0) {
		ts = timens_ns_ts(slice);
		ret = TIMENS_NEXT(next, "ppoll")(fds, nfds, &ts, sigmask);
		if (ret != 0)
			return ret;
		timens_timers_follow();
	}
	return 0;
}

TIMENS_EXPORT int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	static int (*next)(int, struct epoll_event *, int, int);
	struct timens_timeout t;
	int64_t slice;
	int ret;

	if (!timens_timeout_start(&t, timeout < 0 ? -1 : timeout * 1000000LL))
		return TIMENS_NEXT(next, "epoll_wait")(epfd, events, maxevents, timeout);
	while ((slice = timens_timeout_slice(&t)) > 0) {
		ret = TIMENS_NEXT(next, "epoll_wait")(epfd, events, maxevents, slice_ms(slice));
		if (ret != 0)
			return ret;
		timens_timers_follow();
	}
	return 0;
}

TIMENS_EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
			      const sigset_t *sigmask)
{
	static int (*next)(int, struct epoll_event *, int, int, const sigset_t *);
	struct timens_timeout t;
	int64_t slice;
	int ret;

	if (!timens_timeout_start(&t, timeout < 0 ? -1 : timeout * 1000000LL))
		return TIMENS_NEXT(next, "epoll_pwait")(epfd, events, maxevents, timeout, sigmask);
	while ((slice = timens_timeout_slice(&t)) > 0) {
		ret = TIMENS_NEXT(next, "epoll_pwait")(epfd, events, maxevents, slice_ms(slice), sigmask);
		if (ret != 0)
			return ret;
		timens_timers_follow();
	}
	return 0;
}

TIMENS_EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
			       const struct timespec *tmo, const sigset_t *sigmask)
{
	static int (*next)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
	struct timens_timeout t;
	struct timespec ts;
	int64_t slice;
	int ret;

	if ((tmo != NULL && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= TIMENS_NSEC_PER_SEC)) ||
	    !timens_timeout_start(&t, tmo == NULL ? -1 : timens_ts_ns(tmo)))
		return TIMENS_NEXT(next, "epoll_pwait2")(epfd, events, maxevents, tmo, sigmask);
	while ((slice = timens_timeout_slice(&t)) > 0) {
		ts = timens_ns_ts(slice);
		ret = TIMENS_NEXT(next, "epoll_pwait2")(epfd, events, maxevents, &ts, sigmask);
		if (ret != 0)
			return ret;
		timens_timers_follow();
	}
	return 0;
}

/*
 * select and pselect overwrite their fd sets with the ready ones (all
 * clear on a timeout), so each slice starts from a copy of the caller's.
 * Sets larger than FD_SETSIZE are waited for in one piece.
 */
struct fd_sets {
	fd_set *user[3];
	fd_set saved[3];
	size_t bytes;
};

static void save_sets(struct fd_sets *s, int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	s->user[0] = r;
	s->user[1] = w;
	s->user[2] = e;
	s->bytes = ((size_t)nfds + 7) / 8;
	for (int i = 0; i < 3; i++)
		if (s->user[i])
			memcpy(&s->saved[i], s->user[i], s->bytes);
}

static void restore_sets(const struct fd_sets *s)
{
	for (int i = 0; i < 3; i++)
		if (s->user[i])
			memcpy(s->user[i], &s->saved[i], s->bytes);
}

static int64_t timeval_ns(const struct timeval *tv)
{
	if (tv == NULL)
		return -1;
	if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000)
		return -2;
	return timens_ts_ns(&(struct timespec){ .tv_sec = tv->tv_sec, .tv_nsec = tv->tv_usec * 1000L });
}

TIMENS_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tmo)
{
	static int (*next)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int64_t ns = timeval_ns(tmo), slice, left;
	struct timens_timeout t;
	struct fd_sets sets;
	struct timeval tv;
	int ret;

	if (nfds < 0 || nfds > FD_SETSIZE || ns == -2 || !timens_timeout_start(&t, ns))
		return TIMENS_NEXT(next, "select")(nfds, r, w, e, tmo);
	save_sets(&sets, nfds, r, w, e);
	while ((slice = timens_timeout_slice(&t)) > 0) {
		restore_sets(&sets);
		tv.tv_sec = slice / TIMENS_NSEC_PER_SEC;
		tv.tv_usec = (slice % TIMENS_NSEC_PER_SEC + 999) / 1000;
		ret = TIMENS_NEXT(next, "select")(nfds, r, w, e, &tv);
		if (ret != 0) {
			if (tmo != NULL) {
				/* Linux leaves the time not slept in the caller's timeval. */
				left = timens_timeout_left(&t);
				tmo->tv_sec = left / TIMENS_NSEC_PER_SEC;
				tmo->tv_usec = left % TIMENS_NSEC_PER_SEC / 1000;
			}
			return ret;
		}
		timens_timers_follow();
	}
	if (tmo != NULL)
		tmo->tv_sec = tmo->tv_usec = 0;
	return 0;
}

TIMENS_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
			  const sigset_t *sigmask)
{
	static int (*next)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
	struct timens_timeout t;
	struct fd_sets sets;
	struct timespec ts;
	int64_t slice;
	int ret;

	if (nfds < 0 || nfds > FD_SETSIZE ||
	    (tmo != NULL && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= TIMENS_NSEC_PER_SEC)) ||
	    !timens_timeout_start(&t, tmo == NULL ? -1 : timens_ts_ns(tmo)))
		return TIMENS_NEXT(next, "pselect")(nfds, r, w, e, tmo, sigmask);
	save_sets(&sets, nfds, r, w, e);
	while ((slice = timens_timeout_slice(&t)) > 0) {
		restore_sets(&sets);
		ts = timens_ns_ts(slice);
		ret = TIMENS_NEXT(next, "pselect")(nfds, r, w, e, &ts, sigmask);
		if (ret != 0)
			return ret;
		timens_timers_follow();
	}
	return 0;
}
