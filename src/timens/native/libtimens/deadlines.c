/*
 * deadlines.c - absolute deadlines, from namespace to host time.
 *
 * A program computes an absolute deadline from the clock it reads, which
 * is namespace time; the kernel waits on its own time (host time for
 * REALTIME; for MONOTONIC and BOOTTIME the kernel's namespace offsets are
 * its business, the page's advance is ours). Every call that takes an
 * absolute deadline on a clock the page changes gets it converted
 * (deadline - what the page adds) before the real call. Relative timeouts,
 * other clocks and the values read back (timerfd_gettime, timer_gettime:
 * the remaining time) need nothing.
 *
 * While REALTIME is frozen, a REALTIME deadline ahead of the frozen
 * instant fires after that much real time; one at or before it fires now.
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

static inline int64_t negate(int64_t x)
{
	return x == INT64_MIN ? INT64_MAX : -x;  /* only page damage gets here */
}

void timens_page_offset(const struct timens_view *v, clockid_t id, int64_t *sec, int64_t *nsec)
{
	struct timespec now = { 0, 0 };

	if (timens_clock_in(id, TIMENS_MONOTONIC_CLOCKS)) {
		*sec = v->monotonic_sec;
		*nsec = v->monotonic_nsec;
	} else if (timens_clock_in(id, TIMENS_BOOTTIME_CLOCKS)) {
		*sec = v->boottime_sec;
		*nsec = v->boottime_nsec;
	} else if (v->flags & TIMENS_FLAG_FROZEN) {
		/* Standing still: as if it ran on from the frozen instant now. */
		__atomic_load_n(&timens_real_clock_gettime, __ATOMIC_RELAXED)(id, &now);
		*sec = v->frozen_sec;
		*nsec = v->frozen_nsec;
		timens_add_saturating(sec, nsec, negate(now.tv_sec), negate(now.tv_nsec));
	} else {
		*sec = v->realtime_sec;
		*nsec = v->realtime_nsec;
	}
}

const struct timespec *timens_host_deadline(clockid_t id, const struct timespec *abs,
					    struct timespec *buf)
{
	struct timens_view v;
	int64_t sec, nsec, off_sec, off_nsec;

	if (abs == NULL || abs->tv_nsec < 0 || abs->tv_nsec >= TIMENS_NSEC_PER_SEC ||
	    !timens_clock_in(id, TIMENS_DEADLINE_CLOCKS) || !timens_read_view(&v))
		return abs;
	timens_page_offset(&v, id, &off_sec, &off_nsec);
	sec = abs->tv_sec;
	nsec = abs->tv_nsec;
	timens_add_saturating(&sec, &nsec, negate(off_sec), negate(off_nsec));
	if (sec < 0 || (sec == 0 && nsec == 0)) {
		/* Passed: {0, 1} has passed too; {0, 0} would disarm a timer. */
		sec = 0;
		nsec = 1;
	}
	buf->tv_sec = (time_t)sec;
	buf->tv_nsec = (long)nsec;
	return buf;
}

/* --- sleeps and timers --------------------------------------------------- */

TIMENS_EXPORT int clock_nanosleep(clockid_t id, int flags, const struct timespec *req,
				  struct timespec *rem)
{
	struct timespec buf;
	int ret = timens_sleep(id, flags, req, rem);

	if (ret >= 0)
		return ret;
	if (flags & TIMER_ABSTIME)
		req = timens_host_deadline(id, req, &buf);
	return timens_real_clock_nanosleep(id, flags, req, rem);
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
	if ((id = timens_timerfd_clock(fd)) >= 0)
		return (clockid_t)id;  /* seen by timerfd_create */
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

/* An absolute timer setting on CLOCK in host terms; a zero it_value
 * disarms and stays zero. */
static const struct itimerspec *host_setting(clockid_t clock, const struct itimerspec *want,
					     struct itimerspec *buf)
{
	if (want == NULL || (want->it_value.tv_sec == 0 && want->it_value.tv_nsec == 0))
		return want;
	buf->it_interval = want->it_interval;
	buf->it_value = *timens_host_deadline(clock, &want->it_value, &buf->it_value);
	return buf;
}

TIMENS_EXPORT int timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
				  struct itimerspec *old_value)
{
	static int (*next)(int, int, const struct itimerspec *, struct itimerspec *);
	const struct itimerspec *asked = new_value;
	struct itimerspec host;
	clockid_t clock = -1;
	int ret;

	if ((flags & TFD_TIMER_ABSTIME) && new_value != NULL)
		new_value = host_setting(clock = timerfd_clock(fd), new_value, &host);
	ret = TIMENS_NEXT(next, "timerfd_settime")(fd, flags, new_value, old_value);
	if (ret == 0 && asked != NULL)
		timens_timerfd_armed(fd, clock, flags, asked);
	return ret;
}

