/*
 * rt_inherit: REALTIME as read in the main thread, a new thread, a fork
 * child, a vfork child that execs, and a posix_spawn child. Prints
 * "WHERE before value after" (before/after: raw host REALTIME).
 * "rt_inherit exec:WHERE" is the exec'd child's mode.
 */
#include "rt_common.h"

#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static void show(const char *where)
{
	int64_t before = host_ns(CLOCK_REALTIME), value = libc_ns(CLOCK_REALTIME);
	int64_t after = host_ns(CLOCK_REALTIME);

	printf("%s %lld %lld %lld\n", where, (long long)before, (long long)value, (long long)after);
	fflush(stdout);
}

static void *in_thread(void *arg)
{
	(void)arg;
	show("thread");
	return NULL;
}

static void wait_for(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	char self[4096], *child_argv[3];
	pthread_t thread;
	ssize_t len;
	pid_t pid;

	if (argc > 1 && !strncmp(argv[1], "exec:", 5)) {
		show(argv[1] + 5);
		return 0;
	}
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return 2;
	self[len] = '\0';

	show("main");
	pthread_create(&thread, NULL, in_thread, NULL);
	pthread_join(thread, NULL);

	pid = fork();
	if (pid == 0) {
		show("fork");
		_exit(0);
	}
	wait_for(pid);

	child_argv[0] = self;
	child_argv[1] = "exec:vfork_exec";
	child_argv[2] = NULL;
	pid = vfork();
	if (pid == 0) {
		execve(self, child_argv, environ);
		_exit(127);
	}
	wait_for(pid);

	child_argv[1] = "exec:posix_spawn";
	if (posix_spawn(&pid, self, NULL, NULL, child_argv, environ) == 0)
		wait_for(pid);
	else
		printf("error posix_spawn\n");
	return 0;
}
