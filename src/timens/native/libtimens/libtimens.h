/*
 * libtimens.h - what the parts of libtimens.so share.
 *
 * libtimens.so is loaded with LD_PRELOAD into every dynamically linked
 * program of a time namespace that has a REALTIME offset. It is split by
 * concern:
 *
 *   page.c       finds and maps the namespace's clock page (constructor),
 *                looks up the real libc functions, the seqlock reader's
 *                slow path and the one warning line
 *   clocks.c     clock reads: clock_gettime, gettimeofday, time,
 *                timespec_get, ftime
 *   deadlines.c  absolute REALTIME deadlines, namespace time -> host time
 *   settime.c    clock_settime, settimeofday, stime: move the namespace only
 *   waits.c      sleeps and timed waits that follow live changes of the page
 *   polls.c      poll, select and epoll timeouts on the namespace's MONOTONIC
 *   timerfds.c   timerfds re-armed after live changes, TFD_TIMER_CANCEL_ON_SET
 *
 * The read path (timens_realtime_offset below) takes no lock, makes no
 * syscall and allocates nothing.
 */
#ifndef LIBTIMENS_H
#define LIBTIMENS_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "timens_page.h"
#include "timens_page_read.h"

#define TIMENS_EXPORT __attribute__((visibility("default")))

/* Readers give up on a writer after this many spins (about 0.1 s on x86-64): a writer
 * that died between making seq odd and making it even again must not hang
 * the program. The reader then warns once and reads host time. */
#define TIMENS_SPIN_LIMIT 4000000UL

/* Clock ids that read the namespace's REALTIME: host value + offset. */
#define TIMENS_REALTIME_CLOCKS                                                 \
	((1u << CLOCK_REALTIME) | (1u << CLOCK_REALTIME_COARSE) |              \
	 (1u << CLOCK_REALTIME_ALARM) | (1u << CLOCK_TAI))

/* Clock ids whose absolute deadlines are in namespace REALTIME. */
#define TIMENS_DEADLINE_CLOCKS                                                 \
	((1u << CLOCK_REALTIME) | (1u << CLOCK_REALTIME_ALARM) | (1u << CLOCK_TAI))

static inline int timens_clock_in(clockid_t id, unsigned int set)
{
	/* CPU clock ids are negative and become large here: never in a set. */
	return (unsigned int)id < 32 && (set >> (unsigned int)id & 1u);
}

/* --- page.c ------------------------------------------------------------ */

/* The mapped page (read only), or NULL: no page, reads give host time. Set
 * once by the constructor; reads made before it ran see NULL. */
extern const struct timens_page *timens_page;

/* The odd seq value of a writer the readers gave up on, 0 if none. */
extern uint32_t timens_stuck_seq;

/* Absolute path of the page in use ("" if none), for settime and messages. */
extern char timens_page_path[];

/* The real libc clock reads. Before the constructor ran they point to raw
 * syscalls, so a read from another library's constructor gets host time. */
extern int (*timens_real_clock_gettime)(clockid_t, struct timespec *);
extern int (*timens_real_gettimeofday)(struct timeval *, void *);

/* The next definition of a libc symbol, looked up once (dlsym RTLD_NEXT). */
void *timens_next(void **slot, const char *name);
#define TIMENS_NEXT(slot, name) \
	((__typeof__(slot))timens_next((void **)&(slot), (name)))

/* One line on stderr, at most once per process. */
void timens_warn_once(const char *what, const char *reason);

/* The reader's slow path: 1 to give up (host time), 0 to spin on. */
int timens_reader_wait(uint32_t seq, unsigned long *spins);

/*
 * The REALTIME offset of this namespace. Returns 0 (and a zero offset) when
 * reads should give host time. The seqlock: spin while seq is odd, read
 * the fields, retry if seq changed meanwhile. Normalisation happens after
 * the loop, so the loop itself is two loads between two loads of seq.
 */
