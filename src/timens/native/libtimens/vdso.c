/*
 * vdso.c - one offset, not two, when the vDSO is patched too.
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
#include <stdint.h>
#include <sys/auxv.h>

#include "libtimens.h"
#include "vdso.h"
#include "vdso/blob_abi.h"
#include "vdso/vdso_elf.h"

void timens_bypass_vdso_patch(void)
{
#if defined(__x86_64__)
	const unsigned char *image = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
	const struct timens_blob_head *head;
	struct timens_vdso_tables t;
	const Elf64_Sym *sym;
	uint64_t entry;

	/* The section table ends the image: a bound that needs no /proc read. */
	if (image == NULL || timens_vdso_parse(image, 1 << 16, &t) != 0 ||
	    (sym = timens_vdso_symbol(image, &t, "__vdso_clock_gettime")) == NULL || sym->st_value < t.end)
		return;
	entry = (uint64_t)(uintptr_t)image + sym->st_value;
	head = (const struct timens_blob_head *)(uintptr_t)(entry & ~(uint64_t)(TIMENS_BLOB_MAPPING - 1));
	if (head->magic != TIMENS_BLOB_MAGIC || !head->orig_clock_gettime || !head->orig_gettimeofday)
		return;
	__atomic_store_n(&timens_real_clock_gettime,
			 (int (*)(clockid_t, struct timespec *))(uintptr_t)head->orig_clock_gettime, __ATOMIC_RELAXED);
	__atomic_store_n(&timens_real_gettimeofday,
			 (int (*)(struct timeval *, void *))(uintptr_t)head->orig_gettimeofday, __ATOMIC_RELAXED);
#endif
}
