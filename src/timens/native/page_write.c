/*
 * page_write.c - the one writer of clock pages (see page_write.h).
 *
 * Compiled into libtimens.so and, alone, into libtimens-page.so for the
 * Python package (built without -fvisibility=hidden there, so the four
 * functions below are its interface). It reads the host clock with the raw syscall: inside
 * libtimens.so, clock_gettime is the namespace's own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "timens_page_read.h"
#include "page_write.h"

/* A (sec, nsec) pair with nsec in [0, 1e9). */
struct instant {
	int64_t sec, nsec;
};

static struct instant host_now(void)
{
	struct timespec ts;

	syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
	return (struct instant){ ts.tv_sec, ts.tv_nsec };
}

/* Normalise (sec, nsec) with any nsec; 0, or ERANGE if sec overflows. */
static int normalise(struct instant *t)
{
	int64_t carry = t->nsec / TIMENS_NSEC_PER_SEC;

	t->nsec -= carry * TIMENS_NSEC_PER_SEC;
	if (t->nsec < 0) {
		t->nsec += TIMENS_NSEC_PER_SEC;
		carry -= 1;
	}
	return __builtin_add_overflow(t->sec, carry, &t->sec) ? ERANGE : 0;
}

/* *t = a + b (b negated if sign < 0); ERANGE instead of overflowing. */
static int add(struct instant *t, struct instant a, struct instant b, int sign)
{
	if (normalise(&a) || normalise(&b))
		return ERANGE;
	if (sign < 0) {
		if (__builtin_sub_overflow(a.sec, b.sec, &t->sec))
			return ERANGE;
		t->nsec = a.nsec - b.nsec;
	} else {
		if (__builtin_add_overflow(a.sec, b.sec, &t->sec))
			return ERANGE;
		t->nsec = a.nsec + b.nsec;
	}
	return normalise(t);
}

/* The page mapped from FD, or MAP_FAILED with *err set. */
static struct timens_page *map(int fd, int prot, int *err)
{
	struct stat st;
	struct timens_page *p;

	if (fstat(fd, &st) != 0) {
		*err = errno;
		return MAP_FAILED;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < TIMENS_PAGE_SIZE) {
		*err = TIMENS_ENOTPAGE;
		return MAP_FAILED;
	}
	p = mmap(NULL, TIMENS_PAGE_SIZE, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*err = errno;
		return MAP_FAILED;
	}
	if (__atomic_load_n(&p->magic, __ATOMIC_RELAXED) != TIMENS_PAGE_MAGIC ||
	    __atomic_load_n(&p->version, __ATOMIC_RELAXED) != TIMENS_PAGE_VERSION) {
		munmap(p, TIMENS_PAGE_SIZE);
		*err = TIMENS_ENOTPAGE;
		return MAP_FAILED;
	}
	return p;
}

/* The writers' lock, waited for about two seconds at most. */
static int lock(int fd)
{
	const struct timespec pause = { .tv_nsec = 1000000 };
	int tries;

	for (tries = 0; tries < 2000; tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return errno;
		nanosleep(&pause, NULL);
	}
	return EBUSY;
}

/* The clock fields a write may change. */
struct fields {
	uint32_t flags;
	struct instant realtime, monotonic, boottime, frozen;
};

static struct fields load(const struct timens_page *p)
{
	struct timens_view v;

	/* Under the lock no writer is inside; a dead one left what it left. */
	timens_page_load(p, &v);
	return (struct fields){
		.flags = v.flags,
		.realtime = { v.realtime_sec, v.realtime_nsec },
		.monotonic = { v.monotonic_sec, v.monotonic_nsec },
		.boottime = { v.boottime_sec, v.boottime_nsec },
		.frozen = { v.frozen_sec, v.frozen_nsec },
	};
}

/* The new fields for OP with argument a; 0 or an errno value. */
static int compute(struct fields *f, int op, struct instant a)
{
	const struct instant zero = { 0, 0 };
	int frozen = f->flags & TIMENS_FLAG_FROZEN;

	switch (op) {
	case TIMENS_OP_SET_OFFSET:
		return frozen ? add(&f->frozen, host_now(), a, 1) : add(&f->realtime, a, zero, 1);
	case TIMENS_OP_SET_NOW:
		return frozen ? add(&f->frozen, a, zero, 1) : add(&f->realtime, a, host_now(), -1);
	case TIMENS_OP_FREEZE_NOW:
		if (frozen)
			return 0;
		if (add(&a, host_now(), f->realtime, 1))
			return ERANGE;
		/* fall through */
	case TIMENS_OP_FREEZE:
		f->flags |= TIMENS_FLAG_FROZEN;
		return add(&f->frozen, a, zero, 1);
	case TIMENS_OP_UNFREEZE:
		if (!frozen)
			return 0;
		f->flags &= ~(uint32_t)TIMENS_FLAG_FROZEN;
		return add(&f->realtime, f->frozen, host_now(), -1);
	case TIMENS_OP_ADVANCE:
		if (a.sec < 0)
			return EINVAL;
		if (add(&f->monotonic, f->monotonic, a, 1) || add(&f->boottime, f->boottime, a, 1))
			return ERANGE;
		return frozen ? add(&f->frozen, f->frozen, a, 1) : add(&f->realtime, f->realtime, a, 1);
	}
	return EINVAL;
}

