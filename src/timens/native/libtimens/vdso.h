/*
 * vdso.h - host clocks straight from the vDSO, past a patch by timens-tracer.
 */
#ifndef LIBTIMENS_VDSO_H
#define LIBTIMENS_VDSO_H

/* Point timens_host_clock_gettime and timens_host_time at the vDSO's own
 * functions. If they lead to timens's injected code, use the original ones
 * and point timens_real_clock_gettime/gettimeofday at them too. */
void timens_find_vdso(void);

#endif /* LIBTIMENS_VDSO_H */
