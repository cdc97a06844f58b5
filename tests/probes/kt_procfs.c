/*
 * kt_procfs: what procfs shows inside a time namespace, and whether the
 * offsets can still be changed.
 *
 *   boottime NS               CLOCK_BOOTTIME read right before /proc/uptime
 *   uptime TEXT               first field of /proc/uptime
 *   btime SEC                 from /proc/stat
 *   offsets CLOCK SEC NSEC    each line of /proc/self/timens_offsets
 *   write_offsets ERRNO       writing "monotonic 1 0" to it (0 if it worked)
 */
#include "kt_common.h"

#include <fcntl.h>

int main(void)
{
	char line[512], clock[32];
	long long sec, nsec;
	FILE *f;
	int fd;

	printf("boottime %lld\n", (long long)libc_ns(CLOCK_BOOTTIME));
	f = fopen("/proc/uptime", "r");
	if (f && fscanf(f, "%31s", line) == 1)
		printf("uptime %s\n", line);
	if (f)
		fclose(f);

	f = fopen("/proc/stat", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &sec) == 1)
			printf("btime %lld\n", sec);
	if (f)
		fclose(f);

	f = fopen("/proc/self/timens_offsets", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%31s %lld %lld", clock, &sec, &nsec) == 3)
			printf("offsets %s %lld %lld\n", clock, sec, nsec);
	if (f)
		fclose(f);

	fd = open("/proc/self/timens_offsets", O_WRONLY);
	if (fd < 0 || write(fd, "monotonic 1 0", 13) != 13)
		printf("write_offsets %d\n", errno);
	else
		printf("write_offsets 0\n");
	return 0;
}
