/*
 * kt_clocks: what a process in a time namespace reads from every clock the
 * kernel offsets (and REALTIME, which it does not), through the vDSO and
 * through the raw syscall, plus which namespace it is in.
 *
 * Output, one line each:
 *   clock NAME vdso NS        (or "clock NAME vdso error ERRNO")
 *   clock NAME syscall NS
 *   ns_time INODE / ns_time_for_children INODE / parent_ns_time INODE
 *   pid PID / ppid PPID
 * With --hold it then waits until stdin reaches EOF, so that a test can
 * enter its namespace by pid meanwhile.
 */
#include "kt_common.h"

static const struct {
	clockid_t id;
	const char *name;
} clocks[] = {
	{ CLOCK_MONOTONIC, "MONOTONIC" },
	{ CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE" },
	{ CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW" },
	{ CLOCK_BOOTTIME, "BOOTTIME" },
	{ CLOCK_BOOTTIME_ALARM, "BOOTTIME_ALARM" },
	{ CLOCK_REALTIME, "REALTIME" },
};

static void show(const char *name, const char *how, int ret, const struct timespec *ts)
{
	if (ret)
		printf("clock %s %s error %d\n", name, how, errno);
	else
		printf("clock %s %s %lld\n", name, how, (long long)ts_ns(ts));
}

int main(int argc, char **argv)
{
	struct timespec vdso[sizeof(clocks) / sizeof(clocks[0])];
	struct timespec sys[sizeof(clocks) / sizeof(clocks[0])];
	int vret[sizeof(clocks) / sizeof(clocks[0])], sret[sizeof(clocks) / sizeof(clocks[0])];
	char path[64], buf[64];
	size_t i;

	/* Read everything first, print after: printing is slow. */
	for (i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		errno = 0;
		vret[i] = clock_gettime(clocks[i].id, &vdso[i]) ? errno : 0;
		errno = 0;
		sret[i] = syscall(SYS_clock_gettime, clocks[i].id, &sys[i]) ? errno : 0;
	}
	for (i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		errno = vret[i];
		show(clocks[i].name, "vdso", vret[i], &vdso[i]);
		errno = sret[i];
		show(clocks[i].name, "syscall", sret[i], &sys[i]);
	}
	printf("ns_time %lu\n", kt_ns_inode("/proc/self/ns/time"));
	printf("ns_time_for_children %lu\n", kt_ns_inode("/proc/self/ns/time_for_children"));
	snprintf(path, sizeof(path), "/proc/%d/ns/time", (int)getppid());
	printf("parent_ns_time %lu\n", kt_ns_inode(path));
	printf("pid %d\nppid %d\n", (int)getpid(), (int)getppid());
	fflush(stdout);

	if (argc > 1 && strcmp(argv[1], "--hold") == 0)
		while (read(0, buf, sizeof(buf)) > 0)
			;
	return 0;
}