static inline int timens_realtime_offset(struct timespec *off)
{
	const struct timens_page *p = __atomic_load_n(&timens_page, __ATOMIC_RELAXED);
	unsigned long spins = 0;
	uint32_t seq;
	int64_t sec, nsec;

	off->tv_sec = 0;
	off->tv_nsec = 0;
	if (__builtin_expect(p == NULL, 0))
		return 0;
	for (;;) {
		seq = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
		if (__builtin_expect(seq & 1u, 0)) {
			if (timens_reader_wait(seq, &spins))
				return 0;
			continue;
		}
		sec = __atomic_load_n(&p->realtime_sec, __ATOMIC_RELAXED);
		nsec = __atomic_load_n(&p->realtime_nsec, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__builtin_expect(__atomic_load_n(&p->seq, __ATOMIC_RELAXED) == seq, 1))
			break;
		if (timens_reader_wait(seq, &spins))
			return 0;
	}
	if (__builtin_expect(nsec < 0 || nsec >= TIMENS_NSEC_PER_SEC, 0)) {
		/* A writer should never store this; make it usable anyway. */
		sec += nsec / TIMENS_NSEC_PER_SEC;
		nsec %= TIMENS_NSEC_PER_SEC;
		if (nsec < 0) {
			nsec += TIMENS_NSEC_PER_SEC;
			sec -= 1;
		}
	}
	off->tv_sec = sec;
	off->tv_nsec = nsec;
	return 1;
}

/* *ts += off, with ts->tv_nsec and off->tv_nsec both in [0, 1e9). */
static inline void timens_ts_add(struct timespec *ts, const struct timespec *off)
{
	ts->tv_sec += off->tv_sec;
	ts->tv_nsec += off->tv_nsec;
	if (ts->tv_nsec >= TIMENS_NSEC_PER_SEC) {
		ts->tv_nsec -= TIMENS_NSEC_PER_SEC;
		ts->tv_sec += 1;
	}
}

/* --- deadlines.c ------------------------------------------------------- */

/*
 * An absolute deadline in namespace REALTIME as host REALTIME: deadline -
 * offset, saturated to the time_t range, and {0, 0} if it falls before the
 * epoch (it has passed then anyway). Returns abs itself when nothing is to
 * change: no page, NULL, or a tv_nsec the real call must reject as EINVAL.
 */
const struct timespec *timens_host_deadline(const struct timespec *abs,
					    struct timespec *buf);

/* --- waits.c ----------------------------------------------------------- */

/* Kernel waits that cannot watch the page last at most this long before
 * libtimens looks at the namespace's clocks again. */
#define TIMENS_SLICE_NS (100 * 1000000LL)

/* Which page offset a clock follows. */
enum {
	TIMENS_KIND_OTHER,
	TIMENS_KIND_REALTIME,
	TIMENS_KIND_MONOTONIC,
	TIMENS_KIND_BOOTTIME,
};
int timens_clock_kind(clockid_t id);

/* Nanoseconds, saturating at the int64 range. */
int64_t timens_ts_ns(const struct timespec *ts);
struct timespec timens_ns_ts(int64_t ns);
int64_t timens_ns_add(int64_t a, int64_t b);

/* A consistent view of the page; 0 if there is none (host time). */
int timens_view(struct timens_view *v);

/* The namespace reading of a clock of that kind whose host reading is host. */
int64_t timens_view_to_ns(const struct timens_view *v, int kind, int64_t host);

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

/*
 * Wait until the namespace's clock id reaches abs, in slices: wait(arg,
 * host_abs) makes one kernel wait until host_abs on the kernel's clock id
 * and returns 0, ETIMEDOUT or another errno value. Returns the first
 * result that is not ETIMEDOUT, ETIMEDOUT once the namespace clock is past
 * abs, or -1 if the real call should wait alone (no page, other clock).
 */
typedef int (*timens_wait_fn)(void *arg, const struct timespec *host_abs);
int timens_sliced_until(clockid_t id, const struct timespec *abs, timens_wait_fn wait, void *arg);

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

/* --- timerfds.c -------------------------------------------------------- */

/* A timerfd was armed (timerfd_settime succeeded) with the namespace value. */
void timens_timerfd_armed(int fd, clockid_t clock, int flags, const struct itimerspec *value);
/* Whether any timerfd is being followed. */
int timens_timers_tracked(void);
/* Re-arm the followed timers if the page moved since last time. */
void timens_timers_follow(void);

#endif /* LIBTIMENS_H */
