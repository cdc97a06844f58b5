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
 * so once on stderr. Nothing here ever exits or aborts the program. A page
 * is unusable if it is not a regular file (a FIFO must not hang us: every
 * open is O_NONBLOCK), has a bad magic or version, or carries the kernel
 * id of another time namespace (a stale page whose inode was reused).
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
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libtimens.h"
#include "rundir.h"
#include "vdso.h"

/* _IOR(0xb7, 0xd, __u64): the kernel's id of a namespace (Linux 6.12+). */
#define NS_GET_ID _IOR(0xb7, 0xd, uint64_t)

const struct timens_page *timens_page;
uint32_t timens_kept_seq = 1;  /* odd: nothing kept yet */
char timens_page_path[PATH_MAX];
dev_t timens_page_dev;
ino_t timens_page_ino;

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

void timens_warn_once(const char *what, const char *reason, const char *then)
{
	static int warned;
	char line[PATH_MAX + 256] = "timens: ";
	ssize_t ignored;

	if (__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		return;
	timens_append(line, sizeof(line), what);
	timens_append(line, sizeof(line), " (");
	timens_append(line, sizeof(line), timens_page_path[0] ? timens_page_path : "no path");
	timens_append(line, sizeof(line), ": ");
	timens_append(line, sizeof(line), reason);
	timens_append(line, sizeof(line), "); ");
	timens_append(line, sizeof(line), then);
	timens_append(line, sizeof(line), "\n");
	ignored = write(STDERR_FILENO, line, strlen(line));
	(void)ignored;
}

/*
 * The last consistent snapshot, shared by the threads of this process. It
 * has its own little seqlock; a thread that finds another one storing
 * skips its store (the other one's snapshot is as good).
 */
#define VIEW_WORDS (sizeof(struct timens_view) / sizeof(uint64_t))
static struct {
	uint32_t seq;  /* even: stable; 0: nothing kept */
	uint64_t words[VIEW_WORDS];
} kept;

_Static_assert(sizeof(struct timens_view) % sizeof(uint64_t) == 0, "view is whole words");

void timens_keep(const struct timens_view *v)
{
	uint64_t words[VIEW_WORDS];
	uint32_t seq = __atomic_load_n(&kept.seq, __ATOMIC_RELAXED);

	if ((seq & 1u) || !__atomic_compare_exchange_n(&kept.seq, &seq, seq + 1, 0,
						       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(words, v, sizeof(words));
	for (size_t i = 0; i < VIEW_WORDS; i++)
		__atomic_store_n(&kept.words[i], words[i], __ATOMIC_RELAXED);
	__atomic_store_n(&kept.seq, seq + 2 ? seq + 2 : 2, __ATOMIC_RELEASE);  /* 0 is "none" */
	__atomic_store_n(&timens_kept_seq, v->seq, __ATOMIC_RELAXED);
}

/* The kept snapshot into *v; 0 if there is none (or it is being stored). */
static int recall(struct timens_view *v)
{
	uint64_t words[VIEW_WORDS];

	for (int tries = 0; tries < 100; tries++) {
		uint32_t seq = __atomic_load_n(&kept.seq, __ATOMIC_ACQUIRE);

		if (seq == 0)
			return 0;
		if (seq & 1u)
			continue;  /* a signal handler may have interrupted the store */
		for (size_t i = 0; i < VIEW_WORDS; i++)
			words[i] = __atomic_load_n(&kept.words[i], __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&kept.seq, __ATOMIC_RELAXED) == seq) {
			memcpy(v, words, sizeof(words));
			return 1;
		}
	}
	return 0;
}

/* Spin this long before yielding, and give up after this long (ns). */
#define SPINS_BEFORE_YIELD 1000
#define GIVE_UP_NS 100000000LL

static int64_t monotonic_ns(void)
{
	struct timespec ts = { 0, 0 };

	__atomic_load_n(&timens_real_clock_gettime, __ATOMIC_RELAXED)(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * TIMENS_NSEC_PER_SEC + ts.tv_nsec;
}

void timens_read_slow(const struct timens_page *p, struct timens_view *v)
{
	/* The odd seq of a writer this process gave up on. */
	static uint32_t stuck_seq;
	int64_t give_up = 0;
	uint32_t seq;

	for (unsigned long spins = 0;; spins++) {
		if (timens_page_try_read(p, v)) {
			if (v->seq != __atomic_load_n(&timens_kept_seq, __ATOMIC_RELAXED))
				timens_keep(v);
			return;
		}
		seq = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
		if ((seq & 1u) && seq == __atomic_load_n(&stuck_seq, __ATOMIC_RELAXED))
			break;  /* given up on this writer already: no wait again */
		if (spins < SPINS_BEFORE_YIELD) {
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#elif defined(__aarch64__)
			__asm__ __volatile__("yield");
#endif
			continue;
		}
		/* Slow path only: a writer preempted inside needs the CPU. */
		sched_yield();
		if (give_up == 0)
			give_up = monotonic_ns() + GIVE_UP_NS;
		else if (monotonic_ns() > give_up) {
			if (seq & 1u)
				__atomic_store_n(&stuck_seq, seq, __ATOMIC_RELAXED);
			timens_warn_once("the clock page's writer stopped mid-update",
					 "sequence counter stays odd",
					 "clocks keep their last consistent reading");
			break;
		}
	}
	if (!recall(v)) {
		/* Nothing kept (the page was stuck from the start): the fields as
		 * they stand, each the old or the new value, beat a jump to host time. */
		timens_page_load(p, v);
	}
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
			timens_append(path, n, "/");  /* absolute: settime may run after chdir */
		timens_append(path, n, explicit_path);
		return NULL;
	}
	if (stat("/proc/self/ns/time", &st) != 0)
		return strerror(errno);
	timens_run_dir(path, n);
	timens_append(path, n, "/" TIMENS_PAGES_SUBDIR "/");
	timens_append_u64(path, n, (uint64_t)st.st_ino);
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
	timens_append(inode, sizeof(inode), slash + 1);
	timens_page_path[0] = '\0';
	timens_append(timens_page_path, PATH_MAX, TIMENS_DEFAULT_RUNDIR "/" TIMENS_PAGES_SUBDIR "/");
	timens_append(timens_page_path, PATH_MAX, inode);
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
	timens_append(dir, sizeof(dir), timens_page_path);
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
	int fd = open(timens_page_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
		      (explicit_location() ? 0 : O_NOFOLLOW));

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

/* The kernel's id of this process's time namespace; 0 if it has none. */
static uint64_t own_ns_id(void)
{
	uint64_t id = 0;
	int fd = open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (ioctl(fd, NS_GET_ID, &id) != 0)
			id = 0;  /* ENOTTY/EINVAL before Linux 6.12: no check */
		close(fd);
	}
	return id;
}

/* What is wrong with the mapped page P, or NULL. */
static const char *unusable(const struct timens_page *p)
{
	uint64_t id = __atomic_load_n(&p->ns_id, __ATOMIC_RELAXED), own;

	if (__atomic_load_n(&p->magic, __ATOMIC_RELAXED) != TIMENS_PAGE_MAGIC)
		return "not a clock page: bad magic";
	if (__atomic_load_n(&p->version, __ATOMIC_RELAXED) != TIMENS_PAGE_VERSION)
		return "unsupported clock page version";
	if (id != 0 && (own = own_ns_id()) != 0 && own != id)
		return "a stale page: it belongs to another time namespace";
	return NULL;
}

const struct timens_page *timens_map_page_fd(int fd, struct stat *st, const char **why)
{
	const struct timens_page *p;
	int err = EINVAL;

	*why = NULL;
	if (fstat(fd, st) != 0)
		*why = strerror(err = errno);
	else if (!S_ISREG(st->st_mode))
		*why = "not a clock page: not a regular file";
	else if (st->st_size < TIMENS_PAGE_SIZE)
		*why = "not a clock page: too small";
	if (*why) {
		close(fd);
		errno = err;
		return NULL;
	}
	p = mmap(NULL, TIMENS_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	err = errno;
	close(fd);  /* the mapping stays; settime opens the path again */
	if (p == MAP_FAILED) {
		*why = strerror(err);
		errno = err;
		return NULL;
	}
	if ((*why = unusable(p)) != NULL) {
		munmap((void *)p, TIMENS_PAGE_SIZE);
		errno = EINVAL;
		return NULL;
	}
	return p;
}

void timens_use_page(const struct timens_page *p, const struct stat *st)
{
	struct timens_view v;

	timens_page_dev = st->st_dev;
	timens_page_ino = st->st_ino;
	if (timens_page_try_read(p, &v))
		timens_keep(&v);  /* another page's snapshot must not stand in for this one */
	__atomic_store_n(&timens_page, p, __ATOMIC_RELEASE);
}

/* Find and map the page; returns NULL or why it is unusable. */
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
	p = timens_map_page_fd(fd, &st, &why);
	if (p)
		timens_use_page(p, &st);
	return why;
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
	timens_find_vdso();
	why = map_page();
	if (why)
		timens_warn_once("no clock page for this time namespace", why,
				 "REALTIME reads host time");
	errno = saved_errno;
}
