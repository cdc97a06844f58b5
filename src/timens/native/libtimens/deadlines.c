/*
 * deadlines.c - absolute REALTIME deadlines, from namespace to host time.
 *
 * A program computes an absolute deadline from the clock it reads, which
 * is namespace time; the kernel waits on host time. Every call that takes
 * an absolute REALTIME (or REALTIME_ALARM, TAI) deadline gets it converted
 * (deadline - offset) before the real call. Relative timeouts, other
 * clocks and the values read back (timerfd_gettime, timer_gettime: the
 * remaining time) need nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "libc.h"
#include "libtimens.h"

const struct timespec *timens_host_deadline(const struct timespec *abs,
					    struct timespec *buf)
{
	struct timespec off;

	if (abs == NULL || abs->tv_nsec < 0 || abs->tv_nsec >= TIMENS_NSEC_PER_SEC)
		return abs;
	if (!timens_realtime_offset(&off))
		return abs;
	if (__builtin_sub_overflow(abs->tv_sec, off.tv_sec, &buf->tv_sec)) {
		/* Only a deadline near the ends of time_t gets here. */
		buf->tv_sec = off.tv_sec > 0 ? -1 : (time_t)INT64_MAX;
		buf->tv_nsec = abs->tv_nsec;
	} else {
		buf->tv_nsec = abs->tv_nsec - off.tv_nsec;
		if (buf->tv_nsec < 0) {
			buf->tv_nsec += TIMENS_NSEC_PER_SEC;
			buf->tv_sec = buf->tv_sec > 0 ? buf->tv_sec - 1 : -1;
		}
	}
	if (buf->tv_sec < 0) {
		buf->tv_sec = 0;
		buf->tv_nsec = 0;
	}
	return buf;
}

/* The deadline to hand on for a clock: converted only for REALTIME ones. */
static const struct timespec *deadline_on(clockid_t id, const struct timespec *abs,
					  struct timespec *buf)
{
	if (!timens_clock_in(id, TIMENS_DEADLINE_CLOCKS))
		return abs;
	return timens_host_deadline(abs, buf);
}

/* --- sleeps and timers --------------------------------------------------- */

TIMENS_EXPORT int clock_nanosleep(clockid_t id, int flags, const struct timespec *req,
				  struct timespec *rem)
{
	static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);
	struct timespec buf;

	if (flags & TIMER_ABSTIME)
		req = deadline_on(id, req, &buf);
	return TIMENS_NEXT(next, "clock_nanosleep")(id, flags, req, rem);
}

/* The clock of a timerfd, from /proc/self/fdinfo/FD ("clockid: N"); -1 if
 * unknown. A few syscalls, but this is a timer setting, not a clock read. */
static clockid_t timerfd_clock(int fd)
{
	char path[64] = "/proc/self/fdinfo/", buf[512], *p, *end;
	char digits[12], *d = digits + sizeof(digits) - 1;
	unsigned int v = (unsigned int)fd;
	ssize_t len;
	long id;
	int info;

	if (fd < 0)
		return -1;
	*d = '\0';
	do {
		*--d = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	strcat(path, d);
	info = open(path, O_RDONLY | O_CLOEXEC);
	if (info < 0)
		return -1;
	len = read(info, buf, sizeof(buf) - 1);
	close(info);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	p = strstr(buf, "clockid:");
	if (p == NULL)
		return -1;
	id = strtol(p + strlen("clockid:"), &end, 10);
	return end == p + strlen("clockid:") ? -1 : (clockid_t)id;
}

TIMENS_EXPORT int timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
				  struct itimerspec *old_value)
{
	static int (*next)(int, int, const struct itimerspec *, struct itimerspec *);
	struct itimerspec host;

	if ((flags & TFD_TIMER_ABSTIME) && new_value != NULL &&
	    timens_clock_in(timerfd_clock(fd), TIMENS_DEADLINE_CLOCKS)) {
		host.it_interval = new_value->it_interval;
		host.it_value = *timens_host_deadline(&new_value->it_value, &host.it_value);
		/* A zero it_value disarms the timer; keep it zero. */
		if (new_value->it_value.tv_sec == 0 && new_value->it_value.tv_nsec == 0)
			host.it_value = new_value->it_value;
		new_value = &host;
	}
	return TIMENS_NEXT(next, "timerfd_settime")(fd, flags, new_value, old_value);
}

