/*
 * libtimens.h - what the parts of libtimens.so share.
 *
 * libtimens.so is loaded with LD_PRELOAD into every dynamically linked
 * program of a time namespace that has a clock page. It is split by
 * concern:
 *
 *   page.c       finds and maps the namespace's clock page (constructor),
 *                looks up the real libc functions, the reader's slow path
 *                (a writer inside: spin, yield, keep the last consistent
 *                snapshot) and the one warning line
 *   clocks.c     clock reads: clock_gettime, gettimeofday, time,
 *                timespec_get, ftime
 *   deadlines.c  absolute deadlines, namespace time -> host time
 *   settime.c    clock_settime, settimeofday, stime: move the namespace only
 *                (the write itself is ../page_write.c, shared with Python)
 *   waits.c      sleeps and timed waits that follow live changes of the page
 *   polls.c      poll, select and epoll timeouts on the namespace's MONOTONIC
 *   signals.c    sigsuspend, pause, sigwait*: there when timers are re-armed
 *   timers.c     timerfds and POSIX timers re-armed after live changes,
 *                TFD_TIMER_CANCEL_ON_SET
 *
 * The read path (timens_read_view below) takes no lock, makes no syscall
 * and allocates nothing.
 *
 * What the page adds, on top of the kernel's offsets:
 *   REALTIME, _COARSE, _ALARM, TAI   the REALTIME offset, or the frozen
 *                                    instant while TIMENS_FLAG_FROZEN
 *   MONOTONIC, _COARSE, _RAW         monotonic_sec/nsec (advance); _RAW too,
 *                                    as the kernel's MONOTONIC offset does:
 *                                    time that passed passed for every
 *                                    MONOTONIC flavour, and programs that
 *                                    compare them keep agreeing
 *   BOOTTIME, _ALARM                 boottime_sec/nsec (advance)
 */
#ifndef LIBTIMENS_H
#define LIBTIMENS_H

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "timens_page.h"
#include "timens_page_read.h"

#define TIMENS_EXPORT __attribute__((visibility("default")))

#define TIMENS_REALTIME_CLOCKS                                                 \
	((1u << CLOCK_REALTIME) | (1u << CLOCK_REALTIME_COARSE) |              \
	 (1u << CLOCK_REALTIME_ALARM) | (1u << CLOCK_TAI))
#define TIMENS_MONOTONIC_CLOCKS                                                \
	((1u << CLOCK_MONOTONIC) | (1u << CLOCK_MONOTONIC_COARSE) |            \
	 (1u << CLOCK_MONOTONIC_RAW))
#define TIMENS_BOOTTIME_CLOCKS ((1u << CLOCK_BOOTTIME) | (1u << CLOCK_BOOTTIME_ALARM))

/* Clock ids whose reads the page changes. */
#define TIMENS_PAGE_CLOCKS                                                     \
	(TIMENS_REALTIME_CLOCKS | TIMENS_MONOTONIC_CLOCKS | TIMENS_BOOTTIME_CLOCKS)

/* Clock ids that take absolute deadlines (sleeps, timers, waits). */
#define TIMENS_DEADLINE_CLOCKS                                                 \
	((1u << CLOCK_REALTIME) | (1u << CLOCK_REALTIME_ALARM) | (1u << CLOCK_TAI) | \
	 (1u << CLOCK_MONOTONIC) | TIMENS_BOOTTIME_CLOCKS)

static inline int timens_clock_in(clockid_t id, unsigned int set)
{
	/* CPU clock ids are negative and become large here: never in a set. */
	return (unsigned int)id < 32 && (set >> (unsigned int)id & 1u);
}

/* --- page.c ------------------------------------------------------------ */

/* The mapped page (read only), or NULL: no page, reads give host time. Set
 * once by the constructor; reads made before it ran see NULL. */
extern const struct timens_page *timens_page;

/* The seq of the last consistent snapshot this process kept (odd: none). */
extern uint32_t timens_kept_seq;

/* Absolute path of the page in use ("" if none), for settime and messages,
 * and the file it named when it was mapped (settime writes only that one). */
extern char timens_page_path[];
extern dev_t timens_page_dev;
extern ino_t timens_page_ino;

/* The real libc clock reads. Before the constructor ran they point to raw
 * syscalls, so a read from another library's constructor gets host time. */
extern int (*timens_real_clock_gettime)(clockid_t, struct timespec *);
extern int (*timens_real_gettimeofday)(struct timeval *, void *);

