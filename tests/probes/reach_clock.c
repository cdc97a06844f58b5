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
 *   seccomp KIND N as block, under a seccomp filter that kills the process
 *                  on openat (which inject has it make) [glibc builds]
 *   condwait CLOCK pthread_cond_timedwait on a condvar of CLOCK (realtime
 *                  or monotonic), deadline 1 s ahead on that clock as the
 *                  program reads it: "elapsed NS" of host MONOTONIC
 */
#include "probe.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
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

#if __has_include(<linux/seccomp.h>)
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>

static int kill_on_openat(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}
#else
static int kill_on_openat(void)
{
	errno = ENOSYS;
	return -1;
}
#endif

static int condwait(clockid_t clock)
{
	pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
	pthread_condattr_t attr;
	pthread_cond_t cond;
	struct timespec when;
	int64_t started;
	int err;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, clock);
	pthread_cond_init(&cond, &attr);
	when = ns_ts(libc_ns(clock) + NSEC_PER_SEC);
	started = host_ns(CLOCK_MONOTONIC);
	pthread_mutex_lock(&mutex);
	err = pthread_cond_timedwait(&cond, &mutex, &when);
	printf("ret %s\nelapsed %lld\n", err == ETIMEDOUT ? "ETIMEDOUT" : strerror(err),
	       (long long)(host_ns(CLOCK_MONOTONIC) - started));
	return 0;
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
			fflush(stdout);
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
	} else if (!strcmp(mode, "seccomp") && argc == 4) {
		if (kill_on_openat() != 0) {
			printf("error seccomp %s\n", strerror(errno));
			return 1;
		}
		return block(argv[2], atoi(argv[3]));
	} else if (!strcmp(mode, "condwait") && argc == 3) {
		return condwait(!strcmp(argv[2], "monotonic") ? CLOCK_MONOTONIC : CLOCK_REALTIME);
	} else {
		fprintf(stderr, "usage: reach_clock read|fork|watch|block KIND N|seccomp KIND N|condwait CLOCK\n");
		return 2;
	}
	return 0;
}
