/*
 * vdso.c - host clocks straight from the vDSO.
 *
 * Every namespace read starts with a host read. libc's clock_gettime only
 * calls the vDSO's through a pointer, so calling the vDSO's entry itself
 * saves a call and a return on every read, and the vDSO's time() answers
 * time() without a clock_gettime when the REALTIME offset is whole seconds.
 * The entries are found at start-up in the vDSO's own dynamic symbol table
 * (getauxval(AT_SYSINFO_EHDR)); without a vDSO (or off x86-64) reads go
 * through libc as before.
 *
 * timens-tracer patches the vDSO of every program it sees exec, because
 * it cannot know beforehand whether libtimens.so will load (Go built with
 * cgo loads it, yet its runtime reads the vDSO itself). Where both are in
 * a process, libtimens.so keeps the clock semantics it always had (page,
 * deadlines, settime) and reads host clocks from the original vDSO
 * functions, whose addresses the injected code's head keeps
 * (vdso/blob_abi.h); libc, which already looked up the patched symbols,
 * would give namespace time and the offset would be added twice.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/auxv.h>

#include "libtimens.h"
#include "vdso.h"
#include "vdso/blob_abi.h"
#include "vdso/vdso_elf.h"

/* Until the vDSO is found (or if it is not): libc's read, as the vDSO's. */
static int libc_clock_gettime(clockid_t id, struct timespec *ts)
{
	return __atomic_load_n(&timens_real_clock_gettime, __ATOMIC_RELAXED)(id, ts) == 0 ? 0 : -errno;
}

int (*timens_host_clock_gettime)(clockid_t, struct timespec *) = libc_clock_gettime;
time_t (*timens_host_time)(time_t *);

#if defined(__x86_64__)
typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *, void *);
typedef time_t (*time_fn)(time_t *);

/* The address of vDSO function NAME if the vDSO holds it, else 0. A
 * patched symbol points past the image, at the injected code: *patched. */
static uint64_t vdso_entry(const unsigned char *image, const struct timens_vdso_tables *t, const char *name,
			   uint64_t *patched)
{
	const Elf64_Sym *sym = timens_vdso_symbol(image, t, name);

	if (sym == NULL)
		return 0;
	if (sym->st_value >= t->end) {
		*patched = (uint64_t)(uintptr_t)image + sym->st_value;
		return 0;
	}
	return (uint64_t)(uintptr_t)image + sym->st_value;
}
#endif

void timens_find_vdso(void)
{
#if defined(__x86_64__)
	const unsigned char *image = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
	const struct timens_blob_head *head;
	struct timens_vdso_tables t;
	uint64_t clock_gettime, time, patched = 0;

	/* The section table ends the image: a bound that needs no /proc read. */
	if (image == NULL || timens_vdso_parse(image, 1 << 16, &t) != 0)
		return;
	clock_gettime = vdso_entry(image, &t, "__vdso_clock_gettime", &patched);
	time = vdso_entry(image, &t, "__vdso_time", &patched);
	if (patched) {
		head = (const struct timens_blob_head *)(uintptr_t)(patched & ~(uint64_t)(TIMENS_BLOB_MAPPING - 1));
		if (head->magic != TIMENS_BLOB_MAGIC || !head->orig_clock_gettime || !head->orig_gettimeofday)
			return;  /* not ours: leave libc's reads alone */
		clock_gettime = head->orig_clock_gettime;
		time = head->orig_time;
		__atomic_store_n(&timens_real_clock_gettime, (clock_gettime_fn)(uintptr_t)clock_gettime,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&timens_real_gettimeofday, (gettimeofday_fn)(uintptr_t)head->orig_gettimeofday,
				 __ATOMIC_RELAXED);
	}
	if (clock_gettime)
		__atomic_store_n(&timens_host_clock_gettime, (clock_gettime_fn)(uintptr_t)clock_gettime,
				 __ATOMIC_RELAXED);
	if (time)
		__atomic_store_n(&timens_host_time, (time_fn)(uintptr_t)time, __ATOMIC_RELAXED);
#endif
}
