/* `mimic train` as one rank of a data-parallel run under an MPI launcher (mpirun -np N
 * mimic train ...): MPI's collectives through libmimic_mpi, and the tool's own agreements
 * (every rank exits with the same status; rank 0 prints). Built with MPI when CMake finds it
 * (MIMIC_CLI_MPI); without MPI `mimic train` is one process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef MIMIC_CLI_MPI
#include <mimic/mpi.h>

/* Variables the MPI launchers set in each rank's environment (Open MPI, MPICH's Hydra,
 * PMIx and PMI-2 launchers such as srun): `mimic train` started by one of them is a rank. */
static int launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}
#endif

int cli_dist_begin(const char *cmd, cli_dist *d)
{
    memset(d, 0, sizeof *d);
    d->size = 1;
    mimic_collective_init(&d->coll, sizeof d->coll);
#ifdef MIMIC_CLI_MPI
    if (!launched_by_mpi())
        return CLI_EXIT_OK;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return cli_error(cmd, "MPI_Init failed");
    d->mpi = 1;
    int st = mimic_mpi_collective(&d->coll, MPI_COMM_WORLD);
    if (st != MIMIC_OK)
        return cli_error(cmd, "cannot use MPI_COMM_WORLD: %s", mimic_status_str(st));
    d->active = 1;
    d->rank = d->coll.rank;
    d->size = d->coll.size;
    /* every rank's errors go to d->msg; the ranks agree, and rank 0 prints */
    cli_capture_errors(d->msg, sizeof d->msg);
    if (d->rank != 0 && !freopen("/dev/null", "w", stdout))
        return cli_error(cmd, "cannot silence rank %d's standard output", d->rank);
#else
    (void)cmd;
#endif
    return CLI_EXIT_OK;
}

/* Rank 0 prints an outcome every rank shares: the message, and for a usage error where to
 * look. */
static void print_outcome(const char *cmd, const cli_dist *d, int code, const char *msg)
{
    if (d->rank != 0 || code == CLI_EXIT_OK)
        return;
    fprintf(stderr, "mimic %s: %s\n", cmd, msg);
    if (code == CLI_EXIT_USAGE)
        fprintf(stderr, "Try 'mimic %s --help' for more information.\n", cmd);
}

int cli_dist_agree(const char *cmd, cli_dist *d, int code)
{
    if (!d->active)
        return code;
    int agreed = mimic_collective_agree(&d->coll, code, d->msg);
    if (agreed < 0) { /* the collective itself failed: MPI's error handler let it return */
        fprintf(stderr, "mimic %s: rank %d of %d: %s\n", cmd, d->rank, d->size, mimic_last_error());
        agreed = CLI_EXIT_RUNTIME;
    } else {
        print_outcome(cmd, d, agreed, mimic_last_error());
    }
    d->msg[0] = '\0';
    return agreed;
}

int cli_dist_report(const char *cmd, cli_dist *d, int code)
{
    if (!d->active)
        return code;
    print_outcome(cmd, d, code, d->msg);
    d->msg[0] = '\0';
    return code;
}

void cli_dist_end(cli_dist *d)
{
    cli_capture_errors(NULL, 0);
#ifdef MIMIC_CLI_MPI
    if (d->mpi)
        MPI_Finalize();
#endif
    d->active = d->mpi = 0;
}
