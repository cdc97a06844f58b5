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
 *       setns into the user namespace (if given) and the time namespace,
 *       drop CAP_SYS_TIME for good, set LD_PRELOAD (an empty value removes
 *       it), then execvp PROGRAM (default ARG0) with ARG0 ARG... as its
 *       argv. With ERR_FD, a failed exec writes its errno there (a native
 *       int, as subprocess's child does) instead of a message: the fd is
 *       close-on-exec, so the caller reads EOF once the exec succeeded.
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

static int hold(int argc, char **argv)
{
	int map_user = argc >= 2 && strcmp(argv[1], "--map-user") == 0;
	char **off = argv + 1 + map_user;
	char offsets[160];
	char buf[64];

	/* No offsets given: keep the inherited ones, which needs no CAP_SYS_TIME. */
	if (argc != 5 + map_user && argc != 1 + map_user) {
		fprintf(stderr, "timens-helper: hold: bad arguments\n");
		return EXIT_OWN_ERROR;
	}
	if (map_user) {
		uid_t uid = geteuid();
		gid_t gid = getegid();

		if (unshare(CLONE_NEWUSER) < 0)
			return fail("unshare-user");
		if (map_caller_to_itself(uid, gid) < 0)
			return fail("map-user");
	}
	if (unshare(CLONE_NEWTIME) < 0)
		return fail("unshare-time");
	if (argc == 5 + map_user) {
		snprintf(offsets, sizeof(offsets), "monotonic %s %s\nboottime %s %s\n", off[0], off[1], off[2],
			 off[3]);
		if (write_file("/proc/self/timens_offsets", offsets) < 0)
			return fail("offsets");
	}
	if (write(STDOUT_FILENO, "ready\n", 6) != 6)
		return fail("report");
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	return 0;
}

static int enter(int argc, char **argv)
{
	int userns_fd = -1, timens_fd = -1, err_fd = -1, opt, err;
	const char *preload = NULL, *program = NULL;
	sigset_t unblock;

	sigemptyset(&unblock);
	while ((opt = getopt(argc, argv, "+u:t:p:e:x:U:")) != -1) {
		switch (opt) {
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
	if (timens_fd < 0 || optind >= argc) {
		fprintf(stderr, "timens-helper: enter: bad arguments\n");
		return EXIT_OWN_ERROR;
	}
	/* Inherited without close-on-exec (pass_fds): set it, so exec closes it. */
	if (err_fd >= 0 && fcntl(err_fd, F_SETFD, FD_CLOEXEC) < 0)
		err_fd = -1;
	/* The user namespace first: it grants the right to join the time one. */
	if (userns_fd >= 0 && setns(userns_fd, CLONE_NEWUSER) < 0)
		return refuse("the user namespace that owns it");
	if (setns(timens_fd, CLONE_NEWTIME) < 0)
		return refuse("it");
	if (userns_fd >= 0)
		close(userns_fd);
	close(timens_fd);
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
