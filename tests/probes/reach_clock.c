/*
 * reach_clock MODE: what a program that never loads libtimens.so reads.
 * Built by tests/test_reach.py with gcc -static and musl-gcc (static and
 * dynamic). Every reading is printed next to host time from the raw
 * syscall, which nothing patches, as "name value host": nanoseconds, or
 * seconds for time.
 *
 *   read           clock_gettime (REALTIME, MONOTONIC, BOOTTIME),
 *                  gettimeofday and time
 *   fork           the child reads (without exec), then the parent
 *   watch          "ready", then what read prints, then "end", for every
 *                  line read on stdin
 *   block KIND N   "ready", then N times: one 300 ms wait in KIND
 *                  (nanosleep, futex or epoll), checked for its result,
 *                  then a REALTIME line; "done" at the end
 */
#include "probe.h"

#include <sys/epoll.h>
#include <sys/time.h>
#include <sys/wait.h>

/* <linux/futex.h> is not in musl-gcc's include path. */
#define FUTEX_WAIT_PRIVATE 128

static void line(const char *name, clockid_t clock)
{
	int64_t host = host_ns(clock);

	printf("%s %lld %lld\n", name, (long long)libc_ns(clock), (long long)host);
}

static void read_all(void)
{
	struct timeval tv;
	time_t host_s;
	int64_t host;

	line("clock_gettime", CLOCK_REALTIME);
	line("monotonic", CLOCK_MONOTONIC);
	line("boottime", CLOCK_BOOTTIME);
	host = host_ns(CLOCK_REALTIME);
	gettimeofday(&tv, NULL);
	printf("gettimeofday %lld %lld\n", (long long)tv.tv_sec * NSEC_PER_SEC + tv.tv_usec * 1000LL, (long long)host);
	host_s = (time_t)(host_ns(CLOCK_REALTIME_COARSE) / NSEC_PER_SEC);
	printf("time %lld %lld\n", (long long)time(NULL), (long long)host_s);
	fflush(stdout);
}

/* One 300 ms wait; returns 0 if it ended as it should (timed out). */
static int wait_once(const char *kind, int epfd)
{
	static uint32_t word;
	struct timespec rel = { 0, 300 * NSEC_PER_MSEC };
	struct epoll_event ev;
	long ret;

	if (!strcmp(kind, "nanosleep"))
		return nanosleep(&rel, NULL);
	if (!strcmp(kind, "futex")) {
		ret = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
		return ret == -1 && errno == ETIMEDOUT ? 0 : -1;
	}
	/* epoll_wait reports EINTR when a tracer stops it, as Go and libuv expect. */
	do
		ret = epoll_wait(epfd, &ev, 1, 300);
	while (ret == -1 && errno == EINTR);
	return ret == 0 ? 0 : -1;
}

static int block(const char *kind, int n)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC), bad = 0;

	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		if (wait_once(kind, epfd) != 0) {
			printf("error %s %s\n", kind, strerror(errno));
			bad = 1;
		}
		line("tick", CLOCK_REALTIME);
		fflush(stdout);
	}
	printf("done\n");
	return bad;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "read";
	char buf[64];
	pid_t child;
	int status;

	if (!strcmp(mode, "read")) {
		read_all();
	} else if (!strcmp(mode, "fork")) {
		fflush(stdout);
		child = fork();
		if (child == 0) {
			printf("child ");
			line("clock_gettime", CLOCK_REALTIME);
			_exit(0);
		}
		waitpid(child, &status, 0);
		printf("parent ");
		line("clock_gettime", CLOCK_REALTIME);
	} else if (!strcmp(mode, "watch")) {
		printf("ready\n");
		fflush(stdout);
		while (fgets(buf, sizeof(buf), stdin)) {
			read_all();
			printf("end\n");
			fflush(stdout);
		}
	} else if (!strcmp(mode, "block") && argc == 4) {
		return block(argv[2], atoi(argv[3]));
	} else {
		fprintf(stderr, "usage: reach_clock read|fork|watch|block KIND N\n");
		return 2;
	}
	return 0;
}
