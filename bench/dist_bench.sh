#!/usr/bin/env bash
# The data-parallel step on this machine (docs/SCALING.md), repeated and interleaved, medians:
#   1. one process x 1 BLAS thread, the step time at batches of 16 to 2048 rows (what a rank
#      computes for its part of a batch: bench/scaling_model.py reads this curve);
#   2. side by side at the same global batch: 1 process x 1 thread vs N ranks x 1 thread
#      (mpirun --bind-to core): efficiency T1 / (N TN), the all-reduce's time in the step
#      (waiting for the slower rank included) and alone, the bytes of one all-reduce.
#
#   bash bench/dist_bench.sh BUILD_DIR [REPEATS] [N]     (defaults 7, 2)
#
# BUILD_DIR: configured with -DMIMIC_BUILD_BENCH=ON where CMake found MPI (target dist_bench).
set -euo pipefail
build=$(cd "$1" && pwd)
repeats=${2:-7}
n=${3:-2}
bench=$build/bench/dist_bench
[ -x "$bench" ] || { echo "no $bench (configure with -DMIMIC_BUILD_BENCH=ON and MPI)" >&2; exit 2; }
mpirun_cmd=(mpirun --bind-to core)
if mpirun --version 2>&1 | grep -q "Open MPI"; then
  mpirun_cmd+=(--oversubscribe)
  [ "$(id -u)" -ne 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OPENBLAS_NUM_THREADS=1
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX} # OpenBLAS 0.3.21 misreads new CPUs

echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores;" \
     "OpenBLAS core $OPENBLAS_CORETYPE, 1 thread a process; $(mpirun --version 2>&1 | head -1);" \
     "$repeats repeats, medians"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
small="784 256 4096 10"
big="784 256 65536 10"
# "STUDENT BATCH STEPS": the compute curve, then the side-by-side runs
curve=("$small 16 200" "$small 32 150" "$small 64 100" "$small 128 60" "$small 256 30"
       "$small 512 16" "$small 1024 8" "$small 2048 4"
       "$big 16 6" "$big 64 6" "$big 128 5" "$big 256 4" "$big 512 3")
sides=("$small 128 40" "$small 512 16" "$small 2048 4" "$big 128 5" "$big 512 3")
med() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((r = 0; r < repeats; r++)); do
  for i in "${!curve[@]}"; do
    # shellcheck disable=SC2086  # a config is a list of arguments
    "$bench" ${curve[$i]} >> "$tmp/curve.$i"
  done
  for i in "${!sides[@]}"; do
    # shellcheck disable=SC2086
    "$bench" ${sides[$i]} >> "$tmp/one.$i"
    # shellcheck disable=SC2086
    "${mpirun_cmd[@]}" -np "$n" "$bench" ${sides[$i]} >> "$tmp/ranks.$i"
  done
done
name() { awk '{ printf "%s-%sb-%s-%s", $1, $2, $3, $4 }' <<< "$1"; }
echo
echo "1. one process x 1 thread: step time by batch"
printf '%-18s %6s %10s %12s\n' student batch "step ms" "ms per row"
for i in "${!curve[@]}"; do
  read -r _ _ _ _ b _ <<< "${curve[$i]}"
  t=$(field step_ms < "$tmp/curve.$i" | med)
  awk -v s="$(name "${curve[$i]}")" -v b="$b" -v t="$t" \
    'BEGIN { printf "curve %-18s %6d %10.2f %12.4f\n", s, b, t, t / b }'
done
echo
echo "2. the same global batch: 1 process x 1 thread vs $n ranks x 1 thread"
printf '%-18s %6s %10s %10s %6s %12s %8s %12s %10s\n' student batch "1x1 ms" "${n}x1 ms" \
  eff "allreduce ms" share "alone ms" MB
for i in "${!sides[@]}"; do
  read -r _ _ _ _ b _ <<< "${sides[$i]}"
  t1=$(field step_ms < "$tmp/one.$i" | med)
  tn=$(field step_ms < "$tmp/ranks.$i" | med)
  ar=$(field allreduce_ms < "$tmp/ranks.$i" | med)
  alone=$(field allreduce_alone_ms < "$tmp/ranks.$i" | med)
  bytes=$(field bytes < "$tmp/ranks.$i" | head -1)
  awk -v s="$(name "${sides[$i]}")" -v B="$b" -v t1="$t1" -v tn="$tn" -v ar="$ar" -v al="$alone" \
      -v by="$bytes" -v n="$n" 'BEGIN { printf "%-18s %6d %10.1f %10.1f %5.0f%% %12.2f %7.0f%% %12.2f %10.2f\n",
      s, B, t1, tn, 100 * t1 / (n * tn), ar, 100 * ar / tn, al, by / 1e6 }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
