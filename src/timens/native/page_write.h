/*
 * page_write.h - the one writer of clock pages.
 *
 * page_write.c is compiled into libtimens.so (clock_settime and friends
 * inside a namespace) and, alone, into libtimens-page.so, which the Python
 * package calls through ctypes. Both write with this code and no other.
 *
 * A write: flock(LOCK_EX) on the page file, waiting about two seconds at
 * most (EBUSY then: a writer stopped inside must not hang us too); check
 * magic and version; compute the new fields from the old ones (nothing is
 * stored if the result is out of range); block every signal; make seq odd;
 * store; bump generation and wake; make seq even with release ordering;
 * restore the signal mask; FUTEX_WAKE every waiter on wake (a shared
 * futex: the waiters live in other processes). A page left odd by a writer
 * that died inside is repaired by the next write: seq ends even and new.
 *
 * Every function returns 0 or a positive errno value and leaves errno
 * alone: the caller maps the value to its own errors.
 */
#ifndef TIMENS_PAGE_WRITE_H
#define TIMENS_PAGE_WRITE_H

#include <stdint.h>

/* Not a clock page (bad magic, version or size). */
#define TIMENS_ENOTPAGE EBADMSG

/* What timens_page_write does with its (sec, nsec) argument a. */
enum timens_page_op {
	/* REALTIME offset := a; while frozen the frozen instant := host now + a. */
	TIMENS_OP_SET_OFFSET = 1,
	/* REALTIME reads a from now on (offset := a - host now, or frozen := a). */
	TIMENS_OP_SET_NOW = 2,
	/* REALTIME stops at the instant a (a namespace instant). */
	TIMENS_OP_FREEZE = 3,
	/* REALTIME stops at what it reads now; a is ignored. */
	TIMENS_OP_FREEZE_NOW = 4,
	/* REALTIME runs on from the frozen instant (offset := frozen - host now). */
	TIMENS_OP_UNFREEZE = 5,
	/* REALTIME (offset or frozen instant), MONOTONIC and BOOTTIME += a >= 0. */
	TIMENS_OP_ADVANCE = 6,
};

/* A consistent copy of a page, for observers (timens_page_snapshot). */
struct timens_page_state {
	uint32_t seq, flags, wake, reserved;
	int64_t realtime_sec, realtime_nsec;
	int64_t monotonic_sec, monotonic_nsec;
	int64_t boottime_sec, boottime_nsec;
	int64_t frozen_sec, frozen_nsec;
	uint64_t generation, ns_id;
	int64_t host_sec, host_nsec;  /* host REALTIME right after the copy */
};

/* Write a complete new page into FD, an empty file open for writing:
 * REALTIME offset (sec, nsec), everything else zero but ns_id. */
int timens_page_format(int fd, int64_t sec, int64_t nsec, uint64_t ns_id);

/* Apply OP with argument (sec, nsec) to the page open read-write on FD. */
int timens_page_write(int fd, int op, int64_t sec, int64_t nsec);

/* Check that FD (any access mode) is a clock page this code reads. */
int timens_page_check(int fd);

/* A consistent copy of the page on FD; EAGAIN if a writer stays inside
 * (about 0.1 s: one that died there leaves seq odd until the next write). */
int timens_page_snapshot(int fd, struct timens_page_state *out);

#endif /* TIMENS_PAGE_WRITE_H */
