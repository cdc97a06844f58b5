/*
 * timens-helper: the steps that must happen in a single-threaded process
 * right before exec. The Python package runs it; users never call it.
 *
 *   timens-helper hold [--map-user] [MONO_SEC MONO_NSEC BOOT_SEC BOOT_NSEC]
 *       Optionally make a user namespace mapping the caller to itself, then
 *       unshare a time namespace and write its offsets (if given). Print "ready\n",
 *       then wait for EOF on stdin so that the caller can open or bind-mount
 *       /proc/PID/ns/time_for_children (and ns/user). No process ever runs
 *       inside, so the offsets stay writable until the first one enters.
 *
 *   timens-helper enter [-u USERNS_FD] -t TIMENS_FD [-p LD_PRELOAD] [-e ERR_FD]
 *                       [-x PROGRAM] [-U SIG,SIG...] -- ARG0 ARG...
 *   timens-helper enter -n [-m] [-o MONO_SEC,MONO_NSEC,BOOT_SEC,BOOT_NSEC] [-C] [...] -- ARG0 ARG...
 *       setns into the user namespace (if given) and the time namespace,
 *       or with -n make a new one as hold does (-m: in a user namespace of
 *       its own, -o: with these offsets) and join it: one process for a
 *       namespace nothing else needs to open (no clock page, no name),
 *       drop CAP_SYS_TIME for good, set LD_PRELOAD (an empty value removes
 *       it), then execvp PROGRAM (default ARG0) with ARG0 ARG... as its
 *       argv. With ERR_FD, a failed exec writes its errno there (a native
 *       int, as subprocess's child does) instead of a message: the fd is
 *       close-on-exec, so the caller reads EOF once the exec succeeded.
 *       With -n, a failure to make the namespace is written there too: its
 *       errno followed by the step's name, as hold would print them.
 *       -C closes every file descriptor but stdio at exec, as subprocess's
 *       close_fds would (posix_spawn, which starts us then, has no such action).
 *       -U unblocks these signals, which the caller blocked before starting
 *       us so that none meant for the command is lost, and which the
 *       command must not inherit blocked.
 *
 *   timens-helper clocks
 *       Print what this process reads, at one instant, for the parent to
 *       parse: "name sec nsec" lines, then the spread of the whole reading.
 *
 * Errors go to stderr as one line and exit 125: for hold, prefixed
 * "timens-helper: STEP: " with the errno name, for the caller to translate;
 * for enter, worded for the user. A failed exec exits 127 (ENOENT) or 126 like
 * a shell.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "join.h"

#define EXIT_OWN_ERROR 125

static int fail(const char *step)
{
	int err = errno;

	fprintf(stderr, "timens-helper: %s: %s (%s)\n", step, strerrorname_np(err) ? strerrorname_np(err) : "?",
		strerror(err));
	return EXIT_OWN_ERROR;
}

/* enter's failures reach the user as they are: say what to do. */
static int refuse(const char *what)
{
	int err = errno;

	fprintf(stderr, "timens: cannot enter the time namespace: could not join %s: %s (%s); %s\n", what,
		strerror(err), strerrorname_np(err) ? strerrorname_np(err) : "?",
		err == EPERM ? "this needs CAP_SYS_ADMIN over the namespace: run as root or as the user who made it"
			     : "the namespace may be gone");
	return EXIT_OWN_ERROR;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = (ssize_t)strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != len) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return close(fd);
}

/*
 * Map the caller to itself: commands inside keep the user's own uid and gid,
 * so files they create and `id` look as they do outside. The capabilities
 * needed to make and enter the time namespace come from owning the user
 * namespace, and the command gives them up at exec, as a normal user.
 */
static int map_caller_to_itself(uid_t uid, gid_t gid)
{
	char map[64];

	if (write_file("/proc/self/setgroups", "deny") < 0 && errno != ENOENT)
		return -1;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (write_file("/proc/self/uid_map", map) < 0)
		return -1;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	return write_file("/proc/self/gid_map", map);
}

