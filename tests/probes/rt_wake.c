/*
 * rt_wake CASE: one waiter with a deadline 30 minutes ahead (namespace
 * time), for tests/test_advance_wake.py. Prints "ready" once the deadline
 * is fixed and it is about to wait, then "ret RESULT" and "elapsed NS"
 * (raw host MONOTONIC, which libtimens does not move) when the wait ends:
 * "0", a timerfd's "expiredN", or an error name (ETIMEDOUT, ECANCELED).
 * An advance of an hour must end every case within seconds.
 */
#include "rt_common.h"

#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/timerfd.h>
#include <threads.h>

#define WAIT_NS (30 * 60 * NSEC_PER_SEC)

#ifndef TFD_TIMER_CANCEL_ON_SET
#define TFD_TIMER_CANCEL_ON_SET (1 << 1)
#endif

static int64_t started;

static void ready(void)
{
	printf("ready\n");
	fflush(stdout);
	started = host_ns(CLOCK_MONOTONIC);
}

static const char *err_name(int err)
{
	switch (err) {
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECANCELED: return "ECANCELED";
	case EINTR: return "EINTR";
	default: return strerror(err);
	}
}

static int done(const char *what, int err)
{
	printf("ret %s\nelapsed %lld\n", err == 0 ? what : err_name(err),
	       (long long)(host_ns(CLOCK_MONOTONIC) - started));
	return 0;
}

static int sleep_case(clockid_t clock, int flags)
{
	struct timespec when = flags ? ns_deadline(clock, WAIT_NS) : ns_ts(WAIT_NS);

	ready();
	return done("0", clock_nanosleep(clock, flags, &when, NULL));
}

/* A timerfd on clock, 30 min ahead (absolute, or relative if flags is 0),
 * then every interval ns (0: once). */
static int armed_timerfd(clockid_t clock, int flags, int64_t interval)
{
	struct itimerspec its = { .it_value = (flags & TFD_TIMER_ABSTIME) ? ns_deadline(clock, WAIT_NS)
									   : ns_ts(WAIT_NS),
				  .it_interval = ns_ts(interval) };
	int fd = timerfd_create(clock, TFD_CLOEXEC);

	if (fd < 0 || timerfd_settime(fd, flags, &its, NULL) != 0) {
		printf("error timerfd %s\n", strerror(errno));
		exit(2);
	}
	return fd;
}

/* Sizes the compiler cannot see, so that a _FORTIFY_SOURCE build calls
 * __read_chk and __poll_chk (test_advance_wake.py builds it so too). */
static volatile size_t eight = sizeof(uint64_t);
static volatile nfds_t one = 1;

/* read() the timerfd: "expired N", or the error (ECANCELED). */
static int read_timerfd(int fd)
{
	uint64_t n;
	char what[32];

	if (read(fd, &n, eight) != sizeof(n))
		return done("", errno);
	snprintf(what, sizeof(what), "expired%llu", (unsigned long long)n);
	return done(what, 0);
}

static int timerfd_case(clockid_t clock, int flags, const char *how)
{
	int fd = armed_timerfd(clock, flags, strcmp(how, "periodic") == 0 ? 60 * NSEC_PER_SEC : 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct epoll_event ev = { .events = EPOLLIN }, got;

	ready();
	if (strcmp(how, "poll") == 0 && poll(&pfd, one, -1) != 1)
		return done("", errno);
	if (strcmp(how, "epoll") == 0) {
		int ep = epoll_create1(EPOLL_CLOEXEC);

		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0 || epoll_wait(ep, &got, 1, -1) != 1)
			return done("", errno);
	}
	return read_timerfd(fd);
}

static volatile sig_atomic_t fired;

static void on_alarm(int sig)
{
	(void)sig;
	fired = 1;
}

/* A POSIX timer 30 min ahead that signals SIGALRM; then wait for it in
 * an endless poll, in sleep (a signal ends either), or in sigwaitinfo. */
