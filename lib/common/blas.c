/* BLAS thread control: only when the caller asks for it, and always restored afterwards. */
#include "common/blas.h"
#include "common/common.h"

int mimic__blas_threads_begin(int threads)
{
#if defined(MIMIC_HAVE_OPENBLAS)
    if (threads <= 0)
        return 0;
    int previous = openblas_get_num_threads();
    if (previous != threads)
        openblas_set_num_threads(threads);
    return previous;
#else
    (void)threads;
    return 0;
#endif
}

void mimic__blas_threads_end(int previous)
{
#if defined(MIMIC_HAVE_OPENBLAS)
    if (previous > 0 && openblas_get_num_threads() != previous)
        openblas_set_num_threads(previous);
#else
    (void)previous;
#endif
}
