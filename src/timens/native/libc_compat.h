/*
 * libc_compat.h - build libtimens.so once, load it in every Linux userland.
 *
 * setup.py force-includes this (-include) into every source of libtimens.so,
 * so the sources themselves stay plain. A library linked on a new glibc
 * binds each symbol to the newest version it finds there (dlsym@GLIBC_2.34,
 * stat@GLIBC_2.33), and then fails to load under any older glibc. The
 * manylinux practice fixes that at link time:
 *
 *   - bind a symbol that gained a new version to its oldest one (.symver);
 *   - call the kernel for what older glibcs export only as inline wrappers
 *     (stat and fstat were __xstat before 2.33; the kernel's struct stat is
 *     libc's on 64-bit Linux, glibc and musl alike).
 *
 * setup.py names libdl.so.2 and libpthread.so.0 too, where glibc < 2.34
 * keeps those old versions. musl's loader resolves libc.so.6, libdl.so.2
 * and libpthread.so.0 to itself and ignores symbol versions, so the same
 * file loads there as long as it names no glibc-only symbol: those are
 * looked up at run time (libtimens/libc.c). tests/test_reach.py checks that objdump -T shows no
 * GLIBC_ version above 2.17.
 */
#ifndef TIMENS_LIBC_COMPAT_H
#define TIMENS_LIBC_COMPAT_H

/* Every source defines it first; the same (empty) definition is no clash. */
#define _GNU_SOURCE

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__GLIBC__)
#if defined(__x86_64__)
#define TIMENS_GLIBC_BASE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define TIMENS_GLIBC_BASE "GLIBC_2.17"
#else
#error "add the oldest glibc symbol version of this architecture"
#endif
/* Moved into libc under a new version (dlsym from libdl in 2.34,
 * pthread_sigmask from libpthread in 2.32); the old versions stay. */
__asm__(".symver dlsym, dlsym@" TIMENS_GLIBC_BASE);
__asm__(".symver pthread_sigmask, pthread_sigmask@" TIMENS_GLIBC_BASE);
/* Linked statically from libc_nonshared.a, pthread_atfork would call the
 * glibc-only __register_atfork; the shared library's own keeps musl working. */
__asm__(".symver pthread_atfork, pthread_atfork@" TIMENS_GLIBC_BASE);
#endif

static inline int timens_stat(const char *path, struct stat *st)
{
	return (int)syscall(SYS_newfstatat, AT_FDCWD, path, st, 0);
}

static inline int timens_fstat(int fd, struct stat *st)
{
	return (int)syscall(SYS_fstat, fd, st);
}

#define stat(path, st) timens_stat(path, st)
#define fstat(fd, st) timens_fstat(fd, st)

#endif /* TIMENS_LIBC_COMPAT_H */