static int posix_timer_case(clockid_t clock, int flags, const char *how)
{
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM };
	struct itimerspec its = { .it_value = flags ? ns_deadline(clock, WAIT_NS) : ns_ts(WAIT_NS) };
	sigset_t alarm;
	timer_t id;

	signal(SIGALRM, on_alarm);
	sigemptyset(&alarm);
	sigaddset(&alarm, SIGALRM);
	if (strcmp(how, "sigwait") == 0)
		sigprocmask(SIG_BLOCK, &alarm, NULL);
	if (timer_create(clock, &sev, &id) != 0 || timer_settime(id, flags, &its, NULL) != 0) {
		printf("error timer %s\n", strerror(errno));
		exit(2);
	}
	ready();
	if (strcmp(how, "sleep") == 0)
		return done(sleep(6 * WAIT_NS / NSEC_PER_SEC) > 0 && fired ? "fired" : "slept", 0);
	if (strcmp(how, "sigwait") == 0)
		return done("fired", sigwaitinfo(&alarm, NULL) == SIGALRM ? 0 : errno);
	while (!fired)
		if (poll(NULL, 0, -1) != 0 && errno != EINTR)
			return done("", errno);
	return done("fired", 0);
}

/* A timerfd and a POSIX timer 2 h ahead (relative, MONOTONIC); once a
 * line comes on stdin, the seconds each has left. */
static int gettime_case(void)
{
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };
	struct itimerspec its = { .it_value = ns_ts(4 * WAIT_NS) }, left;
	int fd = armed_timerfd(CLOCK_MONOTONIC, 0, 0);
	timer_t id;
	char line[16];

	if (timerfd_settime(fd, 0, &its, NULL) != 0 || timer_create(CLOCK_MONOTONIC, &sev, &id) != 0 ||
	    timer_settime(id, 0, &its, NULL) != 0) {
		printf("error timer %s\n", strerror(errno));
		return 2;
	}
	ready();
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 2;
	timerfd_gettime(fd, &left);
	printf("timerfd_left %lld\n", (long long)left.it_value.tv_sec);
	timer_gettime(id, &left);
	printf("timer_left %lld\n", (long long)left.it_value.tv_sec);
	return 0;
}

static int cond_case(clockid_t clock)
{
	pthread_condattr_t attr;
	pthread_cond_t cond;
	pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
	struct timespec when;
	int err;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, clock);
	pthread_cond_init(&cond, &attr);
	pthread_mutex_lock(&mutex);
	when = ns_deadline(clock, WAIT_NS);
	ready();
	do
		err = pthread_cond_timedwait(&cond, &mutex, &when);
	while (err == 0);  /* spurious wakeups */
	return done("", err);
}

static int sem_case(void)
{
	sem_t sem;
	struct timespec when = ns_deadline(CLOCK_REALTIME, WAIT_NS);

	sem_init(&sem, 0, 0);
	ready();
	return done("", sem_timedwait(&sem, &when) == 0 ? 0 : errno);
}