/* --- vdso.c ------------------------------------------------------------ */

/* Host clock_gettime as the vDSO's: 0, or -errno with errno untouched. The
 * vDSO's own entry when there is one (a call less than libc's), else libc's. */
extern int (*timens_host_clock_gettime)(clockid_t, struct timespec *);
/* The vDSO's time(), or NULL. */
extern time_t (*timens_host_time)(time_t *);

/* The next definition of a libc symbol, looked up once (dlsym RTLD_NEXT). */
void *timens_next(void **slot, const char *name);
#define TIMENS_NEXT(slot, name) \
	((__typeof__(slot))timens_next((void **)&(slot), (name)))

/* "timens: WHAT (page path: REASON); THEN", on stderr, once per process. */
void timens_warn_once(const char *what, const char *reason, const char *then);

/* Keep *v as the last consistent snapshot (for readers that give up). */
void timens_keep(const struct timens_view *v);

/* Map the page open at FD (closed here): NULL with *why and errno (EINVAL:
 * no usable page of this version and namespace) if it is none. *st gets
 * the file's identity. */
const struct timens_page *timens_map_page_fd(int fd, struct stat *st, const char **why);

/* Make P, mapped from the file *st names (timens_page_path), the page every
 * later read of this process uses. */
void timens_use_page(const struct timens_page *p, const struct stat *st);

/* The reader's slow path, for a writer inside: spin, then yield, for about
 * 0.1 s; then warn once and use the last consistent snapshot (or the page
 * as it stands). Never host time: that would jump by the whole offset. */
void timens_read_slow(const struct timens_page *p, struct timens_view *v);

/* The page's view: 0 if there is no page (host time), else 1 with *v:
 * the fields WANT names (timens_page_load_some), or all of them if the
 * slow path ran. Only the cold calls see copies of the view, so that in
 * the fast path it can live in registers. */
static inline __attribute__((always_inline)) int timens_read_view_of(struct timens_view *v, unsigned int want)
{
	const struct timens_page *p = __atomic_load_n(&timens_page, __ATOMIC_RELAXED);
	struct timens_view copy;

	if (__builtin_expect(p == NULL, 0))
		return 0;
	/* A new seq is kept once: the slow path reads every field and keeps them. */
	if (__builtin_expect(!timens_page_try_read_some(p, v, want) ||
			     v->seq != __atomic_load_n(&timens_kept_seq, __ATOMIC_RELAXED), 0)) {
		timens_read_slow(p, &copy);
		*v = copy;
	}
	return 1;
}

static inline __attribute__((always_inline)) int timens_read_view(struct timens_view *v)
{
	return timens_read_view_of(v, TIMENS_VIEW_ALL);
}

/* The fields a read of clock ID needs; all of them if ID is not a constant. */
#define TIMENS_VIEW_OF(id)                                                           \
	(!__builtin_constant_p(id)                            ? TIMENS_VIEW_ALL       \
	 : timens_clock_in((id), TIMENS_REALTIME_CLOCKS)      ? TIMENS_VIEW_REALTIME  \
	 : timens_clock_in((id), TIMENS_MONOTONIC_CLOCKS)     ? TIMENS_VIEW_MONOTONIC \
	 : timens_clock_in((id), TIMENS_BOOTTIME_CLOCKS)      ? TIMENS_VIEW_BOOTTIME  \
							      : TIMENS_VIEW_ALL)

/* The namespace's reading of clock ID from the host's in *ts, in place. */
static inline void timens_view_clock(const struct timens_view *v, clockid_t id, struct timespec *ts)
{
	int64_t sec = ts->tv_sec, nsec = ts->tv_nsec;

	if (timens_clock_in(id, TIMENS_REALTIME_CLOCKS))
		timens_view_realtime(v, &sec, &nsec);
	else if (timens_clock_in(id, TIMENS_MONOTONIC_CLOCKS))
		timens_add_saturating(&sec, &nsec, v->monotonic_sec, v->monotonic_nsec);
	else
		timens_add_saturating(&sec, &nsec, v->boottime_sec, v->boottime_nsec);
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)nsec;
}

/* --- deadlines.c ------------------------------------------------------- */

/*
 * An absolute deadline on clock ID in namespace time as the kernel's:
 * deadline - what the page adds to that clock, saturated. A deadline that
 * has passed keeps its native meaning: it becomes {0, 1}, which has passed
 * too (fire now, return now), never {0, 0}, which disarms a timer. Returns
 * abs itself when nothing is to change: no page, a clock the page does not
 * touch, NULL, or a tv_nsec the real call must reject as EINVAL.
 */
