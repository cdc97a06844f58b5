/*
 * vdso.h - read host clocks past a vDSO that timens-tracer patched.
 */
#ifndef LIBTIMENS_VDSO_H
#define LIBTIMENS_VDSO_H

/* If this process's vDSO time functions lead to timens's injected code,
 * point timens_real_clock_gettime/gettimeofday at the original ones. */
void timens_bypass_vdso_patch(void);

#endif /* LIBTIMENS_VDSO_H */