/*
 * A new time namespace for our children, with OFFSETS ("S N S N", or NULL to
 * keep the inherited ones, which needs no CAP_SYS_TIME), made inside a new
 * user namespace first with MAP_USER. On failure, the step that failed.
 */
static const char *make_time_namespace(int map_user, char *const *off)
{
	char offsets[160];

	if (map_user) {
		uid_t uid = geteuid();
		gid_t gid = getegid();

		if (unshare(CLONE_NEWUSER) < 0)
			return "unshare-user";
		if (map_caller_to_itself(uid, gid) < 0)
			return "map-user";
	}
	if (unshare(CLONE_NEWTIME) < 0)
		return "unshare-time";
	if (off) {
		snprintf(offsets, sizeof(offsets), "monotonic %s %s\nboottime %s %s\n", off[0], off[1], off[2],
			 off[3]);
		if (write_file("/proc/self/timens_offsets", offsets) < 0)
			return "offsets";
	}
	return NULL;
}

static int hold(int argc, char **argv)
{
	int map_user = argc >= 2 && strcmp(argv[1], "--map-user") == 0;
	const char *failed;
	char buf[64];

	if (argc != 5 + map_user && argc != 1 + map_user) {
		fprintf(stderr, "timens-helper: hold: bad arguments\n");
		return EXIT_OWN_ERROR;
	}
	failed = make_time_namespace(map_user, argc == 5 + map_user ? argv + 1 + map_user : NULL);
	if (failed)
		return fail(failed);
	if (write(STDOUT_FILENO, "ready\n", 6) != 6)
		return fail("report");
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	return 0;
}

/* -o S,N,S,N split in place into the four words make_time_namespace takes. */
static int split_offsets(char *text, char **off)
{
	for (int i = 0; i < 4; i++) {
		off[i] = strsep(&text, ",");
		if (!off[i] || !*off[i])
			return -1;
	}
	return text ? -1 : 0;
}

/* -n: make the namespace and join it; a failure goes to ERR_FD as errno + step. */
static int enter_new(int map_user, char **off, int err_fd)
{
	const char *failed = make_time_namespace(map_user, off);
	int fd, err;

	if (!failed) {
		fd = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
		err = fd >= 0 && setns(fd, CLONE_NEWTIME) == 0 ? 0 : errno;
		if (fd >= 0)
			close(fd);
		if (!err)
			return 0;
		errno = err;
		failed = "enter";
	}
	err = errno;
	if (err_fd < 0 || write(err_fd, &err, sizeof(err)) != (ssize_t)sizeof(err) ||
	    write(err_fd, failed, strlen(failed)) != (ssize_t)strlen(failed)) {
		errno = err;
		return fail(failed);
	}
	return EXIT_OWN_ERROR;
}

/* Every fd from 3 up closes at exec: what the command inherits is stdio alone. */
static void close_others_at_exec(void)
{
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (long fd = 3, max = sysconf(_SC_OPEN_MAX); fd < max && fd < 65536; fd++)
		fcntl((int)fd, F_SETFD, FD_CLOEXEC);  /* before Linux 5.11: one at a time */
}

