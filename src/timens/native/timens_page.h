/*
 * timens_page.h - layout of the timens clock page.
 *
 * This header is the only definition of the page. libtimens.so, the code
 * injected into the vDSO and the page writer include it, and the Python
 * package parses the TIMENS_PAGE_*, TIMENS_OFF_* and TIMENS_FLAG_* defines
 * below at import time (timens/page.py), so no constant is written twice.
 * Keep every define on one line as "#define NAME VALUE" for that parser.
 *
 * One page per time namespace, a regular file of TIMENS_PAGE_SIZE bytes
 * mapped MAP_SHARED by every reader:
 *
 *   offset  size  field
 *   0       4     magic            "TMNS" (0x534e4d54 little endian)
 *   4       4     version          ABI version, readers refuse others
 *   8       4     seq              even: stable, odd: a writer is inside
 *   12      4     flags            TIMENS_FLAG_* below
 *   16      8     realtime_sec     REALTIME offset, seconds (signed)
 *   24      8     realtime_nsec    REALTIME offset, nanoseconds [0, 1e9)
 *   32      8     monotonic_sec    added to the kernel's MONOTONIC (advance)
 *   40      8     monotonic_nsec
 *   48      8     boottime_sec     added to the kernel's BOOTTIME (advance)
 *   56      8     boottime_nsec
 *   64      8     generation       bumped on every write (for observers)
 *   72      8     frozen_sec       while FROZEN: the instant REALTIME reads
 *   80      8     frozen_nsec
 *   88      8     ns_id            the kernel's id of the namespace
 *                                  (ioctl NS_GET_ID, never reused), 0 if
 *                                  the kernel has none: a page whose ns_id
 *                                  is not the reader's namespace's is stale
 *   96      4     wake             futex word: bumped after every write
 *                                  that moves a clock; sleepers wait on it
 *   100   3996    reserved         zero
 *
 * Readers spin while seq is odd and retry if seq changed across the read
 * (a seqlock, timens_page_read.h). They take no lock and make no syscall.
 * Writers serialise with flock(LOCK_EX) on the page file, make seq odd,
 * store the fields, then make seq even again. The file is only ever
 * written in place: it is never truncated or replaced while it may be
 * mapped.
 */
#ifndef TIMENS_PAGE_H
#define TIMENS_PAGE_H

#include <stdint.h>

#define TIMENS_PAGE_MAGIC 0x534e4d54
#define TIMENS_PAGE_VERSION 2
#define TIMENS_PAGE_SIZE 4096

#define TIMENS_OFF_MAGIC 0
#define TIMENS_OFF_VERSION 4
#define TIMENS_OFF_SEQ 8
#define TIMENS_OFF_FLAGS 12
#define TIMENS_OFF_REALTIME_SEC 16
#define TIMENS_OFF_REALTIME_NSEC 24
#define TIMENS_OFF_MONOTONIC_SEC 32
#define TIMENS_OFF_MONOTONIC_NSEC 40
#define TIMENS_OFF_BOOTTIME_SEC 48
#define TIMENS_OFF_BOOTTIME_NSEC 56
#define TIMENS_OFF_GENERATION 64
#define TIMENS_OFF_FROZEN_SEC 72
#define TIMENS_OFF_FROZEN_NSEC 80
#define TIMENS_OFF_NS_ID 88
#define TIMENS_OFF_WAKE 96

/* flags: REALTIME reads frozen_sec/frozen_nsec instead of host + offset. */
#define TIMENS_FLAG_FROZEN 0x1

/* Where a page lives: "<run dir>/pages/<inode of the time namespace>". */
#define TIMENS_PAGES_SUBDIR "pages"
#define TIMENS_DEFAULT_RUNDIR "/run/timens"

struct timens_page {
	uint32_t magic;
	uint32_t version;
	uint32_t seq;
	uint32_t flags;
	int64_t realtime_sec;
	int64_t realtime_nsec;
	int64_t monotonic_sec;
	int64_t monotonic_nsec;
	int64_t boottime_sec;
	int64_t boottime_nsec;
	uint64_t generation;
	int64_t frozen_sec;
	int64_t frozen_nsec;
	uint64_t ns_id;
	uint32_t wake;
	uint8_t reserved[TIMENS_PAGE_SIZE - 100];
};

#ifdef __cplusplus
#define TIMENS_STATIC_ASSERT static_assert
#else
#define TIMENS_STATIC_ASSERT _Static_assert
#endif

/* The struct and the offsets above must agree; the build fails otherwise. */
TIMENS_STATIC_ASSERT(sizeof(struct timens_page) == TIMENS_PAGE_SIZE, "page size");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, seq) == TIMENS_OFF_SEQ, "seq");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, version) == TIMENS_OFF_VERSION, "version");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, flags) == TIMENS_OFF_FLAGS, "flags");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, realtime_sec) == TIMENS_OFF_REALTIME_SEC, "rt sec");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, realtime_nsec) == TIMENS_OFF_REALTIME_NSEC, "rt nsec");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, monotonic_sec) == TIMENS_OFF_MONOTONIC_SEC, "mono sec");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, monotonic_nsec) == TIMENS_OFF_MONOTONIC_NSEC, "mono nsec");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, boottime_sec) == TIMENS_OFF_BOOTTIME_SEC, "boot sec");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, boottime_nsec) == TIMENS_OFF_BOOTTIME_NSEC, "boot nsec");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, generation) == TIMENS_OFF_GENERATION, "generation");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, frozen_sec) == TIMENS_OFF_FROZEN_SEC, "frozen sec");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, frozen_nsec) == TIMENS_OFF_FROZEN_NSEC, "frozen nsec");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, ns_id) == TIMENS_OFF_NS_ID, "ns id");
TIMENS_STATIC_ASSERT(__builtin_offsetof(struct timens_page, wake) == TIMENS_OFF_WAKE, "wake");

#endif /* TIMENS_PAGE_H */