/*
 * POSIX timers on a REALTIME clock, remembered from timer_create until
 * timer_delete in a fixed table without locks (a slot is claimed with one
 * compare-and-swap). The kernel has no call that tells a timer's clock. If
 * the table is full, a new REALTIME timer is not remembered: its absolute
 * deadlines then pass unconverted (host time) and the process warns once.
 * Timers made before libtimens was loaded are not known either.
 */
#define REALTIME_TIMERS 1024
static uintptr_t realtime_timers[REALTIME_TIMERS];  /* timer_t + 1; 0 = free */

static uintptr_t timer_key(timer_t id)
{
	return (uintptr_t)id + 1;  /* glibc's first timer_t is 0 */
}

static void remember_timer(timer_t id)
{
	uintptr_t key = timer_key(id);

	for (size_t i = 0; i < REALTIME_TIMERS; i++) {
		uintptr_t free_slot = 0;

		if (__atomic_compare_exchange_n(&realtime_timers[i], &free_slot, key, 0,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return;
	}
	timens_warn_once("too many REALTIME timers to track",
			 "absolute deadlines of the newest pass unconverted");
}

/* Forget id; returns whether it was a remembered REALTIME timer. */
static int forget_timer(timer_t id)
{
	uintptr_t key = timer_key(id);

	for (size_t i = 0; i < REALTIME_TIMERS; i++) {
		uintptr_t found = key;

		if (__atomic_compare_exchange_n(&realtime_timers[i], &found, 0, 0,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return 1;
	}
	return 0;
}

static int is_realtime_timer(timer_t id)
{
	uintptr_t key = timer_key(id);

	for (size_t i = 0; i < REALTIME_TIMERS; i++)
		if (__atomic_load_n(&realtime_timers[i], __ATOMIC_RELAXED) == key)
			return 1;
	return 0;
}

TIMENS_EXPORT int timer_create(clockid_t id, struct sigevent *sev, timer_t *timerid)
{
	static int (*next)(clockid_t, struct sigevent *, timer_t *);
	int ret = TIMENS_NEXT(next, "timer_create")(id, sev, timerid);

	if (ret == 0 && timens_clock_in(id, TIMENS_DEADLINE_CLOCKS))
		remember_timer(*timerid);
	return ret;
}

TIMENS_EXPORT int timer_delete(timer_t timerid)
{
	static int (*next)(timer_t);

	/* Forget first: once deleted, the kernel may hand the id out again. */
	forget_timer(timerid);
	return TIMENS_NEXT(next, "timer_delete")(timerid);
}

TIMENS_EXPORT int timer_settime(timer_t timerid, int flags, const struct itimerspec *new_value,
				struct itimerspec *old_value)
{
	static int (*next)(timer_t, int, const struct itimerspec *, struct itimerspec *);
	struct itimerspec host;

	if ((flags & TIMER_ABSTIME) && new_value != NULL && is_realtime_timer(timerid) &&
	    (new_value->it_value.tv_sec != 0 || new_value->it_value.tv_nsec != 0)) {
		host.it_interval = new_value->it_interval;
		host.it_value = *timens_host_deadline(&new_value->it_value, &host.it_value);
		new_value = &host;
	}
	return TIMENS_NEXT(next, "timer_settime")(timerid, flags, new_value, old_value);
}

/* --- condition variables ------------------------------------------------ */

TIMENS_EXPORT int pthread_cond_timedwait(pthread_cond_t *restrict cond,
					 pthread_mutex_t *restrict mutex,
					 const struct timespec *restrict abstime)
{
	static int (*next)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
	int (*fn)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *) =
		__atomic_load_n(&next, __ATOMIC_RELAXED);
	struct timespec buf;

	if (fn == NULL) {
		/* Plain dlsym may find the old (2.2.5) condvar ABI. */
		fn = timens_dlvsym(RTLD_NEXT, "pthread_cond_timedwait", "GLIBC_2.3.2");
		if (fn == NULL)
			fn = dlsym(RTLD_NEXT, "pthread_cond_timedwait");
		__atomic_store_n(&next, fn, __ATOMIC_RELAXED);
	}
	if (timens_cond_is_realtime(cond))
		abstime = timens_host_deadline(abstime, &buf);
	return fn(cond, mutex, abstime);
}

TIMENS_EXPORT int pthread_cond_clockwait(pthread_cond_t *restrict cond,
					 pthread_mutex_t *restrict mutex, clockid_t id,
					 const struct timespec *restrict abstime)
{
	static int (*next)(pthread_cond_t *, pthread_mutex_t *, clockid_t,
			   const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_cond_clockwait")(cond, mutex, id,
							 deadline_on(id, abstime, &buf));
}

/* --- semaphores, mutexes, rwlocks, threads ------------------------------- */

TIMENS_EXPORT int sem_timedwait(sem_t *restrict sem, const struct timespec *restrict abstime)
{
	static int (*next)(sem_t *, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "sem_timedwait")(sem, timens_host_deadline(abstime, &buf));
}

TIMENS_EXPORT int sem_clockwait(sem_t *restrict sem, clockid_t id,
				const struct timespec *restrict abstime)
{
	static int (*next)(sem_t *, clockid_t, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "sem_clockwait")(sem, id, deadline_on(id, abstime, &buf));
}

TIMENS_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *restrict mutex,
					  const struct timespec *restrict abstime)
{
	static int (*next)(pthread_mutex_t *, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_mutex_timedlock")(mutex,
							  timens_host_deadline(abstime, &buf));
}

TIMENS_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *restrict mutex, clockid_t id,
					  const struct timespec *restrict abstime)
{
	static int (*next)(pthread_mutex_t *, clockid_t, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_mutex_clocklock")(mutex, id,
							  deadline_on(id, abstime, &buf));
}

TIMENS_EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t *restrict rwlock,
					     const struct timespec *restrict abstime)
{
	static int (*next)(pthread_rwlock_t *, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_rwlock_timedrdlock")(rwlock,
							     timens_host_deadline(abstime, &buf));
}

