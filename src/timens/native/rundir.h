/*
 * rundir.h - where timens keeps named namespaces, pages and metadata: the
 * one rule for C (libtimens.so, the timens-runtime front end), as
 * rundir.py's default_rundir() is for Python:
 *
 *   TIMENS_RUNDIR, else TIMENS_DEFAULT_RUNDIR for euid 0, else
 *   $XDG_RUNTIME_DIR/timens, else /tmp/timens-<euid>
 *
 * No stdio and no allocation: libtimens.so runs it in its constructor,
 * before anything of the program is set up.
 */
#ifndef TIMENS_RUNDIR_H
#define TIMENS_RUNDIR_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "timens_page.h"

/* Append S to BUF (size N, NUL-terminated), cutting it short if it must. */
static inline void timens_append(char *buf, size_t n, const char *s)
{
	size_t len = strlen(buf);

	while (*s && len + 1 < n)
		buf[len++] = *s++;
	buf[len] = '\0';
}

static inline void timens_append_u64(char *buf, size_t n, uint64_t v)
{
	char digits[21];
	char *p = digits + sizeof(digits) - 1;

	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	timens_append(buf, n, p);
}

/* The run directory into BUF (size N); 0 if it did not fit. */
static inline int timens_run_dir(char *buf, size_t n)
{
	const char *env = secure_getenv("TIMENS_RUNDIR");

	buf[0] = '\0';
	if (env && *env) {
		timens_append(buf, n, env);
	} else if (geteuid() == 0) {
		timens_append(buf, n, TIMENS_DEFAULT_RUNDIR);
	} else if ((env = secure_getenv("XDG_RUNTIME_DIR")) && *env) {
		timens_append(buf, n, env);
		timens_append(buf, n, "/timens");
	} else {
		timens_append(buf, n, "/tmp/timens-");
		timens_append_u64(buf, n, geteuid());
	}
	return strlen(buf) + 1 < n;
}

#endif /* TIMENS_RUNDIR_H */
