/*
 * rt_reads: every intercepted clock read, bracketed by host reads.
 *
 * Prints "NAME before value after": before/after are the host clock the
 * read is based on, read by raw syscall around it; value is what the
 * program sees. With an offset, value - offset lies in [before, after]
 * (less a tick for coarse reads, less a second for time()).
 * argv[1]: how many rounds to read (default 1), to show reads stay fast.
 */
#include "rt_common.h"

#include <sys/time.h>

struct timeb {
	time_t time;
	unsigned short millitm;
	short timezone;
	short dstflag;
};
int ftime(struct timeb *tb);

static void show(const char *name, int64_t before, int64_t value, int64_t after)
{
	printf("%s %lld %lld %lld\n", name, (long long)before, (long long)value, (long long)after);
}

static void clock_read(const char *name, clockid_t id, clockid_t host, int print)
{
	struct timespec ts;
	int64_t before = host_ns(host), after;

	if (clock_gettime(id, &ts) != 0) {
		/* REALTIME_ALARM needs an RTC, which a VM may lack. */
		if (print)
			printf("%s skip %s\n", name, strerror(errno));
		return;
	}
	after = host_ns(host);
	if (print)
		show(name, before, ts_ns(&ts), after);
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 1;

	for (long r = 0; r < rounds; r++) {
		int print = r == rounds - 1;
		int64_t before, after, value;
		struct timeval tv;
		struct timespec ts;
		struct timeb tb;
		time_t t, t2;

		clock_read("REALTIME", CLOCK_REALTIME, CLOCK_REALTIME, print);
		clock_read("REALTIME_COARSE", CLOCK_REALTIME_COARSE, CLOCK_REALTIME, print);
		clock_read("REALTIME_ALARM", CLOCK_REALTIME_ALARM, CLOCK_REALTIME, print);
		clock_read("TAI", CLOCK_TAI, CLOCK_TAI, print);
		clock_read("MONOTONIC", CLOCK_MONOTONIC, CLOCK_MONOTONIC, print);
		clock_read("MONOTONIC_RAW", CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_RAW, print);
		clock_read("BOOTTIME", CLOCK_BOOTTIME, CLOCK_BOOTTIME, print);
		clock_read("PROCESS_CPUTIME", CLOCK_PROCESS_CPUTIME_ID, CLOCK_PROCESS_CPUTIME_ID, print);
		clock_read("THREAD_CPUTIME", CLOCK_THREAD_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, print);

		before = host_ns(CLOCK_REALTIME);
		gettimeofday(&tv, NULL);
		after = host_ns(CLOCK_REALTIME);
		value = (int64_t)tv.tv_sec * NSEC_PER_SEC + tv.tv_usec * 1000;
		if (print)
			show("gettimeofday", before, value, after);

		before = host_ns(CLOCK_REALTIME);
		t = time(&t2);
		after = host_ns(CLOCK_REALTIME);
		if (t != t2)
			printf("error time() %lld but stored %lld\n", (long long)t, (long long)t2);
		if (print)
			show("time", before, (int64_t)t * NSEC_PER_SEC, after);

		before = host_ns(CLOCK_REALTIME);
		if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
			printf("error timespec_get\n");
		after = host_ns(CLOCK_REALTIME);
		if (print)
			show("timespec_get", before, ts_ns(&ts), after);

		before = host_ns(CLOCK_REALTIME);
		if (ftime(&tb) != 0)
			printf("error ftime\n");
		after = host_ns(CLOCK_REALTIME);
		if (print)
			show("ftime", before, (int64_t)tb.time * NSEC_PER_SEC + tb.millitm * 1000000LL, after);
	}
	return 0;
}
