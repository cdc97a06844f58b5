/*
 * rt_deadline CASE: one call with an absolute deadline 1 s ahead, read from
 * the clock the program sees (namespace time for REALTIME), that has to
 * time out. Prints "ret RESULT" and "elapsed NS" (host MONOTONIC, raw).
 * Whatever the REALTIME offset, elapsed must be about 1 s. Cases that the
 * machine cannot run print "skip WHY".
 */
#include "rt_common.h"

#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/timerfd.h>

#define SECOND NSEC_PER_SEC

static int64_t started;
static const char *result = "?";

static void begin(void)
{
	started = host_ns(CLOCK_MONOTONIC);
}

static void finish(void)
{
	int64_t elapsed = host_ns(CLOCK_MONOTONIC) - started;

	printf("ret %s\nelapsed %lld\n", result, (long long)elapsed);
}

static const char *err_name(int err)
{
	switch (err) {
	case 0: return "0";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	case EINTR: return "EINTR";
	default: return strerror(err);
	}
}

static void skip(const char *why)
{
	printf("skip %s\n", why);
	exit(0);
}

/* --- sleeps and timers ---------------------------------------------------- */

/* REALTIME_ALARM runs on REALTIME's timeline but can only be read with an RTC. */
static clockid_t readable(clockid_t clock)
{
	return clock == CLOCK_REALTIME_ALARM ? CLOCK_REALTIME : clock;
}

static void sleep_until(clockid_t clock, int flags)
{
	struct timespec when = flags ? ns_deadline(readable(clock), SECOND)
				     : (struct timespec){ .tv_sec = 1 };
	int err;

	begin();
	err = clock_nanosleep(clock, flags, &when, NULL);
	if (err == ENOTSUP || err == EPERM || err == EINVAL)
		skip(err_name(err));
	result = err_name(err);
	finish();
}

static void timerfd_until(clockid_t clock)
{
	struct itimerspec its = { .it_value = ns_deadline(readable(clock), SECOND) };
	uint64_t expirations;
	int fd = timerfd_create(clock, TFD_CLOEXEC);

	if (fd < 0)
		skip(strerror(errno));
	begin();
	if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
		result = err_name(errno);
	} else {
		struct itimerspec left;

		/* What is read back is the time left: about 1 s, never an offset. */
		if (timerfd_gettime(fd, &left) == 0 && (left.it_value.tv_sec > 1 || left.it_value.tv_sec < 0))
			printf("error timerfd_gettime left %lld s\n", (long long)left.it_value.tv_sec);
		result = read(fd, &expirations, sizeof(expirations)) == 8 ? "0" : err_name(errno);
	}
	finish();
}

static void timer_until(clockid_t clock)
{
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN };
	struct itimerspec its, left;
	struct timespec limit = { .tv_sec = 10 };
	sigset_t set;
	timer_t timer;

	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (timer_create(clock, &sev, &timer) != 0)
		skip(strerror(errno));
	memset(&its, 0, sizeof(its));
	its.it_value = ns_deadline(clock, SECOND);
	begin();
	if (timer_settime(timer, TIMER_ABSTIME, &its, NULL) != 0) {
		result = err_name(errno);
	} else {
		if (timer_gettime(timer, &left) == 0 && (left.it_value.tv_sec > 1 || left.it_value.tv_sec < 0))
			printf("error timer_gettime left %lld s\n", (long long)left.it_value.tv_sec);
		result = sigtimedwait(&set, NULL, &limit) == SIGRTMIN ? "0" : err_name(errno);
	}
	finish();
	timer_delete(timer);
}

/* --- condition variables ------------------------------------------------- */

static void cond_wait(clockid_t attr_clock, int clockwait, clockid_t clock)
{
	pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
	pthread_condattr_t attr;
	pthread_cond_t cond;
	struct timespec when;
	int err;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, attr_clock);
	pthread_cond_init(&cond, &attr);
	pthread_mutex_lock(&mutex);
	when = ns_deadline(clockwait ? clock : attr_clock, SECOND);
	begin();
	err = clockwait ? pthread_cond_clockwait(&cond, &mutex, clock, &when)
			: pthread_cond_timedwait(&cond, &mutex, &when);
	result = err_name(err);
	finish();
}

/* --- locks held by the main thread, waited for by another ----------------- */

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rwlock = PTHREAD_RWLOCK_INITIALIZER;
static sem_t sem;
static const char *lock_case;

static void *lock_waiter(void *arg)
{
	struct timespec when = ns_deadline(CLOCK_REALTIME, SECOND);
	const char *c = lock_case;
	int err;

	(void)arg;
	begin();
	if (!strcmp(c, "mutex_timedlock"))
		err = pthread_mutex_timedlock(&mutex, &when);
	else if (!strcmp(c, "mutex_clocklock"))
		err = pthread_mutex_clocklock(&mutex, CLOCK_REALTIME, &when);
	else if (!strcmp(c, "rwlock_timedrdlock"))
		err = pthread_rwlock_timedrdlock(&rwlock, &when);
	else if (!strcmp(c, "rwlock_timedwrlock"))
		err = pthread_rwlock_timedwrlock(&rwlock, &when);
	else if (!strcmp(c, "rwlock_clockrdlock"))
		err = pthread_rwlock_clockrdlock(&rwlock, CLOCK_REALTIME, &when);
	else if (!strcmp(c, "rwlock_clockwrlock"))
		err = pthread_rwlock_clockwrlock(&rwlock, CLOCK_REALTIME, &when);
	else if (!strcmp(c, "sem_timedwait"))
		err = sem_timedwait(&sem, &when) ? errno : 0;
	else if (!strcmp(c, "sem_clockwait"))
		err = sem_clockwait(&sem, CLOCK_REALTIME, &when) ? errno : 0;
	else
		err = ENOSYS;
	result = err_name(err);
	finish();
	return NULL;
}