/* The seqlock write itself, with every signal blocked while seq is odd. */
static void store(struct timens_page *p, const struct fields *f)
{
	uint32_t seq = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
	/* Odd already: a writer died inside. Stay odd, but a new value. */
	uint32_t odd = (seq & 1u) ? seq + 2 : seq + 1;
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	__atomic_store_n(&p->seq, odd, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);  /* seq odd before the fields */
	__atomic_store_n(&p->flags, f->flags, __ATOMIC_RELAXED);
	__atomic_store_n(&p->realtime_sec, f->realtime.sec, __ATOMIC_RELAXED);
	__atomic_store_n(&p->realtime_nsec, f->realtime.nsec, __ATOMIC_RELAXED);
	__atomic_store_n(&p->monotonic_sec, f->monotonic.sec, __ATOMIC_RELAXED);
	__atomic_store_n(&p->monotonic_nsec, f->monotonic.nsec, __ATOMIC_RELAXED);
	__atomic_store_n(&p->boottime_sec, f->boottime.sec, __ATOMIC_RELAXED);
	__atomic_store_n(&p->boottime_nsec, f->boottime.nsec, __ATOMIC_RELAXED);
	__atomic_store_n(&p->frozen_sec, f->frozen.sec, __ATOMIC_RELAXED);
	__atomic_store_n(&p->frozen_nsec, f->frozen.nsec, __ATOMIC_RELAXED);
	__atomic_store_n(&p->generation, __atomic_load_n(&p->generation, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&p->seq, odd + 1, __ATOMIC_RELEASE);  /* fields before seq */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* Sleepers re-check their deadlines: every write moves or stops a clock. */
	__atomic_fetch_add(&p->wake, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &p->wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

int timens_page_write(int fd, int op, int64_t sec, int64_t nsec)
{
	struct timens_page *p;
	struct fields f;
	int err = 0;

	p = map(fd, PROT_READ | PROT_WRITE, &err);
	if (p == MAP_FAILED)
		return err;
	err = lock(fd);
	if (err == 0) {
		f = load(p);
		err = compute(&f, op, (struct instant){ sec, nsec });
		if (err == 0)
			store(p, &f);
		flock(fd, LOCK_UN);
	}
	munmap(p, TIMENS_PAGE_SIZE);
	return err;
}

int timens_page_format(int fd, int64_t sec, int64_t nsec, uint64_t ns_id)
{
	struct timens_page page, *p = &page;
	struct instant off = { sec, nsec };
	const char *b;
	size_t done;
	ssize_t n;

	if (normalise(&off))
		return ERANGE;
	memset(p, 0, sizeof(*p));
	p->magic = TIMENS_PAGE_MAGIC;
	p->version = TIMENS_PAGE_VERSION;
	p->realtime_sec = off.sec;
	p->realtime_nsec = off.nsec;
	p->ns_id = ns_id;
	for (b = (const char *)p, done = 0; done < sizeof(*p); done += (size_t)n) {
		n = pwrite(fd, b + done, sizeof(*p) - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			n = 0;
		else if (n <= 0)
			return n < 0 ? errno : EIO;
	}
	return 0;
}

int timens_page_check(int fd)
{
	struct timens_page *p;
	int err = 0;

	p = map(fd, PROT_READ, &err);
	if (p != MAP_FAILED)
		munmap(p, TIMENS_PAGE_SIZE);
	return err;
}

int timens_page_snapshot(int fd, struct timens_page_state *out)
{
	struct timens_page *p;
	struct timens_view v = { 0 };
	struct instant now;
	uint32_t seq;
	int err = 0, tries;

	p = map(fd, PROT_READ, &err);
	if (p == MAP_FAILED)
		return err;
	err = EAGAIN;
	for (tries = 0; tries < 100000; tries++) {
		/* The extra fields lie between this load and try_read's last. */
		seq = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
		out->generation = __atomic_load_n(&p->generation, __ATOMIC_RELAXED);
		out->ns_id = __atomic_load_n(&p->ns_id, __ATOMIC_RELAXED);
		out->wake = __atomic_load_n(&p->wake, __ATOMIC_RELAXED);
		if (timens_page_try_read(p, &v) && v.seq == seq) {
			err = 0;
			break;
		}
		sched_yield();
	}
	munmap(p, TIMENS_PAGE_SIZE);
	if (err)
		return err;
	now = host_now();
	out->host_sec = now.sec;
	out->host_nsec = now.nsec;
	out->seq = v.seq;
	out->flags = v.flags;
	out->reserved = 0;
	out->realtime_sec = v.realtime_sec;
	out->realtime_nsec = v.realtime_nsec;
	out->monotonic_sec = v.monotonic_sec;
	out->monotonic_nsec = v.monotonic_nsec;
	out->boottime_sec = v.boottime_sec;
	out->boottime_nsec = v.boottime_nsec;
	out->frozen_sec = v.frozen_sec;
	out->frozen_nsec = v.frozen_nsec;
	return 0;
}