static int enter(int argc, char **argv)
{
	int userns_fd = -1, timens_fd = -1, err_fd = -1, new_ns = 0, map_user = 0, close_fds = 0, opt, err;
	const char *preload = NULL, *program = NULL;
	char *off[4], *offsets = NULL;
	sigset_t unblock;

	sigemptyset(&unblock);
	while ((opt = getopt(argc, argv, "+u:t:nmo:Cp:e:x:U:")) != -1) {
		switch (opt) {
		case 'n': new_ns = 1; break;
		case 'm': map_user = 1; break;
		case 'o': offsets = optarg; break;
		case 'C': close_fds = 1; break;
		case 'u': userns_fd = atoi(optarg); break;
		case 't': timens_fd = atoi(optarg); break;
		case 'p': preload = optarg; break;
		case 'e': err_fd = atoi(optarg); break;
		case 'x': program = optarg; break;
		case 'U':
			for (char *sig = strtok(optarg, ","); sig; sig = strtok(NULL, ","))
				sigaddset(&unblock, atoi(sig));
			break;
		default: return EXIT_OWN_ERROR;
		}
	}
	if ((timens_fd < 0) == !new_ns || (new_ns && userns_fd >= 0) || ((map_user || offsets) && !new_ns) ||
	    (offsets && split_offsets(offsets, off) < 0) || optind >= argc) {
		fprintf(stderr, "timens-helper: enter: bad arguments\n");
		return EXIT_OWN_ERROR;
	}
	if (close_fds)
		close_others_at_exec();
	/* Inherited without close-on-exec: set it, so exec closes it. */
	if (err_fd >= 0 && fcntl(err_fd, F_SETFD, FD_CLOEXEC) < 0)
		err_fd = -1;
	if (new_ns) {
		if (enter_new(map_user, offsets ? off : NULL, err_fd) != 0)
			return EXIT_OWN_ERROR;
	} else {
		/* The user namespace first: it grants the right to join the time one. */
		if (userns_fd >= 0 && setns(userns_fd, CLONE_NEWUSER) < 0)
			return refuse("the user namespace that owns it");
		if (setns(timens_fd, CLONE_NEWTIME) < 0)
			return refuse("it");
		if (userns_fd >= 0)
			close(userns_fd);
		close(timens_fd);
	}
	if (drop_cap_sys_time() != 0) {
		fprintf(stderr, "timens: cannot drop CAP_SYS_TIME for the command: %s\n", strerror(errno));
		return EXIT_OWN_ERROR;
	}
	if (preload && *preload)
		setenv("LD_PRELOAD", preload, 1);
	else if (preload)
		unsetenv("LD_PRELOAD");
	sigprocmask(SIG_UNBLOCK, &unblock, NULL);
	if (!program)
		program = argv[optind];
	execvp(program, argv + optind);
	err = errno;
	if (err_fd < 0 || write(err_fd, &err, sizeof(err)) != (ssize_t)sizeof(err))
		fprintf(stderr, "timens: %s: %s\n", program, strerror(err));
	return err == ENOENT ? 127 : 126;
}

static void print_clock(const char *name, const struct timespec *ts)
{
	printf("%s %lld %ld\n", name, (long long)ts->tv_sec, ts->tv_nsec);
}

static long long ns_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

/* The kernel's own account of this namespace's offsets, "offset CLOCK S N". */
static void print_offsets(void)
{
	char name[32];
	long long sec;
	long nsec;
	FILE *f = fopen("/proc/self/timens_offsets", "re");

	while (f && fscanf(f, "%31s %lld %ld", name, &sec, &nsec) == 3)
		printf("offset %s %lld %ld\n", name, sec, nsec);
	if (f)
		fclose(f);
}

static int clocks(void)
{
	struct timespec start, rt, host_rt, mono, boot, end;
	char uptime[64] = "";
	ssize_t len;
	int fd;

	/* Read /proc/uptime first: it is a file read, far slower than a clock. */
	fd = open("/proc/uptime", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		len = read(fd, uptime, sizeof(uptime) - 1);
		uptime[len > 0 ? len : 0] = '\0';
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	clock_gettime(CLOCK_REALTIME, &rt); /* through libtimens when loaded */
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &host_rt); /* never offset */
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	clock_gettime(CLOCK_MONOTONIC, &end);
	print_clock("realtime", &rt);
	print_clock("host_realtime", &host_rt);
	print_clock("monotonic", &mono);
	print_clock("boottime", &boot);
	printf("spread_ns %lld\n", ns_between(&start, &end));
	printf("uptime %s", uptime[0] ? uptime : "- -\n");
	print_offsets();
	return fflush(stdout) == 0 ? 0 : EXIT_OWN_ERROR;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "hold") == 0)
		return hold(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "enter") == 0)
		return enter(argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "clocks") == 0)
		return clocks();
	fprintf(stderr, "timens-helper: internal program of timens; see 'timens --help'\n");
	return EXIT_OWN_ERROR;
}
