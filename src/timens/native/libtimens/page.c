/*
 * page.c - find and map this namespace's clock page.
 *
 * The constructor looks up the real clock reads, then maps the page:
 *
 *   TIMENS_PAGE=path                    explicit, wins over the lookup
 *   <run dir>/pages/<inode>             inode of /proc/self/ns/time
 *   run dir: TIMENS_RUNDIR, else /run/timens for root, else
 *            $XDG_RUNTIME_DIR/timens, else /tmp/timens-<uid>
 *
 * The page is mapped read only; settime.c opens it again for writing. If
 * there is no usable page, every read gives host time and the process says
 * so once on stderr. Nothing here ever exits or aborts the program.
 *
 * Reads made before this constructor ran (from the constructors of other
 * libraries, which the loader runs first) use raw syscalls and get host
 * time: neither the page nor libc's functions are known yet.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libtimens.h"
#include "vdso.h"

const struct timens_page *timens_page;
uint32_t timens_stuck_seq;
char timens_page_path[PATH_MAX];

static int raw_clock_gettime(clockid_t id, struct timespec *ts)
{
	return (int)syscall(SYS_clock_gettime, id, ts);
}

static int raw_gettimeofday(struct timeval *tv, void *tz)
{
	return (int)syscall(SYS_gettimeofday, tv, tz);
}

int (*timens_real_clock_gettime)(clockid_t, struct timespec *) = raw_clock_gettime;
int (*timens_real_gettimeofday)(struct timeval *, void *) = raw_gettimeofday;

void *timens_next(void **slot, const char *name)
{
	void *fn = __atomic_load_n(slot, __ATOMIC_RELAXED);

	if (fn == NULL) {
		/* Racing threads find the same address: no lock needed. */
		fn = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, fn, __ATOMIC_RELAXED);
	}
	return fn;
}

/* Append s to buf (size n, NUL-terminated); no stdio, safe anywhere. */
static void append(char *buf, size_t n, const char *s)
{
	size_t len = strlen(buf);

	while (*s && len + 1 < n)
		buf[len++] = *s++;
	buf[len] = '\0';
}

static void append_u64(char *buf, size_t n, uint64_t v)
{
	char digits[21];
	char *p = digits + sizeof(digits) - 1;

	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	append(buf, n, p);
}

void timens_warn_once(const char *what, const char *reason)
{
	static int warned;
	char line[PATH_MAX + 256] = "timens: ";
	ssize_t ignored;

	if (__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		return;
	append(line, sizeof(line), what);
	append(line, sizeof(line), " (");
	append(line, sizeof(line), timens_page_path[0] ? timens_page_path : "no path");
	append(line, sizeof(line), ": ");
	append(line, sizeof(line), reason);
	append(line, sizeof(line), "); REALTIME reads host time\n");
	ignored = write(STDERR_FILENO, line, strlen(line));
	(void)ignored;
}

int timens_reader_wait(uint32_t seq, unsigned long *spins)
{
	/* A writer we already gave up on: do not spin for it again. */
	if ((seq & 1u) && __atomic_load_n(&timens_stuck_seq, __ATOMIC_RELAXED) == seq)
		return 1;
	if (++*spins < TIMENS_SPIN_LIMIT) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#elif defined(__aarch64__)
		__asm__ __volatile__("yield");
#endif
		return 0;
	}
	if (seq & 1u)
		__atomic_store_n(&timens_stuck_seq, seq, __ATOMIC_RELAXED);
	timens_warn_once("the clock page's writer stopped mid-update",
			 "sequence counter stays odd");
	return 1;
}

static const char *run_dir(char *buf, size_t n)
{
	const char *env = secure_getenv("TIMENS_RUNDIR");

	buf[0] = '\0';
	if (env && *env) {
		append(buf, n, env);
	} else if (geteuid() == 0) {
		append(buf, n, TIMENS_DEFAULT_RUNDIR);
	} else if ((env = secure_getenv("XDG_RUNTIME_DIR")) && *env) {
		append(buf, n, env);
		append(buf, n, "/timens");
	} else {
		append(buf, n, "/tmp/timens-");
		append_u64(buf, n, geteuid());
	}
	return buf;
}

/* Fill timens_page_path; returns NULL or why there is no path. */
static const char *find_page_path(void)
{
	const char *explicit_path = secure_getenv("TIMENS_PAGE");
	char *path = timens_page_path;
	size_t n = PATH_MAX;
	struct stat st;

	path[0] = '\0';
	if (explicit_path && *explicit_path) {
		if (explicit_path[0] != '/' && getcwd(path, n) != NULL)
			append(path, n, "/");  /* absolute: settime may run after chdir */
		append(path, n, explicit_path);
		return NULL;
	}
	if (stat("/proc/self/ns/time", &st) != 0)
		return strerror(errno);
	run_dir(path, n);
	append(path, n, "/" TIMENS_PAGES_SUBDIR "/");
	append_u64(path, n, (uint64_t)st.st_ino);
	return NULL;
}

