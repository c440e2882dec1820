/*
 * libmimic: collectives for data-parallel training over several processes (since 1.3).
 *
 * libmimic holds no transport. To train one student on several processes (machines, or
 * GPUs' hosts), the caller supplies the collectives, as LightGBM's
 * LGBM_NetworkInitWithFunctions does: this process's rank, the number of ranks and an
 * in-place sum all-reduce over float and double buffers, and sets
 * mimic_train_options.collective. MPI, NCCL, Gloo or torch.distributed can each fill it:
 * libmimic_mpi (<mimic/mpi.h>, built when CMake finds MPI) makes one from an MPI
 * communicator, python/mimic/distributed.py from mpi4py or torch.distributed.
 *
 * What training does with it (mimic_train, mimic_trainer_*; README.md, "Distributed
 * training"): every rank holds the whole training set (memory-mapped: a rank reads only the
 * rows it uses) and the same options; batch_size is the global batch, and rank r of N
 * reads rows [r B / N, (r + 1) B / N) of each batch of the global shuffle, which is the same
 * on every rank. The gradients, the input and target statistics, the validation and
 * training metrics and the loss are summed over the ranks; augmentation and dropout draws
 * depend on a row's place in the global batch, not on the rank; every stop (divergence,
 * a progress callback's cancel, early stopping, an error on any rank) is agreed, so every
 * rank returns the same status and message ("rank 1 of 4: x.npy: ..."). Every rank starts
 * from rank 0's weights. With a deterministic all-reduce, N ranks train the student one
 * process trains with the same global batch, up to the order of the sums (tested: 1e-5
 * relative after an epoch for N = 2, 3). The training calls are collective: every rank
 * makes the same calls in the same order.
 *
 * What the all-reduce must do: every rank calls it with the same n, in the same order; on
 * return buf holds the elementwise sum over the ranks, the same bits on every rank (MPI,
 * NCCL and Gloo all-reduces do); it returns 0, or nonzero when it failed (the training
 * call then fails with MIMIC_ERR_IO on that rank; the transport is expected to stop the
 * others, as MPI's default error handler does). A rank that dies cannot take part in a
 * collective: the launcher (mpirun) ends the job. n may exceed INT_MAX (chunk if the
 * transport needs it).
 */
#ifndef MIMIC_COLLECTIVE_H
#define MIMIC_COLLECTIVE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* buf[0, n) = the sum over the ranks of their buf[0, n), in place. 0 on success. */
typedef int (*mimic_allreduce_f32_fn)(float *buf, size_t n, void *user_data);
typedef int (*mimic_allreduce_f64_fn)(double *buf, size_t n, void *user_data);

/* The ranks training together (versioned: call mimic_collective_init first). Borrowed by
 * the options that point at it for as long as they are used. */
typedef struct mimic_collective {
    size_t struct_size;
    int32_t rank;                         /* this process, in [0, size); default 0 */
    int32_t size;                         /* the number of ranks, >= 1; default 1 */
    mimic_allreduce_f32_fn allreduce_f32; /* both required */
    mimic_allreduce_f64_fn allreduce_f64;
    void *user_data; /* passed to both */
} mimic_collective;

/* Fill `c` with the defaults: rank 0 of 1, no functions. struct_size = sizeof the caller's
 * struct; only that many bytes are written. */
MIMIC_API void mimic_collective_init(mimic_collective *c, size_t struct_size);

/* Agree on an outcome (collective: every rank of `c` calls it). `status` is this rank's: 0
 * for success, any other value for a failure (e.g. a MIMIC_ERR_* code, or a program's exit
 * status); `message` says what failed here (NULL: mimic_last_error()). Returns 0 on every
 * rank when every rank passed 0; otherwise, on every rank, the status of the lowest failing
 * rank, with mimic_last_error() = "rank R of N: <its message>" (at most 511 bytes of it;
 * the message alone with one rank).
 * Errors: MIMIC_ERR_INVALID (a bad collective; local, no other rank learns of it),
 * MIMIC_ERR_IO (an all-reduce failed). Thread-safe as the collective is. */
MIMIC_API int mimic_collective_agree(const mimic_collective *c, int status, const char *message);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_COLLECTIVE_H */
