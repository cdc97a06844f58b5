/*
 * signals.c - waits for a signal: sigsuspend, pause, sigwait, sigwaitinfo,
 * sigtimedwait.
 *
 * A program that waits for its own timer's signal (coreutils `timeout`:
 * timer_create, then sigsuspend) must be there when libtimens re-arms the
 * timer after a live change (timers.c). While the process has timers to
 * follow, these waits are cut into slices (waits.c) and the timers are
 * re-armed between them; a sigtimedwait timeout, relative on MONOTONIC,
 * also ends when an advance moves the namespace's MONOTONIC past it.
 * Otherwise each stays one kernel wait.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>

#include "libtimens.h"

/* A slice of sigsuspend: ppoll on nothing with the wait's mask. */
static int suspend_slice(void *arg, int64_t slice_ns, const sigset_t *mask)
{
	static int (*next)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	struct timespec ts = timens_ns_ts(slice_ns);

	(void)arg;
	return TIMENS_NEXT(next, "ppoll")(NULL, 0, &ts, mask);
}

TIMENS_EXPORT int sigsuspend(const sigset_t *mask)
{
	static int (*next)(const sigset_t *);
	struct timens_timeout t;

	__asm__("" : "+r"(mask));  /* declared nonnull; a NULL is the kernel's EFAULT */
	if (mask == NULL || !timens_timeout_start(&t, -1))
		return TIMENS_NEXT(next, "sigsuspend")(mask);
	return timens_slices(&t, mask, suspend_slice, NULL);
}

TIMENS_EXPORT int pause(void)
{
	static int (*next)(void);
	struct timens_timeout t;

	if (!timens_timeout_start(&t, -1))
		return TIMENS_NEXT(next, "pause")();
	return timens_slices(&t, NULL, suspend_slice, NULL);
}

struct sigwait_args {
	const sigset_t *set;
	siginfo_t *info;
};

/* A slice of sigtimedwait, with the caller's mask in place meanwhile (a
 * handled signal outside set interrupts it, as it would the one wait). */
static int sigwait_slice(void *arg, int64_t slice_ns, const sigset_t *mask)
{
	static int (*next)(const sigset_t *, siginfo_t *, const struct timespec *);
	struct sigwait_args *a = arg;
	struct timespec ts = timens_ns_ts(slice_ns);
	sigset_t blocked;
	int sig, err;

	pthread_sigmask(SIG_SETMASK, mask, &blocked);
	sig = TIMENS_NEXT(next, "sigtimedwait")(a->set, a->info, &ts);
	err = errno;
	pthread_sigmask(SIG_SETMASK, &blocked, NULL);
	errno = err;
	return sig < 0 && err == EAGAIN ? 0 : sig;
}

TIMENS_EXPORT int sigtimedwait(const sigset_t *restrict set, siginfo_t *restrict info,
			       const struct timespec *restrict timeout)
{
	static int (*next)(const sigset_t *, siginfo_t *, const struct timespec *);
	struct timens_timeout t;
	int sig;

	__asm__("" : "+r"(set));  /* declared nonnull; a NULL is the kernel's EFAULT */
	if (set == NULL || (timeout != NULL && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
						 timeout->tv_nsec >= TIMENS_NSEC_PER_SEC)) ||
	    !timens_timeout_start(&t, timeout == NULL ? -1 : timens_ts_ns(timeout)))
		return TIMENS_NEXT(next, "sigtimedwait")(set, info, timeout);
	sig = timens_slices(&t, NULL, sigwait_slice, &(struct sigwait_args){ set, info });
	if (sig == 0) {
		errno = EAGAIN;  /* the timeout passed in namespace time */
		return -1;
	}
	return sig;
}

TIMENS_EXPORT int sigwaitinfo(const sigset_t *restrict set, siginfo_t *restrict info)
{
	return sigtimedwait(set, info, NULL);
}

/* As glibc's: the signal in *sig, an error number returned; EINTR is retried. */
TIMENS_EXPORT int sigwait(const sigset_t *restrict set, int *restrict sig)
{
	int got, saved_errno = errno, err = 0;

	do
		got = sigtimedwait(set, NULL, NULL);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		err = errno;
	else
		*sig = got;
	errno = saved_errno;
	return err;
}
