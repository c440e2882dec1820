#!/usr/bin/env bash
# Training from a memory-mapped uint8 .npy transfer set larger than the workspaces by far,
# against the same student trained from float32 rows in memory, in one run.
#
#   bench/mmap_bench.sh [BUILD_DIR] [ROWS] [SECONDS] [DIR]
#
# BUILD_DIR: configured with -DMIMIC_BUILD_BENCH=ON (default build-bench; built here).
# ROWS: rows of the generated transfer set (default 5500000: 5.5M x 784 bytes = 4.3 GB).
# DIR: where the .npy files go (default /tmp); they are deleted at the end.
# Prints examples/s for both, peak RSS (/usr/bin/time -v) and the resident memory split into
# anonymous (model + workspaces) and file-backed (mapped dataset pages: page cache, which the
# kernel reclaims under pressure) from /proc/self/status at the end of the run.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
rows=${2:-5500000}
secs=${3:-8}
dir=${4:-/tmp}
threads=${OPENBLAS_NUM_THREADS:-2}
export OPENBLAS_NUM_THREADS=$threads
[ -x /usr/bin/time ] || { echo "mmap_bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMIMIC_BUILD_BENCH=ON -DMIMIC_BUILD_TESTS=OFF \
      -DMIMIC_BUILD_CLI=OFF >/dev/null
cmake --build "$build" -j2 --target train_bench >/dev/null
bench="$build/bench/train_bench"
x="$dir/mimic_mmap_bench_x.npy"
z="$dir/mimic_mmap_bench_z.npy"
log=$(mktemp)
trap 'rm -f "$x" "$z" "$log" "$log.mem" "$log.u8"' EXIT

echo "generating $rows x 784 uint8 rows in $x ..." >&2
/usr/bin/python3 - "$x" "$z" "$rows" <<'PY'
import sys
import numpy as np
xp, zp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
X = np.lib.format.open_memmap(xp, mode="w+", dtype=np.uint8, shape=(n, 784))
Z = np.lib.format.open_memmap(zp, mode="w+", dtype=np.float32, shape=(n, 10))
step = 200_000
for i in range(0, n, step):
    m = min(step, n - i)
    X[i:i + m] = rng.integers(0, 256, size=(m, 784), dtype=np.uint8)
    Z[i:i + m] = rng.standard_normal((m, 10), dtype=np.float32) * 3
X.flush(); Z.flush()
del X, Z
PY
ls -l "$x" "$z" >&2

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$bench" 784 256 4096 10 256 "$secs" f32 >"$log.mem"
/usr/bin/time -v "$bench" 784 256 4096 10 256 "$secs" u8 "$x" "$z" >"$log" 2>"$log.time"
"$bench" 784 256 4096 10 256 "$secs" u8 >"$log.u8"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

/usr/bin/python3 - "$log.mem" "$log" "$log.time" "$log.u8" "$x" <<'PY'
import os, re, sys
def rate(path):
    for l in open(path):
        if l.startswith("mimic train"):
            return float(l.split()[-1])
def mem(path, key):
    for l in open(path):
        if l.startswith("memory " + key):
            return int(l.split()[2]) / 1024
mem_rate, map_rate, u8_rate = rate(sys.argv[1]), rate(sys.argv[2]), rate(sys.argv[4])
peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(sys.argv[3]).read()).group(1)) / 1024
size = os.path.getsize(sys.argv[5]) / 2**30
print(f"\n784-256b-4096-10, batch 256, {os.environ.get('OPENBLAS_NUM_THREADS')} threads, "
      f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}\n")
print("| transfer set | examples/s | vs in-memory f32 | peak RSS (MiB) | RssAnon (MiB) | RssFile (MiB) |")
print("|---|---|---|---|---|---|")
print(f"| in memory, f32, 16384 rows | {mem_rate:,.0f} | 1.00 | {mem(sys.argv[1], 'VmHWM'):,.0f} | {mem(sys.argv[1], 'RssAnon'):,.0f} | {mem(sys.argv[1], 'RssFile'):,.0f} |")
print(f"| in memory, u8, 16384 rows | {u8_rate:,.0f} | {u8_rate / mem_rate:.2f} | {mem(sys.argv[4], 'VmHWM'):,.0f} | {mem(sys.argv[4], 'RssAnon'):,.0f} | {mem(sys.argv[4], 'RssFile'):,.0f} |")
print(f"| mmap u8 .npy, {size:.1f} GiB | {map_rate:,.0f} | {map_rate / mem_rate:.2f} | {peak:,.0f} | {mem(sys.argv[2], 'RssAnon'):,.0f} | {mem(sys.argv[2], 'RssFile'):,.0f} |")
PY