/*
 * POSIX timers on a clock the page changes, remembered with their clock
 * from timer_create until timer_delete in a fixed table without locks (a
 * slot is claimed with one compare-and-swap). The kernel has no call that
 * tells a timer's clock. If the table is full, a new timer is not
 * remembered: its absolute deadlines then pass unconverted and the process
 * warns once. Timers made before libtimens was loaded are not known either.
 * Timers do not survive fork, so a child starts with an empty table.
 */
#define TIMERS 1024
#define CLAIMED UINTPTR_MAX  /* a slot whose clock is being stored */
static struct {
	uintptr_t key;  /* timer_t + 1; 0 = free */
	clockid_t clock;
} timers[TIMERS];

static uintptr_t timer_key(timer_t id)
{
	return (uintptr_t)id + 1;  /* glibc's first timer_t is 0 */
}

static void remember_timer(timer_t id, clockid_t clock)
{
	for (size_t i = 0; i < TIMERS; i++) {
		uintptr_t free_slot = 0;

		if (__atomic_compare_exchange_n(&timers[i].key, &free_slot, CLAIMED, 0,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			__atomic_store_n(&timers[i].clock, clock, __ATOMIC_RELAXED);
			__atomic_store_n(&timers[i].key, timer_key(id), __ATOMIC_RELEASE);
			return;
		}
	}
	timens_warn_once("too many timers to track", "the table is full",
			 "absolute deadlines of the newest pass unconverted");
}

/* Forget id; returns whether it was remembered. */
static int forget_timer(timer_t id)
{
	for (size_t i = 0; i < TIMERS; i++) {
		uintptr_t found = timer_key(id);

		if (__atomic_compare_exchange_n(&timers[i].key, &found, 0, 0,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return 1;
	}
	return 0;
}

/* The clock of a remembered timer, -1 if unknown. */
static clockid_t timer_clock(timer_t id)
{
	for (size_t i = 0; i < TIMERS; i++)
		if (__atomic_load_n(&timers[i].key, __ATOMIC_ACQUIRE) == timer_key(id))
			return __atomic_load_n(&timers[i].clock, __ATOMIC_RELAXED);
	return -1;
}

static void forget_all_timers(void)
{
	for (size_t i = 0; i < TIMERS; i++)
		__atomic_store_n(&timers[i].key, 0, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void timers_init(void)
{
	/* pthread_atfork is in glibc and musl alike. */
	pthread_atfork(NULL, NULL, forget_all_timers);
}

TIMENS_EXPORT int timer_create(clockid_t id, struct sigevent *sev, timer_t *timerid)
{
	static int (*next)(clockid_t, struct sigevent *, timer_t *);
	int ret = TIMENS_NEXT(next, "timer_create")(id, sev, timerid);

	if (ret != 0)
		return ret;
	/* The id is new: whatever the table says about it is stale (a
	 * timer deleted behind our back). */
	while (forget_timer(*timerid))
		;
	if (timens_clock_in(id, TIMENS_DEADLINE_CLOCKS))
		remember_timer(*timerid, id);
	return ret;
}

TIMENS_EXPORT int timer_delete(timer_t timerid)
{
	static int (*next)(timer_t);

	/* Forget first: once deleted, the kernel may hand the id out again. */
	forget_timer(timerid);
	timens_posix_timer_forget(timerid);
	return TIMENS_NEXT(next, "timer_delete")(timerid);
}

TIMENS_EXPORT int timer_settime(timer_t timerid, int flags, const struct itimerspec *new_value,
				struct itimerspec *old_value)
{
	static int (*next)(timer_t, int, const struct itimerspec *, struct itimerspec *);
	const struct itimerspec *asked = new_value;
	struct itimerspec host;
	int ret;

	if ((flags & TIMER_ABSTIME) && new_value != NULL)
		new_value = host_setting(timer_clock(timerid), new_value, &host);
	ret = TIMENS_NEXT(next, "timer_settime")(timerid, flags, new_value, old_value);
	if (ret == 0 && asked != NULL)
		timens_posix_timer_armed(timerid, timer_clock(timerid), flags, asked);
	return ret;
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
	int ret;

	if (fn == NULL) {
		/* Plain dlsym may find the old (2.2.5) condvar ABI. */
		fn = timens_dlvsym(RTLD_NEXT, "pthread_cond_timedwait", "GLIBC_2.3.2");
		if (fn == NULL)
			fn = dlsym(RTLD_NEXT, "pthread_cond_timedwait");
		__atomic_store_n(&next, fn, __ATOMIC_RELAXED);
	}
	ret = timens_cond_sliced(&(struct timens_cond_wait){ .timed = fn, .cond = cond, .mutex = mutex,
							    .clock = timens_cond_clock(cond) }, abstime);
	if (ret >= 0)
		return ret;
	return fn(cond, mutex, timens_host_deadline(timens_cond_clock(cond), abstime, &buf));
}

TIMENS_EXPORT int pthread_cond_clockwait(pthread_cond_t *restrict cond,
					 pthread_mutex_t *restrict mutex, clockid_t id,
					 const struct timespec *restrict abstime)
{
	static int (*next)(pthread_cond_t *, pthread_mutex_t *, clockid_t,
			   const struct timespec *);
	struct timens_cond_wait wait = { .clocked = TIMENS_NEXT(next, "pthread_cond_clockwait"),
					 .cond = cond, .mutex = mutex, .clock = id };
	struct timespec buf;
	int ret = timens_cond_sliced(&wait, abstime);

	if (ret >= 0)
		return ret;
	return wait.clocked(cond, mutex, id, timens_host_deadline(id, abstime, &buf));
}

/* --- semaphores, mutexes, rwlocks, threads ------------------------------- */

TIMENS_EXPORT int sem_timedwait(sem_t *restrict sem, const struct timespec *restrict abstime)
{
	static int (*next)(sem_t *, const struct timespec *);
	struct timens_sem_wait wait = { .timed = TIMENS_NEXT(next, "sem_timedwait"), .sem = sem,
					.clock = CLOCK_REALTIME };
	struct timespec buf;
	int ret;

	if (timens_sem_sliced(&wait, abstime, &ret) == 0)
		return ret;
	return wait.timed(sem, timens_host_deadline(CLOCK_REALTIME, abstime, &buf));
}

TIMENS_EXPORT int sem_clockwait(sem_t *restrict sem, clockid_t id,
				const struct timespec *restrict abstime)
{
	static int (*next)(sem_t *, clockid_t, const struct timespec *);
	struct timens_sem_wait wait = { .clocked = TIMENS_NEXT(next, "sem_clockwait"), .sem = sem,
					.clock = id };
	struct timespec buf;
	int ret;

	if (timens_sem_sliced(&wait, abstime, &ret) == 0)
		return ret;
	return wait.clocked(sem, id, timens_host_deadline(id, abstime, &buf));
}

TIMENS_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *restrict mutex,
					  const struct timespec *restrict abstime)
{
	static int (*next)(pthread_mutex_t *, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_mutex_timedlock")(mutex,
							  timens_host_deadline(CLOCK_REALTIME, abstime, &buf));
}

TIMENS_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *restrict mutex, clockid_t id,
					  const struct timespec *restrict abstime)
{
	static int (*next)(pthread_mutex_t *, clockid_t, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_mutex_clocklock")(mutex, id,
							  timens_host_deadline(id, abstime, &buf));
}

TIMENS_EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t *restrict rwlock,
					     const struct timespec *restrict abstime)
{
	static int (*next)(pthread_rwlock_t *, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_rwlock_timedrdlock")(rwlock,
							     timens_host_deadline(CLOCK_REALTIME, abstime, &buf));
}

TIMENS_EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t *restrict rwlock,
					     const struct timespec *restrict abstime)
{
	static int (*next)(pthread_rwlock_t *, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_rwlock_timedwrlock")(rwlock,
							     timens_host_deadline(CLOCK_REALTIME, abstime, &buf));
}

TIMENS_EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t *restrict rwlock, clockid_t id,
					     const struct timespec *restrict abstime)
{
	static int (*next)(pthread_rwlock_t *, clockid_t, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_rwlock_clockrdlock")(rwlock, id,
							     timens_host_deadline(id, abstime, &buf));
}

