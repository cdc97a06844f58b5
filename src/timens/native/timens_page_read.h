/*
 * timens_page_read.h - the one way to read a clock page.
 *
 * Every reader includes this: libtimens.so and the code injected into the
 * vDSO of static and Go programs. It is freestanding on purpose: no libc,
 * no syscall, no floating point or vector registers (the injected code runs
 * inside Go's runtime, which keeps X15 zero), only general registers and
 * __atomic builtins, so it compiles into any of them.
 *
 * The read rules (a seqlock):
 *   - load seq with acquire; if it is odd a writer is inside: try again;
 *   - load the fields; an acquire fence; load seq again;
 *   - the snapshot is consistent only if both loads of seq were equal.
 * Arithmetic on the snapshot happens after the loop, never inside it.
 *
 * What a reader does when the writer stays inside (spin, yield, keep the
 * last consistent snapshot) is the caller's policy, not this header's.
 */
#ifndef TIMENS_PAGE_READ_H
#define TIMENS_PAGE_READ_H

#include "timens_page.h"

#define TIMENS_NSEC_PER_SEC 1000000000LL

/* A consistent copy of the page's clock fields. */
struct timens_view {
	uint32_t seq;  /* the (even) seq it was read at: lets a caller cache it */
	uint32_t flags;
	int64_t realtime_sec, realtime_nsec;
	int64_t monotonic_sec, monotonic_nsec;
	int64_t boottime_sec, boottime_nsec;
	int64_t frozen_sec, frozen_nsec;
};

/* Which fields a read needs (the commonest reads need one clock's). */
#define TIMENS_VIEW_REALTIME 0x1u   /* flags, REALTIME offset, frozen instant */
#define TIMENS_VIEW_MONOTONIC 0x2u
#define TIMENS_VIEW_BOOTTIME 0x4u
#define TIMENS_VIEW_ALL 0x7u

/* The fields WANT names as they stand, unchecked: the body of a seqlock
 * read, or a last resort when a writer died inside (each field is old or
 * new). Fields not wanted read 0; the frozen instant is loaded only while
 * FROZEN unless all is wanted. WANT is a constant in every caller, so
 * each read compiles to its own loads. */
static inline __attribute__((always_inline)) void timens_page_load_some(const struct timens_page *p,
									struct timens_view *v, unsigned int want)
{
	v->flags = __atomic_load_n(&p->flags, __ATOMIC_RELAXED);
	v->realtime_sec = v->realtime_nsec = v->frozen_sec = v->frozen_nsec = 0;
	if (want & TIMENS_VIEW_REALTIME) {
		v->realtime_sec = __atomic_load_n(&p->realtime_sec, __ATOMIC_RELAXED);
		v->realtime_nsec = __atomic_load_n(&p->realtime_nsec, __ATOMIC_RELAXED);
		if (want == TIMENS_VIEW_ALL || __builtin_expect(v->flags & TIMENS_FLAG_FROZEN, 0)) {
			v->frozen_sec = __atomic_load_n(&p->frozen_sec, __ATOMIC_RELAXED);
			v->frozen_nsec = __atomic_load_n(&p->frozen_nsec, __ATOMIC_RELAXED);
		}
	}
	v->monotonic_sec = v->monotonic_nsec = 0;
	if (want & TIMENS_VIEW_MONOTONIC) {
		v->monotonic_sec = __atomic_load_n(&p->monotonic_sec, __ATOMIC_RELAXED);
		v->monotonic_nsec = __atomic_load_n(&p->monotonic_nsec, __ATOMIC_RELAXED);
	}
	v->boottime_sec = v->boottime_nsec = 0;
	if (want & TIMENS_VIEW_BOOTTIME) {
		v->boottime_sec = __atomic_load_n(&p->boottime_sec, __ATOMIC_RELAXED);
		v->boottime_nsec = __atomic_load_n(&p->boottime_nsec, __ATOMIC_RELAXED);
	}
}

static inline void timens_page_load(const struct timens_page *p, struct timens_view *v)
{
	timens_page_load_some(p, v, TIMENS_VIEW_ALL);
}

/* One attempt: 1 with the fields WANT names in *v if the snapshot is
 * consistent, 0 if a writer was inside (the caller tries again or falls
 * back). */
static inline __attribute__((always_inline)) int timens_page_try_read_some(const struct timens_page *p,
									   struct timens_view *v, unsigned int want)
{
	uint32_t seq = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);

	if (__builtin_expect(seq & 1u, 0))
		return 0;
	v->seq = seq;
	timens_page_load_some(p, v, want);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __builtin_expect(__atomic_load_n(&p->seq, __ATOMIC_RELAXED) == seq, 1);
}

static inline int timens_page_try_read(const struct timens_page *p, struct timens_view *v)
{
	return timens_page_try_read_some(p, v, TIMENS_VIEW_ALL);
}

/*
 * (sec, nsec) += (off_sec, off_nsec), saturating at the int64 range instead of
 * overflowing (a page can hold any value a writer or damage put there).
 * off_nsec may be out of [0, 1e9): it is normalised first.
 */
static inline void timens_add_saturating(int64_t *sec, int64_t *nsec, int64_t off_sec, int64_t off_nsec)
{
	int64_t carry, s;

	if (__builtin_expect((uint64_t)off_nsec >= (uint64_t)TIMENS_NSEC_PER_SEC, 0)) {
		/* Writers never store this; damage may. No division otherwise. */
		carry = off_nsec / TIMENS_NSEC_PER_SEC;
		off_nsec -= carry * TIMENS_NSEC_PER_SEC;
		if (off_nsec < 0) {
			off_nsec += TIMENS_NSEC_PER_SEC;
			carry -= 1;
		}
		if (__builtin_add_overflow(off_sec, carry, &off_sec))
			off_sec = carry < 0 ? INT64_MIN : INT64_MAX;
	}
	*nsec += off_nsec;
	if (*nsec >= TIMENS_NSEC_PER_SEC) {
		*nsec -= TIMENS_NSEC_PER_SEC;
		if (__builtin_add_overflow(off_sec, 1, &off_sec))
			off_sec = INT64_MAX;
	}
	if (__builtin_add_overflow(*sec, off_sec, &s))
		s = off_sec < 0 ? INT64_MIN : INT64_MAX;
	*sec = s;
}

/* Namespace REALTIME from host REALTIME (sec, nsec in [0, 1e9)), in place. */
static inline void timens_view_realtime(const struct timens_view *v, int64_t *sec, int64_t *nsec)
{
	if (v->flags & TIMENS_FLAG_FROZEN) {
		*sec = v->frozen_sec;
		*nsec = 0;
		timens_add_saturating(sec, nsec, 0, v->frozen_nsec);
		return;
	}
	timens_add_saturating(sec, nsec, v->realtime_sec, v->realtime_nsec);
}

#endif /* TIMENS_PAGE_READ_H */
