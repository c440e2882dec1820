#!/usr/bin/env bash
# Side-by-side training throughput and batch-1 latency: PyTorch vs libmimic, same machine, same
# thread count, same OpenBLAS kernels, one run. libmimic trains with options.threads = threads
# (MIMIC_BENCH_THREADS): its own passes of the step run on that many threads beside BLAS's.
#
#   bench/compare.sh [threads] [seconds-per-measurement]
#
# Environment: BUILD (build dir, default build-bench), CORETYPES (default "default SkylakeX":
# one table per value; "default" leaves OPENBLAS_CORETYPE unset so OpenBLAS detects the CPU,
# any other value is exported as OPENBLAS_CORETYPE to BOTH sides: Debian's PyTorch uses the
# same system OpenBLAS). Prints Markdown tables (copy them into bench/README.md with the
# machine line).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
secs=${2:-6}
build=${BUILD:-build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMIMIC_BUILD_BENCH=ON -DMIMIC_BUILD_TESTS=OFF \
      -DMIMIC_BUILD_CLI=OFF >/dev/null
cmake --build "$build" -j2 --target train_bench >/dev/null
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
# PyTorch's OpenMP workers otherwise spin after each parallel region on the very cores that
# OpenBLAS's threads need: on 2 cores that costs PyTorch 4x (2,000 instead of 9,200 examples/s
# on 784-256b-4096-10). PASSIVE gives PyTorch its best number. libmimic's own workers spin
# briefly after each of their passes, yielding, then sleep (TRAINER_SPIN_S, lib/train/trainer.c).
export OMP_WAIT_POLICY=PASSIVE MIMIC_BENCH_THREADS=$threads
configs=("784 256 4096 10 256" "784 256 4096 10 64" "784 0 4096 10 256")
for ct in ${CORETYPES:-default SkylakeX}; do
    if [ "$ct" = default ]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$ct; fi
    out=$(mktemp)
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    for c in "${configs[@]}"; do
        read -r D k H C B <<<"$c"
        /usr/bin/python3 bench/torch_bench.py "$threads" "$secs" "$D:$k:$H:$C:$B" | grep train >>"$out"
        "$build/bench/train_bench" $c "$secs" f32 | tee -a "$out" >&2
    done
    /usr/bin/python3 bench/torch_bench.py "$threads" 1 "784:256:64:10:64" | grep infer1 >>"$out"
    load1=$(cut -d' ' -f1-3 /proc/loadavg)
    /usr/bin/python3 - "$out" "$threads" "$ct" "$load0" "$load1" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
t = {tuple(r[2:7]): float(r[7]) for r in rows if r[0] == "torch" and r[1] == "train"}
m = {tuple(r[2:7]): float(r[7]) for r in rows if r[0] == "mimic" and r[1] == "train"}
roof = [l for l in rows if l[0] == "ratio"]
core = next((" ".join(l[1:]) for l in rows if l[0] == "blas"), "unknown")
ti = {tuple(r[2:6]): float(r[6]) for r in rows if r[0] == "torch" and r[1] == "infer1"}
mi = {tuple(r[2:6]): float(r[6]) for r in rows if r[0] == "mimic" and r[1] == "infer1"}
ct = sys.argv[3] if sys.argv[3] != "default" else "unset"
print(f"\n{sys.argv[2]} threads, OPENBLAS_CORETYPE {ct} ({core}); load average {sys.argv[4]} before, {sys.argv[5]} after\n")
print("| student | batch | PyTorch ex/s | libmimic ex/s | speed-up | libmimic / roofline |")
print("|---|---|---|---|---|---|")
for i, key in enumerate(m):
    D, k, H, C, B = key
    name = f"{D}-{k}b-{H}-{C}" if k != "0" else f"{D}-{H}-{C}"
    tr = t.get(key, float("nan"))
    print(f"| {name} | {B} | {tr:,.0f} | {m[key]:,.0f} | {m[key] / tr:.2f}x | {float(roof[i][1]) * 100:.0f}% |")
print("\n| student | PyTorch batch-1 forward (us) | libmimic (us) | speed-up |")
print("|---|---|---|---|")
for key in mi:
    D, k, H, C = key
    name = f"{D}-{k}b-{H}-{C}" if k != "0" else f"{D}-{H}-{C}"
    if key in ti:
        print(f"| {name} | {ti[key]:.1f} | {mi[key]:.1f} | {ti[key] / mi[key]:.2f}x |")
PY
    rm -f "$out"
done
