/*
 * rt_settime HOW SEC: set REALTIME to SEC (seconds since the epoch) with
 * HOW, then print "ret R ERRNAME", "now NS" (what the program reads after)
 * and "host NS" (raw host REALTIME). HOW is one of clock_settime,
 * settimeofday, stime, settimeofday_tz (timezone only), adjtimex_step,
 * adjtime, clock_settime_monotonic.
 *
 * The tests run this without CAP_SYS_TIME, so that a libtimens bug makes
 * it fail instead of moving the machine's clock.
 */
#include "rt_common.h"

#include <dlfcn.h>
#include <sys/time.h>
#include <sys/timex.h>

static const char *err_name(int err)
{
	switch (err) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	default: return strerror(err);
	}
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "";
	time_t sec = argc > 2 ? (time_t)atoll(argv[2]) : 0;
	struct timespec ts = { .tv_sec = sec, .tv_nsec = 0 };
	struct timeval tv = { .tv_sec = sec, .tv_usec = 0 };
	struct timezone tz = { 0, 0 };
	int ret = -1;

	errno = 0;
	if (!strcmp(how, "clock_settime")) {
		ret = clock_settime(CLOCK_REALTIME, &ts);
	} else if (!strcmp(how, "settimeofday")) {
		ret = settimeofday(&tv, &tz);
	} else if (!strcmp(how, "settimeofday_tz")) {
		ret = settimeofday(NULL, &tz);
	} else if (!strcmp(how, "stime")) {
		/* Only old binaries link stime; find it as they would. */
		int (*stime_fn)(const time_t *) = (int (*)(const time_t *))dlsym(RTLD_DEFAULT, "stime");

		ret = stime_fn ? stime_fn(&sec) : (errno = ENOSYS, -1);
	} else if (!strcmp(how, "adjtimex_step")) {
		struct timex tx = { .modes = ADJ_SETOFFSET | ADJ_NANO };

		tx.time.tv_sec = 3600;
		ret = adjtimex(&tx);
		ret = ret < 0 ? -1 : 0;
	} else if (!strcmp(how, "adjtime")) {
		struct timeval delta = { .tv_sec = 1 };

		ret = adjtime(&delta, NULL);
	} else if (!strcmp(how, "clock_settime_monotonic")) {
		ret = clock_settime(CLOCK_MONOTONIC, &ts);
	} else {
		errno = ENOSYS;
	}
	printf("ret %d %s\n", ret, err_name(ret ? errno : 0));
	printf("now %lld\n", (long long)libc_ns(CLOCK_REALTIME));
	printf("host %lld\n", (long long)host_ns(CLOCK_REALTIME));
	return 0;
}