static int lock_wait(const char *c)
{
	pthread_t thread;

	lock_case = c;
	sem_init(&sem, 0, 0);
	pthread_mutex_lock(&mutex);
	if (!strncmp(c, "rwlock_clockrd", 14) || !strncmp(c, "rwlock_timedrd", 14))
		pthread_rwlock_wrlock(&rwlock);
	else
		pthread_rwlock_rdlock(&rwlock);
	pthread_create(&thread, NULL, lock_waiter, NULL);
	pthread_join(thread, NULL);
	return 0;
}

/* --- message queues, joins ------------------------------------------------ */

static void mq_wait(int send)
{
	struct mq_attr attr = { .mq_maxmsg = 1, .mq_msgsize = 8 };
	char name[64], buf[8] = "x";
	struct timespec when;
	mqd_t q;
	int ok;

	snprintf(name, sizeof(name), "/timens-probe-%d", (int)getpid());
	q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
	if (q == (mqd_t)-1)
		skip(strerror(errno));
	mq_unlink(name);
	if (send && mq_send(q, buf, 1, 0) != 0)
		skip(strerror(errno));  /* now full */
	when = ns_deadline(CLOCK_REALTIME, SECOND);
	begin();
	ok = send ? mq_timedsend(q, buf, 1, 0, &when) == 0
		  : mq_timedreceive(q, buf, sizeof(buf), NULL, &when) >= 0;
	result = ok ? "0" : err_name(errno);
	finish();
}

static int never[2];

static void *blocked(void *arg)
{
	char c;

	(void)arg;
	if (read(never[0], &c, 1) < 0)
		perror("read");
	return NULL;
}

static void join_wait(int clockjoin)
{
	struct timespec when;
	pthread_t thread;
	int err;

	if (pipe(never) != 0)
		skip(strerror(errno));
	pthread_create(&thread, NULL, blocked, NULL);
	when = ns_deadline(CLOCK_REALTIME, SECOND);
	begin();
	err = clockjoin ? pthread_clockjoin_np(thread, NULL, CLOCK_REALTIME, &when)
			: pthread_timedjoin_np(thread, NULL, &when);
	result = err_name(err);
	finish();
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (!strcmp(c, "clock_nanosleep_realtime"))
		sleep_until(CLOCK_REALTIME, TIMER_ABSTIME);
	else if (!strcmp(c, "clock_nanosleep_tai"))
		sleep_until(CLOCK_TAI, TIMER_ABSTIME);
	else if (!strcmp(c, "clock_nanosleep_alarm"))
		sleep_until(CLOCK_REALTIME_ALARM, TIMER_ABSTIME);
	else if (!strcmp(c, "clock_nanosleep_monotonic"))
		sleep_until(CLOCK_MONOTONIC, TIMER_ABSTIME);
	else if (!strcmp(c, "clock_nanosleep_relative"))
		sleep_until(CLOCK_REALTIME, 0);
	else if (!strcmp(c, "timerfd_realtime"))
		timerfd_until(CLOCK_REALTIME);
	else if (!strcmp(c, "timerfd_alarm"))
		timerfd_until(CLOCK_REALTIME_ALARM);
	else if (!strcmp(c, "timerfd_monotonic"))
		timerfd_until(CLOCK_MONOTONIC);
	else if (!strcmp(c, "timer_realtime"))
		timer_until(CLOCK_REALTIME);
	else if (!strcmp(c, "timer_tai"))
		timer_until(CLOCK_TAI);
	else if (!strcmp(c, "timer_monotonic"))
		timer_until(CLOCK_MONOTONIC);
	else if (!strcmp(c, "cond_timedwait"))
		cond_wait(CLOCK_REALTIME, 0, CLOCK_REALTIME);
	else if (!strcmp(c, "cond_timedwait_monotonic"))
		cond_wait(CLOCK_MONOTONIC, 0, CLOCK_MONOTONIC);
	else if (!strcmp(c, "cond_clockwait_realtime"))
		cond_wait(CLOCK_MONOTONIC, 1, CLOCK_REALTIME);
	else if (!strcmp(c, "cond_clockwait_monotonic"))
		cond_wait(CLOCK_REALTIME, 1, CLOCK_MONOTONIC);
	else if (!strcmp(c, "mq_timedsend"))
		mq_wait(1);
	else if (!strcmp(c, "mq_timedreceive"))
		mq_wait(0);
	else if (!strcmp(c, "pthread_timedjoin_np"))
		join_wait(0);
	else if (!strcmp(c, "pthread_clockjoin_np"))
		join_wait(1);
	else
		lock_wait(c);
	fflush(stdout);
	_exit(0);  /* a joined-for thread may still be blocked */
}
