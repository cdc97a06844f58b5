/*
 * libc.h - what differs between the C libraries libtimens.so runs under
 * (glibc >= 2.17, musl), detected at run time, never assumed at build time.
 */
#ifndef LIBTIMENS_LIBC_H
#define LIBTIMENS_LIBC_H

#include <pthread.h>
#include <time.h>

/* dlvsym where the libc has it (glibc); plain dlsym elsewhere (musl). */
void *timens_dlvsym(void *handle, const char *name, const char *version);

/* The clock a condvar waits on (CLOCK_REALTIME or CLOCK_MONOTONIC): it is
 * in each libc's private layout of pthread_cond_t. */
clockid_t timens_cond_clock(const pthread_cond_t *cond);

#endif /* LIBTIMENS_LIBC_H */
