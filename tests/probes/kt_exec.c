/*
 * kt_exec: inheritance of a time namespace across fork, exec, vfork and
 * threads, inside a namespace made by timens.
 *
 *   kt_exec            run every check below; print "self MONOTONIC NS"
 *                      (this process's first reading) for the test to
 *                      compare with the host
 *   kt_exec check NAME EXPECT_NS
 *                      (exec'd by the checks) MONOTONIC through the vDSO,
 *                      the syscall and a new thread reads EXPECT_NS to
 *                      within a second, plus the time since EXPECT_NS was
 *                      taken
 *
 * In the namespace timens made, a fork child, a fork+exec child, a
 * vfork+exec child and a thread all read what this process reads.
 *
 * Then, as the kernel's vfork test does, this process unshares a second
 * time namespace whose MONOTONIC is 36000 s ahead of the first:
 *   - this process stays in the first one (only children enter);
 *   - a vfork child before exec is still in the first one (it shares this
 *     process's memory), and enters the second at exec;
 *   - a fork child is in the second one at once;
 *   - this process is still in the first one afterwards.
 */
#include "kt_common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>

#define AHEAD_SEC 36000LL

static void *thread_read(void *out)
{
	*(int64_t *)out = libc_ns(CLOCK_MONOTONIC);
	return NULL;
}

/* MONOTONIC read in this process (vDSO, syscall, a thread) vs an expectation. */
static void check_here(const char *name, int64_t expect, int64_t since)
{
	int64_t got[3], slack = libc_ns(CLOCK_MONOTONIC_RAW) - since;
	const char *how[3] = { "vdso", "syscall", "thread" };
	char full[128];
	pthread_t th;
	int i;

	got[0] = libc_ns(CLOCK_MONOTONIC);
	got[1] = host_ns(CLOCK_MONOTONIC);
	if (pthread_create(&th, NULL, thread_read, &got[2]) || pthread_join(th, NULL))
		got[2] = 0;
	for (i = 0; i < 3; i++) {
		snprintf(full, sizeof(full), "%s-%s", name, how[i]);
		kt_check(got[i] >= expect && got[i] - expect <= slack + NSEC_PER_SEC, full,
			 "read %lld, expected %lld (+%lld ns elapsed)", (long long)got[i],
			 (long long)expect, (long long)slack);
	}
}

static int wait_child(pid_t pid, const char *name)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		kt_check(0, name, "fork/wait: %s", strerror(errno));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		kt_check(0, name, "child status %#x", status);
		return -1;
	}
	return 0;
}

static char *self_exe;

/* Run "kt_exec check NAME EXPECT SINCE" via execve; only returns on failure. */
static void exec_check(const char *name, int64_t expect, int64_t since)
{
	char e[32], s[32];
	char *argv[] = { self_exe, "check", (char *)name, e, s, NULL };
	char *envp[] = { NULL };

	snprintf(e, sizeof(e), "%lld", (long long)expect);
	snprintf(s, sizeof(s), "%lld", (long long)since);
	execve("/proc/self/exe", argv, envp);
	printf("not ok %s: execve: %s\n", name, strerror(errno));
	fflush(stdout);
}