TIMENS_EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t *restrict rwlock,
					     const struct timespec *restrict abstime)
{
	static int (*next)(pthread_rwlock_t *, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_rwlock_timedwrlock")(rwlock,
							     timens_host_deadline(abstime, &buf));
}

TIMENS_EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t *restrict rwlock, clockid_t id,
					     const struct timespec *restrict abstime)
{
	static int (*next)(pthread_rwlock_t *, clockid_t, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_rwlock_clockrdlock")(rwlock, id,
							     deadline_on(id, abstime, &buf));
}

TIMENS_EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t *restrict rwlock, clockid_t id,
					     const struct timespec *restrict abstime)
{
	static int (*next)(pthread_rwlock_t *, clockid_t, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_rwlock_clockwrlock")(rwlock, id,
							     deadline_on(id, abstime, &buf));
}

TIMENS_EXPORT int pthread_timedjoin_np(pthread_t thread, void **retval,
				       const struct timespec *abstime)
{
	static int (*next)(pthread_t, void **, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_timedjoin_np")(thread, retval,
						       timens_host_deadline(abstime, &buf));
}

TIMENS_EXPORT int pthread_clockjoin_np(pthread_t thread, void **retval, clockid_t id,
				       const struct timespec *abstime)
{
	static int (*next)(pthread_t, void **, clockid_t, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_clockjoin_np")(thread, retval, id,
						       deadline_on(id, abstime, &buf));
}

/* --- message queues ------------------------------------------------------ */

TIMENS_EXPORT int mq_timedsend(mqd_t mqdes, const char *msg, size_t len, unsigned int prio,
			       const struct timespec *abstime)
{
	static int (*next)(mqd_t, const char *, size_t, unsigned int, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "mq_timedsend")(mqdes, msg, len, prio,
					       timens_host_deadline(abstime, &buf));
}

TIMENS_EXPORT ssize_t mq_timedreceive(mqd_t mqdes, char *restrict msg, size_t len,
				      unsigned int *restrict prio,
				      const struct timespec *restrict abstime)
{
	static ssize_t (*next)(mqd_t, char *, size_t, unsigned int *, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "mq_timedreceive")(mqdes, msg, len, prio,
						  timens_host_deadline(abstime, &buf));
}