/* Did the environment name the page or its run directory? Then it is the user's choice. */
static int explicit_location(void)
{
	const char *page = secure_getenv("TIMENS_PAGE"), *rundir = secure_getenv("TIMENS_RUNDIR");

	return (page && *page) || (rundir && *rundir);
}

/*
 * A program that dropped root (setpriv, su) after entering a namespace
 * root made looks in its own run directory first: with no usable page
 * there and no explicit TIMENS_PAGE or TIMENS_RUNDIR, try root's, whose
 * pages all may read. Returns 1 if timens_page_path now names another
 * candidate.
 */
static int use_system_rundir(void)
{
	const char *slash = strrchr(timens_page_path, '/');
	char inode[32] = "";

	if (explicit_location() || geteuid() == 0 || !slash)
		return 0;
	append(inode, sizeof(inode), slash + 1);
	timens_page_path[0] = '\0';
	append(timens_page_path, PATH_MAX, TIMENS_DEFAULT_RUNDIR "/" TIMENS_PAGES_SUBDIR "/");
	append(timens_page_path, PATH_MAX, inode);
	return 1;
}

/* Owned by us or root, and writable by no one else. */
static int safe_owner(const struct stat *st)
{
	return (st->st_uid == geteuid() || st->st_uid == 0) && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/*
 * A page found by the lookup rather than named by the environment may sit
 * in a directory anyone could have made (/tmp/timens-UID): trust it only if
 * it, its directory and the run directory above are ours or root's and no
 * one else may write them. Returns NULL or why not.
 */
static const char *untrusted(int fd)
{
	char dir[PATH_MAX] = "";
	struct stat st;
	char *slash;
	int level;

	if (fstat(fd, &st) != 0 || !safe_owner(&st))
		return "not owned by this user or root, or writable by others";
	append(dir, sizeof(dir), timens_page_path);
	for (level = 0; level < 2; level++) {
		slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
		if (stat(dir, &st) != 0 || !safe_owner(&st))
			return "in a directory not owned by this user or root, or writable by others";
	}
	return NULL;
}

/* Open the looked-up page if it can be trusted; -1 with *why otherwise. */
static int open_found_page(const char **why)
{
	int fd = open(timens_page_path, O_RDONLY | O_CLOEXEC | (explicit_location() ? 0 : O_NOFOLLOW));

	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (!explicit_location() && (*why = untrusted(fd)) != NULL) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* Map the page; returns NULL or why it is unusable. */
static const char *map_page(void)
{
	const struct timens_page *p;
	const char *why = find_page_path();
	struct stat st;
	int fd;

	if (why)
		return why;
	fd = open_found_page(&why);
	if (fd < 0 && use_system_rundir())
		fd = open_found_page(&why);
	if (fd < 0)
		return why;
	if (fstat(fd, &st) != 0) {
		why = strerror(errno);
		close(fd);
		return why;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < TIMENS_PAGE_SIZE) {
		close(fd);
		return "not a clock page: too small";
	}
	p = mmap(NULL, TIMENS_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	why = p == MAP_FAILED ? strerror(errno) : NULL;
	close(fd);  /* the mapping stays; settime opens the path again */
	if (why)
		return why;
	if (p->magic != TIMENS_PAGE_MAGIC) {
		munmap((void *)p, TIMENS_PAGE_SIZE);
		return "not a clock page: bad magic";
	}
	if (p->version != TIMENS_PAGE_VERSION) {
		munmap((void *)p, TIMENS_PAGE_SIZE);
		return "unsupported clock page version";
	}
	__atomic_store_n(&timens_page, p, __ATOMIC_RELEASE);
	return NULL;
}

__attribute__((constructor)) static void timens_init(void)
{
	void *fn;
	const char *why;
	int saved_errno = errno;

	if ((fn = dlsym(RTLD_NEXT, "clock_gettime")))
		__atomic_store_n(&timens_real_clock_gettime, fn, __ATOMIC_RELAXED);
	if ((fn = dlsym(RTLD_NEXT, "gettimeofday")))
		__atomic_store_n(&timens_real_gettimeofday, fn, __ATOMIC_RELAXED);
	timens_bypass_vdso_patch();
	why = map_page();
	if (why)
		timens_warn_once("no clock page for this time namespace", why);
	errno = saved_errno;
}
