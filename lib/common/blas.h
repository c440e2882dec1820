/* The one place that includes CBLAS: OpenBLAS's cblas.h, or the reference CBLAS. */
#ifndef MIMIC_BLAS_H
#define MIMIC_BLAS_H

#if defined(MIMIC_CBLAS_NETLIB_H)
#include <cblas-netlib.h>
#else
#include <cblas.h>
#endif

/* No function here sets the BLAS library's threads: that is process-wide state, and the
 * library changes none (its own threads are mimic__pool's). */

#endif /* MIMIC_BLAS_H */
