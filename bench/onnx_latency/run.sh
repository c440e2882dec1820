#!/bin/sh
# libmimic (mimic_student_forward) vs ONNX Runtime (CPU, onnxruntime-node) vs PyTorch
# inference latency on the same models, side by side, at equal thread counts
# (mimic_student_set_threads = OPENBLAS_NUM_THREADS = intraOpNumThreads =
# torch.set_num_threads), batch 1 and 256, float32 students and their float16 / int8
# versions (mimic_student_quantize). Prints Markdown tables for bench/README.md.
#
# usage: bench/onnx_latency/run.sh BUILD_DIR [ITERS] [THREADS...]
#   BUILD_DIR configured with -DMIMIC_BUILD_BENCH=ON and built (target onnx_latency);
#   ITERS timed calls at batch 1 (default 2000; batch 256 gets ITERS/50, at least 20);
#   THREADS default "1 2". Environment: REPEAT (default 3): the three sides run one after
#   the other REPEAT times per thread count, interleaved, and the tables show the median of
#   the runs' medians; DTYPES (default float32,float16,int8); TORCH=0 skips PyTorch.
#   onnxruntime-node comes from tests/onnx/node_modules (installed by tests/onnx/run.sh, or
#   here on first use); PyTorch is Debian's python3-torch.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [ITERS] [THREADS...]" >&2; exit 2; }
bin=$1/bench/onnx_latency/onnx_latency
[ -x "$bin" ] || { echo "$bin not built (-DMIMIC_BUILD_BENCH=ON, target onnx_latency)" >&2; exit 2; }
iters=${2:-2000}
shift $(( $# >= 2 ? 2 : 1 ))
threads=${*:-1 2}
python=${MIMIC_PYTHON:-/usr/bin/python3}
repeat=${REPEAT:-3}
dtypes=${DTYPES:-float32,float16,int8}

onnx_dir=$here/../../tests/onnx
if [ ! -f "$onnx_dir/node_modules/onnxruntime-node/package.json" ]; then
    (cd "$onnx_dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/mimic-latency.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
"$python" "$here/make_overhead.py" "$out/overhead.onnx"
{
    echo "# cpu $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1 | tr ' ' '_')"
    echo "# cores $(nproc)"
    echo "# load-before $(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')"
} >>"$out/results.txt"
r=1
while [ "$r" -le "$repeat" ]; do
    for t in $threads; do
        rm -f "$out/models.txt"
        OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$bin" "$out" "$iters" "$t" "$dtypes" |
            sed "s/^/$r $t /" >>"$out/results.txt"
        OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t node "$here/bench_ort.js" "$out" "$t" "$iters" |
            sed "s/^/$r $t /" >>"$out/results.txt"
        if [ "${TORCH:-1}" != 0 ]; then
            OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$python" "$here/bench_torch.py" "$out" "$t" "$iters" |
                sed "s/^/$r $t /" >>"$out/results.txt"
        fi
    done
    r=$((r + 1))
done
echo "# load-after $(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')" >>"$out/results.txt"
if [ -n "${KEEP_RESULTS:-}" ]; then cp "$out/results.txt" "$KEEP_RESULTS"; fi
"$python" "$here/table.py" "$out/results.txt"
