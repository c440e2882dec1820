/*
 * libmimic_mpi: the collectives of an MPI communicator, for data-parallel training with
 * libmimic (include/mimic/collective.h). An optional library beside libmimic, built when
 * CMake finds MPI (-DMIMIC_WITH_MPI=AUTO, the default, ON or OFF): libmimic itself holds no
 * MPI. Open MPI and MPICH. Link with `pkg-config --libs mimic-mpi` or, in CMake,
 * find_package(mimic 1 COMPONENTS mpi) and mimic::mimic_mpi.
 *
 *     MPI_Init(&argc, &argv);
 *     mimic_collective c;
 *     mimic_collective_init(&c, sizeof c);
 *     if (mimic_mpi_collective(&c, MPI_COMM_WORLD) == MIMIC_OK) {
 *         options.collective = &c;              // every rank: the same options and data
 *         status = mimic_train(student, data, &options, NULL);  // the same status everywhere
 *     }
 *     MPI_Finalize();
 *
 * `mpirun -np N mimic train ...` does this for the command-line tool.
 */
#ifndef MIMIC_MPI_H
#define MIMIC_MPI_H

#include <mpi.h>

#include <mimic/collective.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MIMIC_MPI_API __attribute__((visibility("default")))
#else
#define MIMIC_MPI_API
#endif

/* Fill `out` (struct_size set, e.g. by mimic_collective_init) with the rank and size of
 * `comm` and all-reduces that sum in place with MPI_Allreduce(MPI_IN_PLACE, ..., MPI_SUM,
 * comm), in pieces of at most INT_MAX elements (MPI counts are ints). The communicator is
 * borrowed: it must stay valid while training uses `out` (MPI_Comm_dup one to keep
 * training's messages apart from yours). Call it after MPI_Init and before MPI_Finalize, on
 * every rank.
 *
 * An all-reduce that fails returns MPI's error code, and training fails with MIMIC_ERR_IO
 * on that rank, when comm's error handler is MPI_ERRORS_RETURN; with the default
 * MPI_ERRORS_ARE_FATAL MPI ends the job instead. MPI_Allreduce with the same number of
 * ranks, the same sizes and the same algorithm is deterministic run to run, and gives every
 * rank the same bits (what libmimic requires); Open MPI picks the algorithm from the size
 * and rank count (OMPI_MCA_coll_tuned_use_dynamic_rules=1 and
 * OMPI_MCA_coll_tuned_allreduce_algorithm pin it).
 *
 * Returns MIMIC_OK; MIMIC_ERR_INVALID when out is NULL or its struct_size is smaller than
 * this header's; MIMIC_ERR_MISUSE before MPI_Init or after MPI_Finalize; MIMIC_ERR_IO when
 * MPI cannot tell the rank or size. Thread-safe as MPI is (the calls use only `comm`). */
MIMIC_MPI_API int mimic_mpi_collective(mimic_collective *out, MPI_Comm comm);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_MPI_H */
