/*
 * vdso_elf.h - find things in an image of the vDSO (x86-64), for the
 * tracer, which reads it from a tracee, and for libtimens.so, which looks
 * at its own. The vDSO is a whole ELF file linked at address 0, section
 * table included, so offsets are addresses relative to its base.
 */
#ifndef TIMENS_VDSO_ELF_H
#define TIMENS_VDSO_ELF_H

#include <elf.h>
#include <stdint.h>
#include <string.h>

struct timens_vdso_tables {
	uint64_t dynsym, count;      /* .dynsym: offset, entries */
	uint64_t strtab, strsize;    /* its string table */
	uint64_t text, text_size;    /* the first executable section */
	uint64_t end;                /* where the image ends at the latest */
};

static inline int timens_vdso_inside(uint64_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

/* 0 with *t filled, -1 if IMAGE (SIZE bytes) is no 64-bit vDSO with a symbol table. */
static inline int timens_vdso_parse(const unsigned char *image, uint64_t size, struct timens_vdso_tables *t)
{
	const Elf64_Ehdr *eh = (const void *)image;
	const Elf64_Shdr *sh;

	memset(t, 0, sizeof(*t));
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_machine != EM_X86_64 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !timens_vdso_inside(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
		return -1;
	sh = (const void *)(image + eh->e_shoff);
	t->end = eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr);
	for (int i = 0; i < eh->e_shnum; i++) {
		if (!timens_vdso_inside(size, sh[i].sh_offset, sh[i].sh_size))
			continue;
		if (sh[i].sh_type == SHT_DYNSYM && sh[i].sh_link < eh->e_shnum &&
		    timens_vdso_inside(size, sh[sh[i].sh_link].sh_offset, sh[sh[i].sh_link].sh_size)) {
			t->dynsym = sh[i].sh_offset;
			t->count = sh[i].sh_size / sizeof(Elf64_Sym);
			t->strtab = sh[sh[i].sh_link].sh_offset;
			t->strsize = sh[sh[i].sh_link].sh_size;
		}
		if (sh[i].sh_type == SHT_PROGBITS && (sh[i].sh_flags & SHF_EXECINSTR) && !t->text) {
			t->text = sh[i].sh_offset;
			t->text_size = sh[i].sh_size;
		}
	}
	return t->dynsym ? 0 : -1;
}

/* The function symbol NAME, or NULL. */
static inline const Elf64_Sym *timens_vdso_symbol(const unsigned char *image, const struct timens_vdso_tables *t,
						  const char *name)
{
	const Elf64_Sym *sym = (const void *)(image + t->dynsym);
	size_t len = strlen(name);

	for (uint64_t s = 0; s < t->count; s++)
		if (sym[s].st_name < t->strsize && len < t->strsize - sym[s].st_name &&
		    memcmp(image + t->strtab + sym[s].st_name, name, len + 1) == 0 &&
		    ELF64_ST_TYPE(sym[s].st_info) == STT_FUNC)
			return &sym[s];
	return NULL;
}

#endif /* TIMENS_VDSO_ELF_H */
