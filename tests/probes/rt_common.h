/*
 * Shared helpers for the rt_* probes: small programs run with libtimens.so
 * preloaded (tests/test_libtimens.py). They print "key value..." lines with
 * times in nanoseconds; the tests do the judging.
 *
 * host_ns() (probe.h) is host REALTIME; libc calls go through libtimens.
 */
#ifndef RT_COMMON_H
#define RT_COMMON_H

#include "probe.h"

/* An absolute deadline: namespace REALTIME now + ns. */
static inline struct timespec ns_deadline(clockid_t clock, int64_t ns)
{
	return ns_ts(libc_ns(clock) + ns);
}

#endif
