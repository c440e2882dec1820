/* libmimic_mpi on a real MPI job (tests/mpi/run.sh runs it under mpirun -np 3): its
 * all-reduces in pieces (this program is built with MIMIC_MPI_MAX_COUNT = 1000, so buffers
 * of 999, 1000, 1001 and 3500 elements take 1 to 4 MPI_Allreduce calls) sum every element on
 * every rank; mimic_collective_agree over MPI; mimic_mpi_collective's errors. Prints one
 * line per failure and exits 1 after any. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mimic.h>
#include <mimic/mpi.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "chunks: rank %d: ", rank);                                            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = -1, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    mimic_collective c;
    mimic_collective_init(&c, sizeof c);
    CHECK(mimic_mpi_collective(NULL, MPI_COMM_WORLD) == MIMIC_ERR_INVALID, "NULL out accepted");
    c.struct_size = sizeof(size_t);
    CHECK(mimic_mpi_collective(&c, MPI_COMM_WORLD) == MIMIC_ERR_INVALID, "short struct accepted");
    c.struct_size = sizeof c;
    CHECK(mimic_mpi_collective(&c, MPI_COMM_WORLD) == MIMIC_OK, "mimic_mpi_collective failed");
    CHECK(c.rank == rank && c.size == size, "rank %d of %d", (int)c.rank, (int)c.size);

    const size_t sizes[] = {0, 1, 999, 1000, 1001, 3500};
    float *f = malloc(3500 * sizeof *f);
    double *d = malloc(3500 * sizeof *d);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0] && f && d; k++) {
        size_t n = sizes[k];
        for (size_t i = 0; i < n; i++) {
            f[i] = (float)(rank + 1) * (float)(i % 97); /* exact small integers */
            d[i] = (double)(rank + 1) * ((double)i + 0.25) * 1e10;
        }
        CHECK(c.allreduce_f32(f, n, c.user_data) == 0, "allreduce_f32 of %zu failed", n);
        CHECK(c.allreduce_f64(d, n, c.user_data) == 0, "allreduce_f64 of %zu failed", n);
        double ranks = (double)size * (size + 1) / 2; /* sum of rank + 1 */
        for (size_t i = 0; i < n; i++) {
            if (f[i] != (float)(ranks * (double)(i % 97)) ||
                d[i] != ranks * ((double)i + 0.25) * 1e10) {
                CHECK(0, "n = %zu: element %zu is %g / %g", n, i, (double)f[i], d[i]);
                break;
            }
        }
    }
    free(f);
    free(d);

    /* every rank learns rank 1's failure and message */
    int agreed = mimic_collective_agree(&c, rank == 1 ? 7 : 0, rank == 1 ? "x.npy: gone" : NULL);
    CHECK(agreed == (size > 1 ? 7 : 0), "agreed %d", agreed);
    if (size > 1) {
        char want[64];
        snprintf(want, sizeof want, "rank 1 of %d: x.npy: gone", size);
        CHECK(strcmp(mimic_last_error(), want) == 0, "message '%s'", mimic_last_error());
    }
    MPI_Finalize();
    CHECK(mimic_mpi_collective(&c, MPI_COMM_WORLD) == MIMIC_ERR_MISUSE,
          "accepted after MPI_Finalize");
    if (failures == 0)
        printf("chunks: rank %d of %d: ok\n", rank, size);
    return failures ? 1 : 0;
}
