#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan + UBSan, library instrumented for coverage)
# and run each for a bounded time on a scratch copy of its committed seed corpus.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default 60 s, every target)
#
# Environment: MIMIC_FUZZ_BUILD (build dir, default <repo>/build/fuzz),
#              MIMIC_FUZZ_RSS_MB (default 2048), MIMIC_FUZZ_TIMEOUT (s per input, default 10),
#              MIMIC_FUZZ_WORKERS (parallel fuzzing processes per target, default 1),
#              MIMIC_FUZZ_BUILD_JOBS (default 2).
# Prints the executions per target (libFuzzer's stat::number_of_executed_units) and exits
# non-zero when a target crashed, leaked, timed out or ran out of memory. Each finding is
# kept under <build>/findings/<target>/; add it to the committed corpus as
# tests/fuzz/corpus/<target>/crash-<sha1> once reported, so every replay test keeps it.
set -u

secs=${1:-60}
shift || true
case $secs in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${MIMIC_FUZZ_BUILD:-$root/build/fuzz}
rss=${MIMIC_FUZZ_RSS_MB:-2048}
timeout=${MIMIC_FUZZ_TIMEOUT:-10}
workers=${MIMIC_FUZZ_WORKERS:-1}
bjobs=${MIMIC_FUZZ_BUILD_JOBS:-2}

command -v clang >/dev/null || { echo "run.sh: clang not found" >&2; exit 2; }

echo "== configuring $build (clang, -fsanitize=fuzzer-no-link,address,undefined)"
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMIMIC_BUILD_FUZZERS=ON -DMIMIC_SANITIZE=address,undefined \
  -DMIMIC_BUILD_CLI=OFF -DMIMIC_BUILD_SHARED=OFF -DMIMIC_BUILD_TESTS=ON >"$build.configure.log" 2>&1 \
  || { cat "$build.configure.log"; echo "run.sh: configure failed" >&2; exit 2; }
echo "== building the fuzzers"
cmake --build "$build" --target fuzzers -j "$bjobs" >"$build.build.log" 2>&1 \
  || { tail -50 "$build.build.log"; echo "run.sh: build failed" >&2; exit 2; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$build"/tests/fuzz/fuzz_*; do
    [ -x "$f" ] && targets+=("$(basename "$f" | sed 's/^fuzz_//')")
  done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "run.sh: no fuzz targets were built" >&2
  exit 2
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mimic-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$build/findings"
failed=0
summary=""
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  seeds=$root/tests/fuzz/corpus/$t
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "run.sh: no fuzzer or corpus for target '$t'" >&2
    failed=1
    continue
  fi
  work=$scratch/$t
  mkdir -p "$work/corpus" "$work/artifacts"
  cp "$seeds"/* "$work/corpus/"
  dict=()
  [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
  par=()
  [ "$workers" -gt 1 ] && par=(-jobs="$workers" -workers="$workers")
  echo "== fuzz_$t: ${secs}s, corpus of $(ls "$work/corpus" | wc -l) seeds"
  ( cd "$work" && "$bin" "$work/corpus" "${dict[@]}" "${par[@]}" -max_total_time="$secs" \
      -rss_limit_mb="$rss" -timeout="$timeout" -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/" ) >"$work/log" 2>&1
  rc=$?
  [ "$workers" -gt 1 ] && cat "$work"/fuzz-*.log >>"$work/log" 2>/dev/null
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | awk '{s += $2} END {print s + 0}')
  cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | awk '{print $2}')
  found=$(ls "$work/artifacts" 2>/dev/null | wc -l)
  status=ok
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    status="FAILED (exit $rc, $found artifacts)"
    failed=1
    mkdir -p "$build/findings/$t"
    cp "$work"/artifacts/* "$build/findings/$t/" 2>/dev/null
    cp "$work/log" "$build/findings/$t/fuzz_$t.log"
    grep -m1 -A30 -E '==ERROR|runtime error|contract violated|deadly signal|Timeout|out-of-memory' \
      "$work/log" | head -40
    echo "-- findings kept in $build/findings/$t/ (reproduce: $bin FILE)"
  fi
  line=$(printf '%-14s %14s executions  cov %-6s %s' "$t" "$execs" "${cov:-?}" "$status")
  echo "$line"
  summary+="$line"$'\n'
done
echo "== summary (${secs}s per target)"
printf '%s' "$summary" | tee "$build/fuzz-summary.txt"
exit $failed
