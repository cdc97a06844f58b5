/*
 * patch.c - inject the blob into a stopped tracee and point its vDSO's
 * time functions at it (x86-64).
 *
 * Steps, all undone if one fails:
 *   1. find the vDSO ([vdso] in /proc/PID/maps), copy its image, find the
 *      time functions in its dynamic symbol table and a `syscall` in its text;
 *   2. make the tracee mmap a code page (within +-2 GB of the vDSO when a
 *      jump must reach it), write the blob and the page's path there, make
 *      it openat + mmap the clock page read only, close the file;
 *   3. fill the blob's slots: the page, and where the original code runs;
 *   4a. at exec: set st_value of every dynamic symbol that names one of the
 *       time functions (the __vdso_ names and their weak aliases) to the
 *       blob's entry; hash tables and versions stay as they are;
 *   4b. running: copy each function's first instructions to a trampoline
 *       (RIP-relative operands fixed up), then write `jmp rel32` to the
 *       blob over them.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "blob_abi.h"
#include "patch.h"
#include "remote.h"
#include "trampoline.h"
#include "vdso_elf.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* The blob, built by setup.py from blob.c into a flat image. */
__asm__(".pushsection .rodata\n"
	".balign 16\n"
	"timens_blob_image:\n"
	".incbin \"" TIMENS_BLOB_BIN "\"\n"
	"timens_blob_image_end:\n"
	".popsection\n");
extern const unsigned char timens_blob_image[], timens_blob_image_end[];

enum { FN_CLOCK_GETTIME, FN_GETTIMEOFDAY, FN_TIME, FN_COUNT };
static const char *const fn_names[FN_COUNT] = { "__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time" };

#define VDSO_MAX (64 * 1024)

struct vdso {
	uint64_t base, size;
	unsigned char image[VDSO_MAX];
	uint64_t fn[FN_COUNT];          /* st_value of each function, 0 if absent */
	uint64_t dynsym, dynsym_count;  /* offset of .dynsym in the image, entries */
};

/* The blob's entries, in FN_* order, as offsets from its head. */
static uint64_t blob_entry(int fn)
{
	const struct timens_blob_head *head = (const void *)timens_blob_image;
	const uint32_t entries[FN_COUNT] = { head->clock_gettime, head->gettimeofday, head->time };

	return entries[fn];
}

static int find_vdso_mapping(pid_t pid, struct vdso *v)
{
	char path[64], line[512];
	unsigned long start, end;
	FILE *maps;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "re");
	if (maps == NULL)
		return -1;
	v->base = 0;
	while (fgets(line, sizeof(line), maps))
		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &start, &end) == 2) {
			v->base = start;
			v->size = end - start;
		}
	fclose(maps);
	return v->base && v->size <= VDSO_MAX ? 0 : -1;
}

/* Step 1: the vDSO's image, its time functions and a `syscall` in its text. */
static const char *read_vdso(struct remote *r, struct vdso *v)
{
	struct timens_vdso_tables t;
	const Elf64_Sym *sym;

	if (find_vdso_mapping(r->pid, v) != 0)
		return "it has no vDSO";
	if (remote_read(r, v->base, v->image, v->size) != 0)
		return "its vDSO cannot be read";
	if (timens_vdso_parse(v->image, v->size, &t) != 0)
		return "it is not a 64-bit x86-64 program";
	v->dynsym = t.dynsym;
	v->dynsym_count = t.count;
	for (int f = 0; f < FN_COUNT; f++)
		v->fn[f] = (sym = timens_vdso_symbol(v->image, &t, fn_names[f])) ? sym->st_value : 0;
	if (!v->fn[FN_CLOCK_GETTIME])
		return "its vDSO has no clock_gettime";
	r->syscall_insn = 0;
	for (uint64_t b = 0; b + 1 < t.text_size; b++)
		if (v->image[t.text + b] == 0x0f && v->image[t.text + b + 1] == 0x05) {
			r->syscall_insn = v->base + t.text + b;  /* the vDSO is linked at 0: offset = address */
			break;
		}
	if (!r->syscall_insn)
		return "its vDSO has no syscall instruction to borrow";
	if (v->fn[FN_CLOCK_GETTIME] >= v->size)
		return "its vDSO is patched already";
	return NULL;
}

