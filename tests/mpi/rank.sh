#!/bin/sh
# One rank of an MPI end-to-end test (tests/mpi/run.sh): runs COMMAND ARGS... with every
# "@RANK@" in the arguments replaced by this process's MPI rank, writes the command's pid to
# DIR/pid.RANK (for signals) and its exit status to DIR/status.RANK.
#   mpirun -np N tests/mpi/rank.sh DIR COMMAND ARGS...
# It exits 0 once the status is written, so that mpirun, which ends the whole job when a
# process exits non-zero, lets every rank write its own; MIMIC_TEST_PASS_STATUS=1 exits with
# the command's status instead (a rank that dies must end the job).
# MIMIC_TEST_ULIMIT_RANK=R MIMIC_TEST_ULIMIT_KB=K: rank R runs under `ulimit -v K`.
dir=$1
shift
rank=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-${PMIX_RANK:-0}}}
n=$#
while [ "$n" -gt 0 ]; do
    arg=$1
    shift
    case $arg in
    *@RANK@*) arg=$(printf '%s' "$arg" | sed "s/@RANK@/$rank/g") ;;
    esac
    set -- "$@" "$arg"
    n=$((n - 1))
done
if [ -n "${MIMIC_TEST_ULIMIT_RANK:-}" ] && [ "$MIMIC_TEST_ULIMIT_RANK" = "$rank" ]; then
    ulimit -v "$MIMIC_TEST_ULIMIT_KB"
fi
"$@" &
pid=$!
echo "$pid" > "$dir/pid.$rank"
wait "$pid"
status=$?
echo "$status" > "$dir/status.$rank"
[ "${MIMIC_TEST_PASS_STATUS:-0}" = 1 ] || status=0
exit "$status"
