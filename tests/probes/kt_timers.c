/*
 * kt_timers: timerfd and POSIX timers on MONOTONIC, BOOTTIME and
 * BOOTTIME_ALARM inside a time namespace. Absolute deadlines are given in
 * namespace time; the kernel must convert them to host time.
 *
 *   kt_timers MONO_OFFSET_NS BOOT_OFFSET_NS
 *
 * For each API (timerfd, posix) and clock it checks:
 *   rel3600  relative 3600 s timer: the remaining time reads about 3600 s
 *   abs3600  absolute now+3600 s: the remaining time reads about 3600 s
 *   abs100ms absolute now+100 ms: remaining is at most 100 ms at once, and
 *            the timer fires no earlier than the deadline and at most
 *            300 ms after it (not at once, not days later)
 *   host     absolute deadline of host now+100 ms (namespace now minus the
 *            offset): remaining is what namespace time says, i.e. the timer
 *            is already due for a positive offset
 */
#include "kt_common.h"

#include <poll.h>
#include <signal.h>
#include <sys/timerfd.h>

#define LATE_NS (300 * NSEC_PER_MSEC)

struct clk {
	clockid_t id;
	clockid_t read_id;	/* the clock to read "now" from */
	const char *name;
	int64_t offset;
};

/* One timer, whichever API: set, read back, wait. */
struct timer_ops {
	const char *name;
	int (*create)(clockid_t id, int notify, void **handle);
	int (*set)(void *handle, int abs, const struct itimerspec *its);
	int (*get)(void *handle, struct itimerspec *its);
	int (*wait)(void *handle, int64_t timeout_ns);	/* 0 fired, 1 not, -1 error */
	void (*destroy)(void *handle);
};

static int tfd_create(clockid_t id, int notify, void **handle)
{
	int fd = timerfd_create(id, TFD_CLOEXEC);

	(void)notify;
	if (fd < 0)
		return -1;
	*handle = (void *)(intptr_t)fd;
	return 0;
}

static int tfd_set(void *h, int abs, const struct itimerspec *its)
{
	return timerfd_settime((int)(intptr_t)h, abs ? TFD_TIMER_ABSTIME : 0, its, NULL);
}

static int tfd_get(void *h, struct itimerspec *its)
{
	return timerfd_gettime((int)(intptr_t)h, its);
}

static int tfd_wait(void *h, int64_t timeout_ns)
{
	struct pollfd pfd = { .fd = (int)(intptr_t)h, .events = POLLIN };
	uint64_t ticks;
	int n = poll(&pfd, 1, (int)(timeout_ns / NSEC_PER_MSEC));

	if (n < 0)
		return -1;
	if (n == 0)
		return 1;
	return read(pfd.fd, &ticks, sizeof(ticks)) == sizeof(ticks) ? 0 : -1;
}

static void tfd_destroy(void *h)
{
	close((int)(intptr_t)h);
}

static int ptimer_create(clockid_t id, int notify, void **handle)
{
	struct sigevent sev = { .sigev_notify = notify ? SIGEV_SIGNAL : SIGEV_NONE,
				.sigev_signo = SIGRTMIN };
	timer_t *t = malloc(sizeof(*t));

	if (timer_create(id, &sev, t)) {
		free(t);
		return -1;
	}
	*handle = t;
	return 0;
}

static int ptimer_set(void *h, int abs, const struct itimerspec *its)
{
	return timer_settime(*(timer_t *)h, abs ? TIMER_ABSTIME : 0, its, NULL);
}

static int ptimer_get(void *h, struct itimerspec *its)
{
	return timer_gettime(*(timer_t *)h, its);
}

static int ptimer_wait(void *h, int64_t timeout_ns)
{
	struct timespec ts = ns_ts(timeout_ns);
	sigset_t set;
	int sig;

	(void)h;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sig = sigtimedwait(&set, NULL, &ts);
	if (sig == SIGRTMIN)
		return 0;
	return errno == EAGAIN ? 1 : -1;
}

static void ptimer_destroy(void *h)
{
	timer_delete(*(timer_t *)h);
	free(h);
}

static const struct timer_ops apis[] = {
	{ "timerfd", tfd_create, tfd_set, tfd_get, tfd_wait, tfd_destroy },
	{ "posix", ptimer_create, ptimer_set, ptimer_get, ptimer_wait, ptimer_destroy },
};

