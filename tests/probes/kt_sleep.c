/*
 * kt_sleep: clock_nanosleep inside a time namespace, on MONOTONIC,
 * BOOTTIME and BOOTTIME_ALARM, absolute (deadline in namespace time, which
 * the kernel converts) and relative.
 *
 *   abs100ms  sleep until now+100 ms: wakes no earlier than the deadline
 *             and less than 300 ms after it
 *   abs3600   sleep until now+3600 s, interrupted by a signal after 50 ms:
 *             returns EINTR (not 0, which would mean the deadline was
 *             already past)
 *   rel3600   sleep 3600 s, interrupted likewise: the remaining time is
 *             between 3300 s and 3900 s
 */
#include "kt_common.h"

#include <signal.h>

static void on_signal(int sig)
{
	(void)sig;
}

/* Send SIGUSR1 to this process in 50 ms, from a relative timer. */
static void interrupt_soon(timer_t timer)
{
	struct itimerspec its = { .it_value = { 0, 50 * NSEC_PER_MSEC } };

	timer_settime(timer, 0, &its, NULL);
}

static void check_clock(clockid_t id, clockid_t read_id, const char *cname, timer_t timer)
{
	struct timespec ts, rem = { 0, 0 };
	int64_t deadline, after;
	char name[64];
	int r;

	snprintf(name, sizeof(name), "%s-abs100ms", cname);
	deadline = libc_ns(read_id) + 100 * NSEC_PER_MSEC;
	ts = ns_ts(deadline);
	r = clock_nanosleep(id, TIMER_ABSTIME, &ts, NULL);
	if (r == EOPNOTSUPP || r == ENOTSUP || (r == EINVAL && id == CLOCK_BOOTTIME_ALARM)) {
		printf("skip %s: %s\n", cname, strerror(r));
		return;
	}
	after = libc_ns(read_id);
	kt_check(r == 0 && after >= deadline && after - deadline < 300 * NSEC_PER_MSEC, name,
		 "returned %d, woke %lld ns after the deadline", r, (long long)(after - deadline));

	snprintf(name, sizeof(name), "%s-abs3600", cname);
	ts = ns_ts(libc_ns(read_id) + 3600 * NSEC_PER_SEC);
	interrupt_soon(timer);
	r = clock_nanosleep(id, TIMER_ABSTIME, &ts, NULL);
	kt_check(r == EINTR, name, "returned %d (%s), expected EINTR", r, strerror(r));

	snprintf(name, sizeof(name), "%s-rel3600", cname);
	ts.tv_sec = 3600;
	ts.tv_nsec = 0;
	interrupt_soon(timer);
	r = clock_nanosleep(id, 0, &ts, &rem);
	kt_check(r == EINTR && rem.tv_sec >= 3300 && rem.tv_sec <= 3900, name,
		 "returned %d, remaining %ld s", r, (long)rem.tv_sec);
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART */
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
	timer_t timer;

	sigaction(SIGUSR1, &sa, NULL);
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer)) {
		perror("timer_create");
		return 2;
	}
	check_clock(CLOCK_MONOTONIC, CLOCK_MONOTONIC, "MONOTONIC", timer);
	check_clock(CLOCK_BOOTTIME, CLOCK_BOOTTIME, "BOOTTIME", timer);
	check_clock(CLOCK_BOOTTIME_ALARM, CLOCK_BOOTTIME, "BOOTTIME_ALARM", timer);
	return kt_failed;
}
