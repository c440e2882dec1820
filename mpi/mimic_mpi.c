/* libmimic_mpi: an MPI communicator as libmimic's collectives (mimic/mpi.h). */
#include <limits.h>
#include <stdint.h>

#include "mimic/mpi.h"

/* Elements per MPI_Allreduce call: MPI counts are ints. A test build lowers it to check
 * the pieces (tests/mpi/). */
#ifndef MIMIC_MPI_MAX_COUNT
#define MIMIC_MPI_MAX_COUNT INT_MAX
#endif

/* The communicator travels in user_data as its Fortran handle (an int in every MPI), so
 * nothing is allocated and nothing needs freeing. */
static MPI_Comm comm_of(void *user_data)
{
    return MPI_Comm_f2c((MPI_Fint)(intptr_t)user_data);
}

static int allreduce(void *buf, size_t n, MPI_Datatype type, size_t elem, void *user_data)
{
    MPI_Comm comm = comm_of(user_data);
    char *p = buf;
    while (n > 0) {
        int count = n > (size_t)MIMIC_MPI_MAX_COUNT ? MIMIC_MPI_MAX_COUNT : (int)n;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p, count, type, MPI_SUM, comm);
        if (rc != MPI_SUCCESS)
            return rc;
        p += (size_t)count * elem;
        n -= (size_t)count;
    }
    return 0;
}

static int allreduce_f32(float *buf, size_t n, void *user_data)
{
    return allreduce(buf, n, MPI_FLOAT, sizeof *buf, user_data);
}

static int allreduce_f64(double *buf, size_t n, void *user_data)
{
    return allreduce(buf, n, MPI_DOUBLE, sizeof *buf, user_data);
}

int mimic_mpi_collective(mimic_collective *out, MPI_Comm comm)
{
    if (!out || out->struct_size < sizeof *out)
        return MIMIC_ERR_INVALID;
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (!inited || finalized)
        return MIMIC_ERR_MISUSE;
    int rank, size;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS)
        return MIMIC_ERR_IO;
    mimic_collective_init(out, out->struct_size);
    out->rank = rank;
    out->size = size;
    out->allreduce_f32 = allreduce_f32;
    out->allreduce_f64 = allreduce_f64;
    out->user_data = (void *)(intptr_t)MPI_Comm_c2f(comm);
    return MIMIC_OK;
}