/* A code page; within +-2 GB of the vDSO when NEAR, for jumps to reach. */
static long map_code_page(struct remote *r, const struct vdso *v, int near)
{
	const uint64_t step = 1ULL << 20, reach = (1ULL << 31) - (1ULL << 24);
	long addr;

	if (!near)
		return remote_syscall(r, SYS_mmap, 0, TIMENS_BLOB_MAPPING, PROT_READ | PROT_EXEC,
				      MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);
	/* Probe below the vDSO first (the stack usually sits above it), then above. */
	for (uint64_t d = step; d < reach; d += step)
		for (int dir = -1; dir <= 1; dir += 2) {
			uint64_t want = dir < 0 ? (v->base & ~(step - 1)) - d : v->base + v->size + d;

			if (dir < 0 && d > (v->base & ~(step - 1)))
				continue;
			addr = remote_syscall(r, SYS_mmap, want, TIMENS_BLOB_MAPPING, PROT_READ | PROT_EXEC,
					      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0);
			if (addr == (long)want)
				return addr;
			if (addr >= 0)  /* an old kernel took it as a hint */
				remote_syscall(r, SYS_munmap, (uint64_t)addr, TIMENS_BLOB_MAPPING, 0, 0, 0, 0);
			else if (addr != -EEXIST && addr != -ENOMEM && addr != -EPERM)
				return addr;
		}
	return -ENOMEM;
}

/* Step 2 and the page slot of step 3. Returns the code page's address, or 0. */
static uint64_t load_blob(struct remote *r, const struct vdso *v, const char *page_path, int near,
			  const char **why)
{
	size_t blob_len = (size_t)(timens_blob_image_end - timens_blob_image);
	size_t path_len = strlen(page_path) + 1;
	long code, fd, page;

	if (path_len > TIMENS_BLOB_TRAMPOLINES_AT - TIMENS_BLOB_PATH_AT) {
		*why = "the clock page's path is too long";
		return 0;
	}
	code = map_code_page(r, v, near);
	if (code < 0 && code > -4096) {
		*why = near ? "no free address within 2 GB of its vDSO" : "it could not map a code page";
		return 0;
	}
	if (remote_write(r, (uint64_t)code, timens_blob_image, blob_len) != 0 ||
	    remote_write(r, (uint64_t)code + TIMENS_BLOB_PATH_AT, page_path, path_len) != 0) {
		*why = "its memory cannot be written";
		goto unmap;
	}
	fd = remote_syscall(r, SYS_openat, (uint64_t)AT_FDCWD, (uint64_t)code + TIMENS_BLOB_PATH_AT,
			    O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0) {
		*why = "it cannot open the clock page";
		goto unmap;
	}
	page = remote_syscall(r, SYS_mmap, 0, 4096, PROT_READ, MAP_SHARED, (uint64_t)fd, 0);
	remote_syscall(r, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0);
	if (page < 0 && page > -4096) {
		*why = "it cannot map the clock page";
		goto unmap;
	}
	if (remote_write(r, (uint64_t)code + TIMENS_BLOB_SLOT_PAGE, &page, sizeof(page)) == 0)
		return (uint64_t)code;
	*why = "its memory cannot be written";
	remote_syscall(r, SYS_munmap, (uint64_t)page, 4096, 0, 0, 0, 0);
unmap:
	remote_syscall(r, SYS_munmap, (uint64_t)code, TIMENS_BLOB_MAPPING, 0, 0, 0, 0);
	return 0;
}

static void unload_blob(struct remote *r, uint64_t code)
{
	uint64_t page;

	if (remote_read(r, code + TIMENS_BLOB_SLOT_PAGE, &page, sizeof(page)) == 0 && page)
		remote_syscall(r, SYS_munmap, page, 4096, 0, 0, 0, 0);
	remote_syscall(r, SYS_munmap, code, TIMENS_BLOB_MAPPING, 0, 0, 0, 0);
}

/* Step 3: where each original function runs. */
static int set_originals(struct remote *r, uint64_t code, const uint64_t orig[FN_COUNT])
{
	return remote_write(r, code + TIMENS_BLOB_SLOT_ORIG, orig, FN_COUNT * sizeof(uint64_t));
}

/* Step 4a: every dynamic symbol at a time function's address now names the blob's entry. */
static int patch_symbols(struct remote *r, const struct vdso *v, uint64_t code)
{
	const Elf64_Sym *sym = (const void *)(v->image + v->dynsym);

	for (uint64_t s = 0; s < v->dynsym_count; s++)
		for (int f = 0; f < FN_COUNT; f++) {
			uint64_t value = code + blob_entry(f) - v->base;  /* may wrap: the loader adds base */

			if (!v->fn[f] || sym[s].st_value != v->fn[f] || ELF64_ST_TYPE(sym[s].st_info) != STT_FUNC)
				continue;
			if (remote_write(r, v->base + v->dynsym + s * sizeof(Elf64_Sym) + offsetof(Elf64_Sym, st_value),
					 &value, sizeof(value)) != 0)
				return -1;
		}
	return 0;
}

/* Begin: registers saved, vDSO read. */
static int begin(struct remote *r, pid_t pid, struct vdso *v, const char **why)
{
	if (remote_open(r, pid) != 0) {
		*why = "cannot open its memory";
		return -1;
	}
	if (remote_save(r) != 0) {
		*why = "cannot read its registers";
		remote_close(r);
		return -1;
	}
	if ((*why = read_vdso(r, v)) != NULL) {
		remote_close(r);
		return -1;
	}
	return 0;
}

