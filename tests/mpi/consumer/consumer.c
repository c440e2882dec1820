/* A program built against an installed libmimic_mpi (tests/mpi/run.sh, with pkg-config
 * mimic-mpi and with CMake's find_package(mimic 1 COMPONENTS mpi)): the collectives of
 * MPI_COMM_WORLD sum across the ranks and agree. */
#include <stdio.h>

#include <mimic.h>
#include <mimic/mpi.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    mimic_collective c;
    mimic_collective_init(&c, sizeof c);
    int rc = mimic_mpi_collective(&c, MPI_COMM_WORLD);
    double x = 1;
    if (rc == MIMIC_OK)
        rc = mimic_collective_agree(&c, 0, NULL);
    if (rc == MIMIC_OK)
        rc = c.allreduce_f64(&x, 1, c.user_data);
    printf("consumer: rank %d of %d: %s, sum %g\n", (int)c.rank, (int)c.size,
           rc == MIMIC_OK ? "ok" : "failed", x);
    MPI_Finalize();
    return rc != MIMIC_OK || x != (double)c.size;
}
