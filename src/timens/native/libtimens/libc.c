/*
 * libc.c - the C library this process runs, and its private layouts.
 *
 * libtimens.so is built once on glibc and loaded by glibc and musl
 * programs alike, so nothing libc-specific may be linked in: glibc-only
 * functions are looked up with dlsym, and the libc is told apart by
 * gnu_get_libc_version, which only glibc has.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "libc.h"

enum libc_kind { LIBC_UNKNOWN, LIBC_MUSL, LIBC_GLIBC_OLD_CONDVAR, LIBC_GLIBC };

/*
 * Where each libc keeps a condvar's clock, as int indexes into
 * pthread_cond_t (the same on every 64-bit architecture):
 *   glibc >= 2.25  __data.__wrefs (index 9), bit value 2 set: MONOTONIC
 *                  (tests/probes/rt_condclock.c checks it);
 *   glibc < 2.25   __data.__nwaiters (index 10), bit value 1 set: MONOTONIC;
 *   musl           _c_clock (index 4), the clock id itself.
 */
#define GLIBC_WREFS 9
#define GLIBC_WREFS_MONOTONIC 2u
#define GLIBC_OLD_NWAITERS 10
#define GLIBC_OLD_NWAITERS_MONOTONIC 1u
#define MUSL_C_CLOCK 4

#ifdef __GLIBC__
_Static_assert(offsetof(pthread_cond_t, __data.__wrefs) == GLIBC_WREFS * sizeof(int), "glibc condvar layout");
#endif

static enum libc_kind libc_kind(void)
{
	static enum libc_kind kind;  /* racing threads compute the same value */
	enum libc_kind k = __atomic_load_n(&kind, __ATOMIC_RELAXED);
	const char *(*version)(void);
	const char *v;

	if (k != LIBC_UNKNOWN)
		return k;
	version = (const char *(*)(void))dlsym(RTLD_DEFAULT, "gnu_get_libc_version");
	if (version == NULL) {
		k = LIBC_MUSL;
	} else {
		v = version();  /* "2.36" */
		k = strncmp(v, "2.", 2) == 0 && strtol(v + 2, NULL, 10) < 25 ? LIBC_GLIBC_OLD_CONDVAR : LIBC_GLIBC;
	}
	__atomic_store_n(&kind, k, __ATOMIC_RELAXED);
	return k;
}

void *timens_dlvsym(void *handle, const char *name, const char *version)
{
	static void *(*dlvsym_fn)(void *, const char *, const char *);
	void *(*fn)(void *, const char *, const char *) = __atomic_load_n(&dlvsym_fn, __ATOMIC_RELAXED);

	if (fn == NULL && libc_kind() != LIBC_MUSL) {
		fn = (void *(*)(void *, const char *, const char *))dlsym(RTLD_DEFAULT, "dlvsym");
		__atomic_store_n(&dlvsym_fn, fn, __ATOMIC_RELAXED);
	}
	return fn ? fn(handle, name, version) : dlsym(handle, name);
}

clockid_t timens_cond_clock(const pthread_cond_t *cond)
{
	const unsigned int *word = (const unsigned int *)cond;
	int monotonic;

	switch (libc_kind()) {
	case LIBC_MUSL:
		return (clockid_t)__atomic_load_n(&word[MUSL_C_CLOCK], __ATOMIC_RELAXED);
	case LIBC_GLIBC_OLD_CONDVAR:
		monotonic = __atomic_load_n(&word[GLIBC_OLD_NWAITERS], __ATOMIC_RELAXED) & GLIBC_OLD_NWAITERS_MONOTONIC;
		break;
	default:
		monotonic = __atomic_load_n(&word[GLIBC_WREFS], __ATOMIC_RELAXED) & GLIBC_WREFS_MONOTONIC;
	}
	return monotonic ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}