const struct timespec *timens_host_deadline(clockid_t id, const struct timespec *abs,
					    struct timespec *buf);

/* What the page adds to clock ID now (a frozen REALTIME: frozen instant -
 * host now), as (*sec, *nsec): namespace deadline - this = host deadline. */
void timens_page_offset(const struct timens_view *v, clockid_t id, int64_t *sec, int64_t *nsec);

/* --- waits.c ----------------------------------------------------------- */

/* Kernel waits that cannot watch the page last at most this long before
 * libtimens looks at the namespace's clocks again. */
#define TIMENS_SLICE_NS (100 * 1000000LL)

/* Nanoseconds, saturating at the int64 range. */
int64_t timens_ts_ns(const struct timespec *ts);
struct timespec timens_ns_ts(int64_t ns);
int64_t timens_ns_add(int64_t a, int64_t b);

/* The real clock_nanosleep. */
int timens_real_clock_nanosleep(clockid_t id, int flags, const struct timespec *req,
				struct timespec *rem);

/*
 * clock_nanosleep as a namespace sleep that a live change of the page
 * ends or prolongs. Returns what clock_nanosleep returns, or -1 if the
 * real call should do it (no page, a clock the page does not move, an
 * invalid request whose error the kernel gives).
 */
int timens_sleep(clockid_t id, int flags, const struct timespec *req, struct timespec *rem);

/* A condition wait, sliced: pthread_cond_timedwait (timed) or
 * pthread_cond_clockwait (clocked), on clock. Returns what they return, or
 * -1 if the real call should wait alone. */
struct timens_cond_wait {
	int (*timed)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
	int (*clocked)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *);
	pthread_cond_t *cond;
	pthread_mutex_t *mutex;
	clockid_t clock;
};
int timens_cond_sliced(struct timens_cond_wait *w, const struct timespec *abstime);

/* A semaphore wait, sliced: sem_timedwait or sem_clockwait on clock. 0
 * with *ret (and errno) as they set them, or -1 if the real call should
 * wait alone. */
struct timens_sem_wait {
	int (*timed)(sem_t *, const struct timespec *);
	int (*clocked)(sem_t *, clockid_t, const struct timespec *);
	sem_t *sem;
	clockid_t clock;
};
int timens_sem_sliced(struct timens_sem_wait *w, const struct timespec *abstime, int *ret);

/* A relative timeout (poll, select, epoll) on the namespace's MONOTONIC. */
struct timens_timeout {
	int64_t deadline;
	int infinite;
};
/* 1 if the wait of timeout_ns (< 0: none) is to be sliced. */
int timens_timeout_start(struct timens_timeout *t, int64_t timeout_ns);
/* The next slice in ns; 0 once the timeout has passed. */
int64_t timens_timeout_slice(struct timens_timeout *t);
/* What is left of the timeout, in ns. */
int64_t timens_timeout_left(const struct timens_timeout *t);

/*
 * Wait in slices until fn returns non-zero (an event, an error) or t ends
 * (then 0). fn(arg, slice_ns, mask) makes one kernel wait of slice_ns with
 * mask as the signal mask (user_mask, or the caller's own if NULL).
 */
typedef int (*timens_slice_fn)(void *arg, int64_t slice_ns, const sigset_t *mask);
int timens_slices(struct timens_timeout *t, const sigset_t *user_mask, timens_slice_fn fn, void *arg);

/* --- timers.c ---------------------------------------------------------- */

/* A timerfd was armed (timerfd_settime succeeded) with the namespace value. */
void timens_timerfd_armed(int fd, clockid_t clock, int flags, const struct itimerspec *value);
/* The clock a timerfd was made with, -1 if unknown (made elsewhere). */
clockid_t timens_timerfd_clock(int fd);
/* A POSIX timer was armed (timer_settime succeeded) with the namespace
 * value; or deleted. */
void timens_posix_timer_armed(timer_t id, clockid_t clock, int flags, const struct itimerspec *value);
void timens_posix_timer_forget(timer_t id);
/* Whether any timer is being followed. */
int timens_timers_tracked(void);
/* Re-arm the followed timers if the page moved since last time. */
void timens_timers_follow(void);

#endif /* LIBTIMENS_H */
