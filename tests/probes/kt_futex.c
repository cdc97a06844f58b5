/*
 * kt_futex: FUTEX_WAIT_BITSET with an absolute timeout inside a time
 * namespace. A MONOTONIC timeout is in namespace time and the kernel
 * converts it; a REALTIME one (FUTEX_CLOCK_REALTIME) is not offset at all.
 * Each wait of now+100 ms must time out (ETIMEDOUT), no earlier than the
 * deadline and less than 300 ms after it.
 */
#include "kt_common.h"

#include <linux/futex.h>

static void check(clockid_t clock, const char *name)
{
	int op = FUTEX_WAIT_BITSET | (clock == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
	uint32_t word = 0;
	int64_t deadline, after;
	struct timespec ts;
	long r;
	int err;

	deadline = libc_ns(clock) + 100 * NSEC_PER_MSEC;
	ts = ns_ts(deadline);
	r = syscall(SYS_futex, &word, op, 0, &ts, NULL, FUTEX_BITSET_MATCH_ANY);
	err = errno;
	after = libc_ns(clock);
	kt_check(r == -1 && err == ETIMEDOUT && after >= deadline &&
			 after - deadline < 300 * NSEC_PER_MSEC,
		 name, "returned %ld (%s), woke %lld ns after the deadline", r,
		 r ? strerror(err) : "no error", (long long)(after - deadline));
}

int main(void)
{
	check(CLOCK_MONOTONIC, "futex-MONOTONIC-abs100ms");
	check(CLOCK_REALTIME, "futex-REALTIME-abs100ms");
	return kt_failed;
}
