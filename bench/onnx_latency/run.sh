#!/bin/sh
# libmimic (mimic_student_forward) vs ONNX Runtime (CPU, onnxruntime-node) inference latency
# on the same models, side by side, at equal thread counts (mimic_student_set_threads =
# OPENBLAS_NUM_THREADS = intraOpNumThreads), batch 1 and 256. Prints a Markdown table for bench/README.md.
#
# usage: bench/onnx_latency/run.sh BUILD_DIR [ITERS] [THREADS...]
#   BUILD_DIR configured with -DMIMIC_BUILD_BENCH=ON and built (target onnx_latency);
#   ITERS timed calls at batch 1 (default 2000; batch 256 gets ITERS/50, at least 20);
#   THREADS default "1 2". onnxruntime-node comes from tests/onnx/node_modules (installed
#   by tests/onnx/run.sh, or here on first use).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [ITERS] [THREADS...]" >&2; exit 2; }
bin=$1/bench/onnx_latency/onnx_latency
[ -x "$bin" ] || { echo "$bin not built (-DMIMIC_BUILD_BENCH=ON, target onnx_latency)" >&2; exit 2; }
iters=${2:-2000}
shift $(( $# >= 2 ? 2 : 1 ))
threads=${*:-1 2}
python=${MIMIC_PYTHON:-/usr/bin/python3}

onnx_dir=$here/../../tests/onnx
if [ ! -f "$onnx_dir/node_modules/onnxruntime-node/package.json" ]; then
    (cd "$onnx_dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/mimic-latency.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
"$python" "$here/make_overhead.py" "$out/overhead.onnx"
for t in $threads; do
    OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$bin" "$out" "$iters" "$t" | sed "s/^/$t /" >>"$out/results.txt"
    OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t node "$here/bench_ort.js" "$out" "$t" "$iters" |
        sed "s/^/$t /" >>"$out/results.txt"
done
"$python" "$here/table.py" "$out/results.txt"
