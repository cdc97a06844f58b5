/*
 * rt_page CASE: what the clock page's newer rules change, case by case.
 *
 *   past       deadlines already past fire or return at once:
 *              "timerfd fired|silent", "timer fired|silent", "sleep RET",
 *              "cond RET" (a REALTIME deadline of {0, 1}, as sd-event arms)
 *   forktimer  a child's MONOTONIC timer "now + 100 s" after the parent
 *              made a REALTIME one: "left SECONDS"
 *   lines      per line on stdin, "CLOCK before value after" for REALTIME,
 *              time (its seconds in ns), MONOTONIC, MONOTONIC_RAW and
 *              BOOTTIME (host REALTIME or the same clock read around)
 *   extreme    "CLOCK tv_sec" for REALTIME, MONOTONIC, BOOTTIME, and the
 *              gettimeofday and time() seconds: no overflow near the ends
 *              of time
 *   futex      waits on the page's wake word (TIMENS_PAGE, shared futex):
 *              "waiting", then "woken" or "timeout" after 20 s
 *   sigwrite   clock_settime in a loop for a second while a 20 kHz signal
 *              handler reads REALTIME: a handler that ran while its own
 *              thread's write had seq odd would spin and warn.
 *              "writes N handled N"
 */
#include "rt_common.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include "timens_page.h"

static const struct timespec past = { 0, 1 };

static void past_deadlines(void)
{
	struct itimerspec its = { .it_value = past };
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN };
	struct timespec limit = { .tv_sec = 5 };
	pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	int fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	timer_t timer;
	sigset_t set;

	timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
	printf("timerfd %s\n", poll(&pfd, 1, 5000) == 1 ? "fired" : "silent");
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, NULL);
	timer_create(CLOCK_REALTIME, &sev, &timer);
	timer_settime(timer, TIMER_ABSTIME, &its, NULL);
	printf("timer %s\n", sigtimedwait(&set, NULL, &limit) == SIGRTMIN ? "fired" : "silent");
	printf("sleep %d\n", clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &past, NULL));
	pthread_mutex_lock(&mutex);
	printf("cond %s\n", pthread_cond_timedwait(&cond, &mutex, &past) == ETIMEDOUT
			    ? "ETIMEDOUT" : "other");
}

static void fork_timer(void)
{
	struct sigevent none = { .sigev_notify = SIGEV_NONE };
	struct itimerspec its = { 0 }, left;
	timer_t parent, child;
	int status;

	timer_create(CLOCK_REALTIME, &none, &parent);
	fflush(stdout);
	if (fork() == 0) {
		timer_create(CLOCK_MONOTONIC, &none, &child);
		its.it_value = ns_deadline(CLOCK_MONOTONIC, 100 * NSEC_PER_SEC);
		timer_settime(child, TIMER_ABSTIME, &its, NULL);
		timer_gettime(child, &left);
		printf("left %lld\n", (long long)left.it_value.tv_sec);
		fflush(stdout);
		_exit(0);
	}
	wait(&status);
}

static void bracket(const char *name, clockid_t id)
{
	int64_t before = host_ns(id), value = libc_ns(id), after = host_ns(id);

	printf("%s %lld %lld %lld\n", name, (long long)before, (long long)value, (long long)after);
}

static void lines(void)
{
	char line[64];
	int64_t before, after;
	time_t t;

	while (fgets(line, sizeof(line), stdin)) {
		bracket("REALTIME", CLOCK_REALTIME);
		before = host_ns(CLOCK_REALTIME);
		t = time(NULL);
		after = host_ns(CLOCK_REALTIME);
		printf("time %lld %lld %lld\n", (long long)before, (long long)t * NSEC_PER_SEC, (long long)after);
		bracket("MONOTONIC", CLOCK_MONOTONIC);
		bracket("MONOTONIC_RAW", CLOCK_MONOTONIC_RAW);
		bracket("BOOTTIME", CLOCK_BOOTTIME);
		printf("end\n");
		fflush(stdout);
	}
}

static void extreme(void)
{
	static const struct { const char *name; clockid_t id; } clocks[] = {
		{ "REALTIME", CLOCK_REALTIME }, { "MONOTONIC", CLOCK_MONOTONIC },
		{ "BOOTTIME", CLOCK_BOOTTIME },
	};
	struct timespec ts;
	struct timeval tv;

	for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		clock_gettime(clocks[i].id, &ts);
		printf("%s %lld %ld\n", clocks[i].name, (long long)ts.tv_sec, ts.tv_nsec);
	}
	gettimeofday(&tv, NULL);
	printf("gettimeofday %lld %ld\n", (long long)tv.tv_sec, (long)tv.tv_usec);
	printf("time %lld\n", (long long)time(NULL));
}

static void futex_wait(void)
{
	struct timespec limit = { .tv_sec = 20 };
	int fd = open(getenv("TIMENS_PAGE"), O_RDONLY | O_CLOEXEC);
	struct timens_page *p = mmap(NULL, TIMENS_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	uint32_t wake = __atomic_load_n(&p->wake, __ATOMIC_ACQUIRE);
	long ret;

	printf("waiting\n");
	fflush(stdout);
	do
		ret = syscall(SYS_futex, &p->wake, FUTEX_WAIT, wake, &limit, NULL, 0);
	while (ret != 0 && errno == EINTR);
	printf("%s\n", ret == 0 ? "woken" : errno == EAGAIN ? "changed" : "timeout");
}

static volatile sig_atomic_t handled;

static void read_in_handler(int sig)
{
	struct timespec ts;

	(void)sig;
	clock_gettime(CLOCK_REALTIME, &ts);
	handled++;
}

static void signal_while_writing(void)
{
	struct itimerval every = { .it_interval = { 0, 50 }, .it_value = { 0, 50 } };
	int64_t end = host_ns(CLOCK_MONOTONIC) + NSEC_PER_SEC;
	struct sigaction sa = { .sa_handler = read_in_handler, .sa_flags = SA_RESTART };
	long writes = 0;
	struct timespec ts;

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &every, NULL);
	while (host_ns(CLOCK_MONOTONIC) < end) {
		clock_gettime(CLOCK_REALTIME, &ts);
		if (clock_settime(CLOCK_REALTIME, &ts) == 0)
			writes++;
	}
	every.it_value.tv_usec = every.it_interval.tv_usec = 0;
	setitimer(ITIMER_REAL, &every, NULL);
	printf("writes %ld handled %ld\n", writes, (long)handled);
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (!strcmp(c, "past"))
		past_deadlines();
	else if (!strcmp(c, "forktimer"))
		fork_timer();
	else if (!strcmp(c, "lines"))
		lines();
	else if (!strcmp(c, "extreme"))
		extreme();
	else if (!strcmp(c, "sigwrite"))
		signal_while_writing();
	else if (!strcmp(c, "futex"))
		futex_wait();
	else
		return 2;
	return 0;
}
