/*
 * settime.c - setting REALTIME inside a namespace moves the namespace only.
 *
 * clock_settime(CLOCK_REALTIME), settimeofday and stime store a new offset
 * (requested - host now) in the page. They succeed where the caller may
 * open the page file for writing and fail with EPERM otherwise. While
 * libtimens is loaded, no call that steps or slews REALTIME reaches the
 * kernel: the host clock cannot move from inside. adjtimex, ntp_adjtime,
 * clock_adjtime(REALTIME) and adjtime still read the host's state, and
 * fail with EPERM for any change.
 *
 * The write: flock(LOCK_EX) on the page file serialises writers (other
 * processes, the timens manager); then seq becomes odd, the fields are
 * stored, generation is bumped and seq becomes even again with release
 * ordering, so a reader either sees the old offset or the new one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <unistd.h>

#include "libtimens.h"

int stime(const time_t *when);  /* gone from the headers, not from old binaries */

static void store_offset(struct timens_page *p, const struct timespec *off)
{
	uint32_t seq = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
	/* Odd already means a writer died inside: keep it odd, but changed. */
	uint32_t odd = (seq & 1u) ? seq + 2 : seq + 1;

	__atomic_store_n(&p->seq, odd, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);  /* seq odd before the fields */
	__atomic_store_n(&p->realtime_sec, (int64_t)off->tv_sec, __ATOMIC_RELAXED);
	__atomic_store_n(&p->realtime_nsec, (int64_t)off->tv_nsec, __ATOMIC_RELAXED);
	__atomic_store_n(&p->generation, __atomic_load_n(&p->generation, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&p->seq, odd + 1, __ATOMIC_RELEASE);  /* fields before seq */
}

/* The page file opened for writing, or -1 with errno EPERM: no page, or
 * this caller may not write it. */
static int open_page_for_writing(void)
{
	struct stat st;
	int fd;

	if (__atomic_load_n(&timens_page, __ATOMIC_ACQUIRE) == NULL) {
		errno = EPERM;  /* no page: nothing inside may move */
		return -1;
	}
	fd = open(timens_page_path, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_size < TIMENS_PAGE_SIZE)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		errno = EPERM;
	return fd;
}

/*
 * Take the writers' lock, waiting at most about two seconds: a writer
 * stopped inside (SIGSTOP, a debugger) must not hang this program too.
 */
static int lock_page(int fd)
{
	const struct timespec pause = { .tv_nsec = 1000000 };
	int tries;

	for (tries = 0; tries < 2000; tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		nanosleep(&pause, NULL);
	}
	errno = EBUSY;
	return -1;
}

/* Make the namespace's REALTIME read *want from now on. */
static int set_namespace_realtime(const struct timespec *want)
{
	struct timespec now, off;
	struct timens_page *p;
	int fd, err = 0;

	if (want->tv_sec < 0 || want->tv_nsec < 0 || want->tv_nsec >= TIMENS_NSEC_PER_SEC) {
		errno = EINVAL;
		return -1;
	}
	fd = open_page_for_writing();
	if (fd < 0)
		return -1;
	p = mmap(NULL, TIMENS_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	if (lock_page(fd) != 0) {
		err = errno;
		goto out;
	}
	if (p->magic != TIMENS_PAGE_MAGIC || p->version != TIMENS_PAGE_VERSION) {
		err = EPERM;
		goto out;
	}
	/* Point of no return: nothing below can fail. */
	__atomic_load_n(&timens_real_clock_gettime, __ATOMIC_RELAXED)(CLOCK_REALTIME, &now);
	off.tv_sec = want->tv_sec - now.tv_sec;
	off.tv_nsec = want->tv_nsec - now.tv_nsec;
	if (off.tv_nsec < 0) {
		off.tv_nsec += TIMENS_NSEC_PER_SEC;
		off.tv_sec -= 1;
	}
	store_offset(p, &off);
out:
	munmap(p, TIMENS_PAGE_SIZE);
	close(fd);  /* releases the lock */
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

TIMENS_EXPORT int clock_settime(clockid_t id, const struct timespec *ts)
{
	static int (*next)(clockid_t, const struct timespec *);

	if (id != CLOCK_REALTIME)
		return TIMENS_NEXT(next, "clock_settime")(id, ts);
	return set_namespace_realtime(ts);
}

/*
 * The timezone argument is never handed to the kernel: it is host-wide,
 * obsolete, and the first time it is set after boot the kernel may warp
 * REALTIME by it. It is accepted and ignored, as the clock is checked.
 */
TIMENS_EXPORT int settimeofday(const struct timeval *tv, const struct timezone *tz)
{
	struct timespec ts;

	(void)tz;
	if (tv == NULL) {
		int fd = open_page_for_writing();

		if (fd < 0)
			return -1;
		close(fd);
		return 0;
	}
	if (tv->tv_usec < 0 || tv->tv_usec >= 1000000) {
		errno = EINVAL;
		return -1;
	}
	ts.tv_sec = tv->tv_sec;
	ts.tv_nsec = tv->tv_usec * 1000L;
	return set_namespace_realtime(&ts);
}

TIMENS_EXPORT int stime(const time_t *when)
{
	struct timespec ts;

	if (when == NULL) {
		errno = EFAULT;
		return -1;
	}
	ts.tv_sec = *when;
	ts.tv_nsec = 0;
	return set_namespace_realtime(&ts);
}

/* --- adjustments: reads pass, changes are refused ------------------------ */

static int timex_changes(const struct timex *tx)
{
	return tx != NULL && tx->modes != 0 && tx->modes != ADJ_OFFSET_SS_READ;
}

TIMENS_EXPORT int adjtimex(struct timex *tx)
{
	static int (*next)(struct timex *);

	if (timex_changes(tx)) {
		errno = EPERM;
		return -1;
	}
	return TIMENS_NEXT(next, "adjtimex")(tx);
}

TIMENS_EXPORT int ntp_adjtime(struct timex *tx)
{
	static int (*next)(struct timex *);

	if (timex_changes(tx)) {
		errno = EPERM;
		return -1;
	}
	return TIMENS_NEXT(next, "ntp_adjtime")(tx);
}

TIMENS_EXPORT int clock_adjtime(clockid_t id, struct timex *tx)
{
	static int (*next)(clockid_t, struct timex *);

	if (id == CLOCK_REALTIME && timex_changes(tx)) {
		errno = EPERM;
		return -1;
	}
	return TIMENS_NEXT(next, "clock_adjtime")(id, tx);
}

TIMENS_EXPORT int adjtime(const struct timeval *delta, struct timeval *olddelta)
{
	static int (*next)(const struct timeval *, struct timeval *);

	if (delta != NULL) {
		errno = EPERM;
		return -1;
	}
	return TIMENS_NEXT(next, "adjtime")(delta, olddelta);
}
