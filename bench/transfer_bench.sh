#!/usr/bin/env bash
# Transfer sets at scale (bench/transfer_bench.c), in one run:
#   1. training throughput from a 12-shard manifest of uint8 inputs with float16 logits
#      against the same rows as one float32 array in memory (interleaved rounds, medians);
#   2. anonymous memory (RssAnon) while training on a ~100 MB manifest and on an 8+ GB one.
#
#   bench/transfer_bench.sh [BUILD_DIR] [DIR] [BIG_ROWS]
#
# BUILD_DIR: configured here with -DMIMIC_BUILD_BENCH=ON (default build-bench).
# DIR: where the generated shards go (default /tmp/mimic-transfer-bench; deleted at the end).
# BIG_ROWS: rows of the big manifest (default 10500000: 10.5M x 804 bytes = 8.4 GB).
# Threads: OPENBLAS_NUM_THREADS (default 1); kernels: OPENBLAS_CORETYPE (printed).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
dir=${2:-/tmp/mimic-transfer-bench}
big=${3:-10500000}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMIMIC_BUILD_BENCH=ON -DMIMIC_BUILD_TESTS=OFF \
      -DMIMIC_BUILD_CLI=OFF >/dev/null
cmake --build "$build" -j2 --target transfer_bench >/dev/null
bench="$build/bench/transfer_bench"
trap 'rm -rf "$dir"' EXIT
echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" make "$dir/small" 65536 12
"$bench" throughput "$dir/small/manifest.json" 2 9
"$bench" make "$dir/100m" 127000 10
"$bench" make "$dir/big" "$big" 40
du -sh "$dir/100m" "$dir/big"
"$bench" memory "$dir/100m/manifest.json" 10
"$bench" memory "$dir/big/manifest.json" 10
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