static void check_3600(const struct timer_ops *api, const struct clk *c, int abs)
{
	struct itimerspec its = { .it_value = { 3600, 0 }, .it_interval = { 1, 0 } };
	char name[96];
	void *h;
	int64_t left;

	snprintf(name, sizeof(name), "%s-%s-%s3600", api->name, c->name, abs ? "abs" : "rel");
	if (api->create(c->id, 0, &h))
		return kt_check(0, name, "create: %s", strerror(errno));
	if (abs)
		its.it_value = ns_ts(libc_ns(c->read_id) + 3600 * NSEC_PER_SEC);
	if (api->set(h, abs, &its) || api->get(h, &its)) {
		kt_check(0, name, "set/get: %s", strerror(errno));
	} else {
		left = ts_ns(&its.it_value);
		kt_check(left > 3540 * NSEC_PER_SEC && left <= 3600 * NSEC_PER_SEC, name,
			 "remaining %lld ns, expected about 3600 s", (long long)left);
	}
	api->destroy(h);
}

static void check_abs100ms(const struct timer_ops *api, const struct clk *c)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	int64_t deadline, left, after;
	char name[96];
	void *h;
	int r;

	snprintf(name, sizeof(name), "%s-%s-abs100ms", api->name, c->name);
	if (api->create(c->id, 1, &h))
		return kt_check(0, name, "create: %s", strerror(errno));
	deadline = libc_ns(c->read_id) + 100 * NSEC_PER_MSEC;
	its.it_value = ns_ts(deadline);
	if (api->set(h, 1, &its) || api->get(h, &its)) {
		kt_check(0, name, "set/get: %s", strerror(errno));
		return api->destroy(h);
	}
	left = ts_ns(&its.it_value);
	r = api->wait(h, 2 * NSEC_PER_SEC);
	after = libc_ns(c->read_id);
	if (r)
		kt_check(0, name, "did not fire within 2 s of a 100 ms deadline (%s)",
			 r < 0 ? strerror(errno) : "timeout");
	else
		kt_check(left > 0 && left <= 100 * NSEC_PER_MSEC && after >= deadline &&
				 after - deadline < LATE_NS,
			 name, "remaining at start %lld ns; fired %lld ns after the deadline",
			 (long long)left, (long long)(after - deadline));
	api->destroy(h);
}

static void check_host_deadline(const struct timer_ops *api, const struct clk *c)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	int64_t expect, left;
	char name[96];
	void *h;

	snprintf(name, sizeof(name), "%s-%s-host", api->name, c->name);
	if (api->create(c->id, 0, &h))
		return kt_check(0, name, "create: %s", strerror(errno));
	its.it_value = ns_ts(libc_ns(c->read_id) - c->offset + 100 * NSEC_PER_MSEC);
	if (its.it_value.tv_sec < 0) {
		kt_skip(name, "host time is before the clock's epoch");
		return api->destroy(h);
	}
	if (api->set(h, 1, &its) || api->get(h, &its)) {
		kt_check(0, name, "set/get: %s", strerror(errno));
		return api->destroy(h);
	}
	left = ts_ns(&its.it_value);
	expect = 100 * NSEC_PER_MSEC - c->offset;
	if (expect <= 0)
		kt_check(left == 0, name, "a deadline %lld ns in the past still has %lld ns left",
			 (long long)-expect, (long long)left);
	else
		kt_check(llabs(left - expect) < 50 * NSEC_PER_MSEC, name,
			 "remaining %lld ns, expected %lld ns", (long long)left, (long long)expect);
	api->destroy(h);
}

int main(int argc, char **argv)
{
	struct clk clks[] = {
		{ CLOCK_MONOTONIC, CLOCK_MONOTONIC, "MONOTONIC", 0 },
		{ CLOCK_BOOTTIME, CLOCK_BOOTTIME, "BOOTTIME", 0 },
		{ CLOCK_BOOTTIME_ALARM, CLOCK_BOOTTIME, "BOOTTIME_ALARM", 0 },
	};
	sigset_t set;
	size_t a, i;
	void *h;

	if (argc != 3) {
		fprintf(stderr, "usage: kt_timers MONO_OFFSET_NS BOOT_OFFSET_NS\n");
		return 2;
	}
	clks[0].offset = strtoll(argv[1], NULL, 10);
	clks[1].offset = clks[2].offset = strtoll(argv[2], NULL, 10);

	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, NULL);

	for (a = 0; a < sizeof(apis) / sizeof(apis[0]); a++) {
		for (i = 0; i < sizeof(clks) / sizeof(clks[0]); i++) {
			const struct timer_ops *api = &apis[a];
			const struct clk *c = &clks[i];

			if (c->id == CLOCK_BOOTTIME_ALARM) {
				char name[64];

				snprintf(name, sizeof(name), "%s-%s", api->name, c->name);
				if (api->create(c->id, 0, &h)) {
					kt_skip(name, strerror(errno));
					continue;
				}
				api->destroy(h);
			}
			check_3600(api, c, 0);
			check_3600(api, c, 1);
			check_abs100ms(api, c);
			check_host_deadline(api, c);
		}
	}
	return kt_failed;
}