static void fork_checks(const char *prefix, int64_t expect)
{
	int64_t since = libc_ns(CLOCK_MONOTONIC_RAW);
	char name[64];
	pid_t pid;

	snprintf(name, sizeof(name), "%s-fork", prefix);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		check_here(name, expect, since);
		fflush(stdout);
		_exit(kt_failed);
	}
	if (wait_child(pid, name))
		kt_failed = 1;

	snprintf(name, sizeof(name), "%s-fork-exec", prefix);
	pid = fork();
	if (pid == 0) {
		exec_check(name, expect, since);
		_exit(1);
	}
	if (wait_child(pid, name))
		kt_failed = 1;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t len = (ssize_t)strlen(text);
	int ok = fd >= 0 && write(fd, text, len) == len;

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* A user namespace mapping us to ourselves: all capabilities over what we make in it. */
static int own_user_namespace(void)
{
	char map[64];
	unsigned uid = geteuid(), gid = getegid();

	if (unshare(CLONE_NEWUSER))
		return -1;
	write_text("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "%u %u 1", uid, uid);
	if (write_text("/proc/self/uid_map", map))
		return -1;
	snprintf(map, sizeof(map), "%u %u 1", gid, gid);
	return write_text("/proc/self/gid_map", map);
}

int main(int argc, char **argv)
{
	volatile int64_t vfork_read = 0;
	volatile unsigned long vfork_ns = 0;
	unsigned long first_ns;
	int64_t m0, since, off_sec = 0, off_nsec = 0;
	char line[128], text[128];
	long long a, b;
	FILE *f;
	pid_t pid;
	int fd, len;

	if (argc == 5 && strcmp(argv[1], "check") == 0) {
		check_here(argv[2], strtoll(argv[3], NULL, 10), strtoll(argv[4], NULL, 10));
		return kt_failed;
	}
	self_exe = argv[0];

	since = libc_ns(CLOCK_MONOTONIC_RAW);
	m0 = libc_ns(CLOCK_MONOTONIC);
	printf("self MONOTONIC %lld\n", (long long)m0);
	first_ns = kt_ns_inode("/proc/self/ns/time");
	check_here("self", m0, since);
	fork_checks("ns", m0);

	fflush(stdout);
	pid = vfork();
	if (pid == 0) {
		exec_check("ns-vfork-exec", m0, since);
		_exit(1);
	}
	if (wait_child(pid, "ns-vfork-exec"))
		kt_failed = 1;

	/*
	 * A second namespace, 36000 s ahead of this one on MONOTONIC. timens
	 * starts commands without CAP_SYS_TIME, so make it inside a user
	 * namespace of our own, as an unprivileged program would.
	 */
	if (own_user_namespace()) {
		kt_check(0, "userns", "%s", strerror(errno));
		return 1;
	}
	if (unshare(CLONE_NEWTIME)) {
		kt_check(0, "unshare", "%s", strerror(errno));
		return 1;
	}
	f = fopen("/proc/self/timens_offsets", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "monotonic %lld %lld", &a, &b) == 2) {
			off_sec = a;
			off_nsec = b;
		}
	if (f)
		fclose(f);
	len = snprintf(text, sizeof(text), "monotonic %lld %lld", (long long)(off_sec + AHEAD_SEC),
		       (long long)off_nsec);
	fd = open("/proc/self/timens_offsets", O_WRONLY);
	if (fd < 0 || write(fd, text, len) != len) {
		kt_check(0, "nested-offsets", "write %s: %s", text, strerror(errno));
		return 1;
	}
	close(fd);

	check_here("unsharer", m0, since);
	kt_check(kt_ns_inode("/proc/self/ns/time") == first_ns, "unsharer-ns",
		 "the unsharing process moved to another namespace");

	fflush(stdout);
	pid = vfork();
	if (pid == 0) {
		/* Still in the parent's namespace until exec. */
		vfork_read = libc_ns(CLOCK_MONOTONIC);
		vfork_ns = kt_ns_inode("/proc/self/ns/time");
		exec_check("nested-vfork-exec", m0 + AHEAD_SEC * NSEC_PER_SEC, since);
		_exit(1);
	}
	if (wait_child(pid, "nested-vfork-exec"))
		kt_failed = 1;
	kt_check(vfork_read >= m0 && vfork_read - m0 < 60 * NSEC_PER_SEC, "nested-vfork-before-exec",
		 "read %lld, parent read %lld", (long long)vfork_read, (long long)m0);
	kt_check(vfork_ns == first_ns, "nested-vfork-before-exec-ns",
		 "namespace %lu, parent's %lu", (unsigned long)vfork_ns, first_ns);

	fork_checks("nested", m0 + AHEAD_SEC * NSEC_PER_SEC);
	check_here("parent-after", m0, since);
	return kt_failed;
}
