/* The one place that includes CBLAS: OpenBLAS's cblas.h, or the reference CBLAS. */
#ifndef MIMIC_BLAS_H
#define MIMIC_BLAS_H

#if defined(MIMIC_CBLAS_NETLIB_H)
#include <cblas-netlib.h>
#else
#include <cblas.h>
#endif

/* BLAS threads for the duration of a call (threads > 0), restored by mimic__blas_threads_end.
 * A no-op with a BLAS that has no thread control. Returns the previous count (or 0). */
int mimic__blas_threads_begin(int threads);
void mimic__blas_threads_end(int previous);

#endif /* MIMIC_BLAS_H */
