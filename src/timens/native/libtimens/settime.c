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
 * The write is ../page_write.c, the one writer the timens manager uses
 * too: under the page's lock, with signals blocked while seq is odd. While
 * REALTIME is frozen, a settime moves the frozen instant and it stays
 * frozen.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <unistd.h>

#include "libtimens.h"
#include "page_write.h"

int stime(const time_t *when);  /* gone from the headers, not from old binaries */

/* The mapped page's file opened for writing, or -1 with errno EPERM: no
 * page, this caller may not write it, or the path names another file now. */
static int open_page_for_writing(void)
{
	struct stat st;
	int fd;

	if (__atomic_load_n(&timens_page, __ATOMIC_ACQUIRE) == NULL) {
		errno = EPERM;  /* no page: nothing inside may move */
		return -1;
	}
	fd = open(timens_page_path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_dev != timens_page_dev ||
			st.st_ino != timens_page_ino)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		errno = EPERM;
	return fd;
}

/* Make the namespace's REALTIME read *want from now on. */
static int set_namespace_realtime(const struct timespec *want)
{
	int fd, err;

	if (want->tv_sec < 0 || want->tv_nsec < 0 || want->tv_nsec >= TIMENS_NSEC_PER_SEC) {
		errno = EINVAL;
		return -1;
	}
	fd = open_page_for_writing();
	if (fd < 0)
		return -1;
	err = timens_page_write(fd, TIMENS_OP_SET_NOW, want->tv_sec, want->tv_nsec);
	close(fd);
	if (err) {
		errno = err == EBUSY ? EBUSY : EPERM;
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