TIMENS_EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t *restrict rwlock, clockid_t id,
					     const struct timespec *restrict abstime)
{
	static int (*next)(pthread_rwlock_t *, clockid_t, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_rwlock_clockwrlock")(rwlock, id,
							     timens_host_deadline(id, abstime, &buf));
}

TIMENS_EXPORT int pthread_timedjoin_np(pthread_t thread, void **retval,
				       const struct timespec *abstime)
{
	static int (*next)(pthread_t, void **, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_timedjoin_np")(thread, retval,
						       timens_host_deadline(CLOCK_REALTIME, abstime, &buf));
}

TIMENS_EXPORT int pthread_clockjoin_np(pthread_t thread, void **retval, clockid_t id,
				       const struct timespec *abstime)
{
	static int (*next)(pthread_t, void **, clockid_t, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "pthread_clockjoin_np")(thread, retval, id,
						       timens_host_deadline(id, abstime, &buf));
}

/* --- message queues ------------------------------------------------------ */

TIMENS_EXPORT int mq_timedsend(mqd_t mqdes, const char *msg, size_t len, unsigned int prio,
			       const struct timespec *abstime)
{
	static int (*next)(mqd_t, const char *, size_t, unsigned int, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "mq_timedsend")(mqdes, msg, len, prio,
					       timens_host_deadline(CLOCK_REALTIME, abstime, &buf));
}

TIMENS_EXPORT ssize_t mq_timedreceive(mqd_t mqdes, char *restrict msg, size_t len,
				      unsigned int *restrict prio,
				      const struct timespec *restrict abstime)
{
	static ssize_t (*next)(mqd_t, char *, size_t, unsigned int *, const struct timespec *);
	struct timespec buf;

	return TIMENS_NEXT(next, "mq_timedreceive")(mqdes, msg, len, prio,
						  timens_host_deadline(CLOCK_REALTIME, abstime, &buf));
}
