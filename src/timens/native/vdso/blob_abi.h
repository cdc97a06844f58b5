/*
 * blob_abi.h - the contract between the code injected next to a program's
 * vDSO (blob.c) and the tracer that puts it there (patch.c), and how
 * libtimens.so recognises a patched vDSO.
 *
 * The blob is one position-independent piece of code, at most one page,
 * that starts with this head. The tracer maps it into the program, fills
 * the slots, then points the vDSO's time functions at the entries. Each
 * entry calls the original vDSO function where it lies (its code reaches
 * the kernel's vvar pages RIP-relative, so it cannot be copied elsewhere)
 * and applies the clock page (timens_page_read.h) to the result.
 */
#ifndef TIMENS_BLOB_ABI_H
#define TIMENS_BLOB_ABI_H

#include <stdint.h>

#define TIMENS_BLOB_MAGIC 0x4f5344564e534d54ULL  /* "TMNSVDSO" */
#define TIMENS_BLOB_MAX 2048                      /* code; the page's path follows */
#define TIMENS_BLOB_PATH_AT 2048                  /* up to TIMENS_BLOB_TRAMPOLINES_AT */
#define TIMENS_BLOB_TRAMPOLINES_AT 3072           /* 64 bytes per patched function */
#define TIMENS_BLOB_TRAMPOLINE_SIZE 64
#define TIMENS_BLOB_MAPPING 4096

struct timens_blob_head {
	uint64_t magic;
	/* Entries, as offsets from the head (the blob fills these itself). */
	uint32_t clock_gettime;
	uint32_t gettimeofday;
	uint32_t time;
	uint32_t size;
	/* Slots the injector fills before any entry can run. */
	uint64_t page;                /* the mapped clock page, 0: host time */
	uint64_t orig_clock_gettime;  /* the vDSO's own functions, or their trampolines */
	uint64_t orig_gettimeofday;
	uint64_t orig_time;
};

#define TIMENS_BLOB_SLOT_PAGE 24
#define TIMENS_BLOB_SLOT_ORIG 32

#endif /* TIMENS_BLOB_ABI_H */