static int end(struct remote *r, int *pending)
{
	int ret = remote_restore(r);

	if (r->pending_signal && !*pending)
		*pending = r->pending_signal;
	remote_close(r);
	return ret;
}

int patch_at_exec(pid_t pid, const char *page_path, const char **why, int *pending)
{
	static struct vdso v;
	struct remote r;
	uint64_t code, orig[FN_COUNT];

	if (begin(&r, pid, &v, why) != 0)
		return -1;
	code = load_blob(&r, &v, page_path, 0, why);
	if (code == 0) {
		end(&r, pending);
		return -1;
	}
	for (int f = 0; f < FN_COUNT; f++)
		orig[f] = v.fn[f] ? v.base + v.fn[f] : 0;
	if (set_originals(&r, code, orig) != 0 || patch_symbols(&r, &v, code) != 0) {
		*why = "its vDSO cannot be written";
		unload_blob(&r, code);
		end(&r, pending);
		return -1;
	}
	return end(&r, pending);
}

/* Where a jump over FN's start would cut an instruction a thread is inside: 1 if RIP is there. */
static int cuts(uint64_t fn, uint64_t rip)
{
	return rip > fn && rip < fn + TIMENS_JMP_LEN;
}

/* Is the function at ADDR a jump into our blob already? */
static int injected_already(struct remote *r, uint64_t addr)
{
	unsigned char insn[TIMENS_JMP_LEN];
	uint64_t magic;
	int32_t rel;

	if (remote_read(r, addr, insn, sizeof(insn)) != 0 || insn[0] != 0xe9)
		return 0;
	memcpy(&rel, insn + 1, sizeof(rel));
	return remote_read(r, (addr + TIMENS_JMP_LEN + (uint64_t)(int64_t)rel) & ~(uint64_t)(TIMENS_BLOB_MAPPING - 1),
			   &magic, sizeof(magic)) == 0 && magic == TIMENS_BLOB_MAGIC;
}

int patch_running(pid_t pid, const uint64_t *rips, int nrips, const char *page_path, const char **why,
		  int *pending)
{
	static struct vdso v;
	unsigned char tramp[FN_COUNT][TIMENS_BLOB_TRAMPOLINE_SIZE], jmp[FN_COUNT][TIMENS_JMP_LEN];
	unsigned char saved[FN_COUNT][TIMENS_JMP_LEN];
	uint64_t code, orig[FN_COUNT] = { 0 };
	int covered, len[FN_COUNT] = { 0 }, f, done;
	struct remote r;

	if (begin(&r, pid, &v, why) != 0)
		return -1;
	/* Everything is checked before anything changes. */
	for (f = 0; f < FN_COUNT; f++) {
		uint64_t fn = v.base + v.fn[f];

		if (!v.fn[f])
			continue;
		if (injected_already(&r, fn)) {
			*why = "it was injected already";
			goto refuse;
		}
		if (v.fn[f] + 32 > v.size ||
		    !timens_trampoline(v.image + v.fn[f], fn, fn, tramp[f], TIMENS_BLOB_TRAMPOLINE_SIZE, &covered)) {
			*why = "its vDSO code is not what this version of timens knows how to patch";
			goto refuse;
		}
		for (int t = 0; t < nrips; t++)
			if (cuts(fn, rips[t])) {
				end(&r, pending);
				return 1;  /* a thread is in there: try again in a moment */
			}
	}
	code = load_blob(&r, &v, page_path, 1, why);
	if (code == 0)
		goto refuse;
	for (f = 0; f < FN_COUNT; f++) {
		uint64_t fn = v.base + v.fn[f], at = code + TIMENS_BLOB_TRAMPOLINES_AT + (uint64_t)f * TIMENS_BLOB_TRAMPOLINE_SIZE;

		if (!v.fn[f])
			continue;
		len[f] = timens_trampoline(v.image + v.fn[f], fn, at, tramp[f], TIMENS_BLOB_TRAMPOLINE_SIZE, &covered);
		if (!len[f] || !timens_jmp(fn, code + blob_entry(f), jmp[f]) ||
		    remote_write(&r, at, tramp[f], (size_t)len[f]) != 0) {
			*why = "its trampolines cannot be placed";
			goto unload;
		}
		orig[f] = at;
		memcpy(saved[f], v.image + v.fn[f], TIMENS_JMP_LEN);
	}
	if (set_originals(&r, code, orig) != 0) {
		*why = "its memory cannot be written";
		goto unload;
	}
	for (done = 0; done < FN_COUNT; done++)
		if (len[done] && remote_write(&r, v.base + v.fn[done], jmp[done], TIMENS_JMP_LEN) != 0) {
			*why = "its vDSO cannot be written";
			while (done-- > 0)
				if (len[done])
					remote_write(&r, v.base + v.fn[done], saved[done], TIMENS_JMP_LEN);
			goto unload;
		}
	return end(&r, pending);
unload:
	unload_blob(&r, code);
refuse:
	end(&r, pending);
	return -1;
}