static int timeout_case(const char *how)
{
	int ms = (int)(WAIT_NS / NSEC_PER_MSEC), ret = -1;
	struct epoll_event got;
	struct timeval tv = { .tv_sec = WAIT_NS / NSEC_PER_SEC };
	struct timespec ts = ns_ts(WAIT_NS);
	int ep = epoll_create1(EPOLL_CLOEXEC);

	ready();
	if (strcmp(how, "poll") == 0)
		ret = poll(NULL, 0, ms);
	else if (strcmp(how, "ppoll") == 0)
		ret = ppoll(NULL, 0, &ts, NULL);
	else if (strcmp(how, "epoll") == 0)
		ret = epoll_wait(ep, &got, 1, ms);
	else if (strcmp(how, "select") == 0)
		ret = select(0, NULL, NULL, NULL, &tv);
	else if (strcmp(how, "pselect") == 0)
		ret = pselect(0, NULL, NULL, NULL, &ts, NULL);
	return done(ret == 0 ? "0" : "", ret == 0 ? 0 : ret < 0 ? errno : EEXIST);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* SIGUSR1 gets a handler, restarting (SA_RESTART) or not. */
static void catch_usr1(int restart)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0 };

	sigaction(SIGUSR1, &sa, NULL);
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	struct timespec req = ns_ts(WAIT_NS);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(c, "sleep_abs_monotonic") == 0)
		return sleep_case(CLOCK_MONOTONIC, TIMER_ABSTIME);
	if (strcmp(c, "sleep_abs_realtime") == 0)
		return sleep_case(CLOCK_REALTIME, TIMER_ABSTIME);
	if (strcmp(c, "sleep_abs_boottime") == 0)
		return sleep_case(CLOCK_BOOTTIME, TIMER_ABSTIME);
	if (strcmp(c, "sleep_rel_monotonic") == 0)
		return sleep_case(CLOCK_MONOTONIC, 0);
	if (strcmp(c, "sleep_rel_realtime") == 0)
		return sleep_case(CLOCK_REALTIME, 0);
	if (strcmp(c, "nanosleep") == 0) {
		ready();
		return done("0", nanosleep(&req, NULL) == 0 ? 0 : errno);
	}
	if (strcmp(c, "sleep") == 0) {
		ready();
		return done("0", sleep(WAIT_NS / NSEC_PER_SEC) == 0 ? 0 : EINTR);
	}
	if (strcmp(c, "thrd_sleep") == 0) {
		ready();
		return done("0", thrd_sleep(&req, NULL) == 0 ? 0 : EINTR);
	}
	if (strcmp(c, "usleep") == 0) {
		ready();
		return done("0", usleep(WAIT_NS / 1000) == 0 ? 0 : errno);
	}
	if (strcmp(c, "timerfd_abs_realtime_read") == 0)
		return timerfd_case(CLOCK_REALTIME, TFD_TIMER_ABSTIME, "read");
	if (strcmp(c, "timerfd_abs_realtime_poll") == 0)
		return timerfd_case(CLOCK_REALTIME, TFD_TIMER_ABSTIME, "poll");
	if (strcmp(c, "timerfd_abs_realtime_epoll") == 0)
		return timerfd_case(CLOCK_REALTIME, TFD_TIMER_ABSTIME, "epoll");
	if (strcmp(c, "timerfd_abs_monotonic_read") == 0)
		return timerfd_case(CLOCK_MONOTONIC, TFD_TIMER_ABSTIME, "read");
	if (strcmp(c, "timerfd_abs_monotonic_epoll") == 0)
		return timerfd_case(CLOCK_MONOTONIC, TFD_TIMER_ABSTIME, "epoll");
	if (strcmp(c, "timerfd_rel_monotonic_read") == 0)
		return timerfd_case(CLOCK_MONOTONIC, 0, "read");
	if (strcmp(c, "timerfd_periodic") == 0)  /* 30 min, then every minute */
		return timerfd_case(CLOCK_MONOTONIC, 0, "periodic");
	if (strcmp(c, "timerfd_cancel_read") == 0)
		return timerfd_case(CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, "read");
	if (strcmp(c, "timerfd_cancel_poll") == 0)
		return timerfd_case(CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, "poll");
	if (strcmp(c, "timerfd_cancel_epoll") == 0)
		return timerfd_case(CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, "epoll");
	if (strcmp(c, "posix_timer_abs_realtime") == 0)
		return posix_timer_case(CLOCK_REALTIME, TIMER_ABSTIME, "poll");
	if (strcmp(c, "posix_timer_rel_monotonic") == 0)
		return posix_timer_case(CLOCK_MONOTONIC, 0, "poll");
	if (strcmp(c, "posix_timer_in_sleep") == 0)  /* sleep ends early, by the signal */
		return posix_timer_case(CLOCK_MONOTONIC, 0, "sleep");
	if (strcmp(c, "posix_timer_sigwait") == 0)
		return posix_timer_case(CLOCK_MONOTONIC, 0, "sigwait");
	if (strcmp(c, "gettime") == 0)
		return gettime_case();
	if (strcmp(c, "cond_realtime") == 0)
		return cond_case(CLOCK_REALTIME);
	if (strcmp(c, "cond_monotonic") == 0)
		return cond_case(CLOCK_MONOTONIC);
	if (strcmp(c, "sem_realtime") == 0)
		return sem_case();
	if (strcmp(c, "signal_epoll") == 0) {  /* a signal ends it: EINTR */
		catch_usr1(1);
		return timeout_case("epoll");
	}
	if (strcmp(c, "signal_timerfd_restart") == 0) {  /* a signal does not end it */
		catch_usr1(1);
		return timerfd_case(CLOCK_MONOTONIC, 0, "read");
	}
	if (strcmp(c, "signal_timerfd_eintr") == 0) {  /* without SA_RESTART it does */
		catch_usr1(0);
		return timerfd_case(CLOCK_MONOTONIC, 0, "read");
	}
	if (strncmp(c, "timeout_", 8) == 0)
		return timeout_case(c + 8);
	printf("error unknown case %s\n", c);
	return 2;
}
