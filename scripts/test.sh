#!/usr/bin/env bash
# libmimic's test command (README.md; CI runs it through .ci/run):
#
#   bash scripts/test.sh              # every step, in order
#   bash scripts/test.sh plain abi    # only the named steps (they may need earlier ones'
#                                     # build directories, e.g. abi needs plain + install)
#   bash scripts/test.sh --list       # the steps
#
# Each step runs in its own subshell with `set -euo pipefail`: any failing command fails
# the step. A failed step does not stop the run (the summary then shows everything that is
# broken; MIMIC_CI_FAIL_FAST=1 stops at the first failure), but any failed step makes the
# run exit 1. A step whose driver does not exist yet is "skipped". The last line of the
# output is "N passed, N failed, N skipped", counting steps.
#
# Environment: MIMIC_BUILD_ROOT (default <repo>/build), MIMIC_JOBS (default 2),
# MIMIC_FUZZ_SECONDS (default 60, per libFuzzer target), MIMIC_CI_FAIL_FAST.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${MIMIC_BUILD_ROOT:-$ROOT/build}
STAGE=$BUILD/stage
JOBS=${MIMIC_JOBS:-2}
PY=/usr/bin/python3 # Debian's Python: the one with numpy, torch and onnx

# What the hook steps (python, fuzz, onnx) get: the staged install of the plain build.
export MIMIC_PREFIX=$STAGE
export MIMIC_LIBRARY=$STAGE/lib/libmimic.so
export MIMIC_BUILD_DIR=$BUILD/ci-plain
export MIMIC_BUILD_ROOT=$BUILD
export MIMIC_JOBS=$JOBS

ALL_STEPS=(setup layers plain standalone asan reference tsan install exports headers abi
           consumer-pkgconfig consumer-cmake consumer-vendor examples
           python wheel mpi mpich fuzz crash valgrind onnx)

# Command lines of the examples (examples/*.c, run by the `examples` step), one entry
# "NAME|ARGUMENTS". ARGUMENTS are shell words, evaluated with $DATA = the repo's data/,
# $TESTDATA = tests/data/, $FASHION = /usr/share/datasets/fashion-mnist (Debian's
# dataset-fashion-mnist) and $OUT = an empty scratch directory (also the working directory)
# for the example's output files. An example that is not listed runs with no arguments.
# Each example must exit 0 within 15 minutes. Keep these runs small: the demo
# (scripts/demo.sh) is where examples run on the full data.
# shellcheck disable=SC2016  # expanded later, by the examples step
EXAMPLE_ARGS=(
  'label_transfer_set|$TESTDATA/npy/x_f4.npy $OUT 4'
  'softmax_vs_logits|'
  'train_minimal|$TESTDATA/npy/x_f4.npy $TESTDATA/npy/z_f4.npy $TESTDATA/npy/y_i4.npy $OUT/student.safetensors 2'
)

# ---- helpers -------------------------------------------------------------------------------
log() { printf '%s\n' "$*"; }
die() { local m="$*"; printf 'FAIL: %s\n' "$m" >&2; note "${m:0:70}"; exit 1; }
skip() { printf 'SKIP: %s\n' "$*"; note "$*"; exit 77; }
# A short note for the summary table (steps run in subshells, so notes go through files).
note() { printf '%s; ' "$*" >> "$NOTES/$CURRENT_STEP"; }

# configure DIR [cmake args...]: a build of the source tree in DIR.
configure() {
  local dir=$1
  shift
  cmake -S "$ROOT" -B "$dir" "$@"
}

# build DIR [targets...]: build, and note the number of compiler warnings.
build() {
  local dir=$1
  shift
  local targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$dir" -j"$JOBS" "${targets[@]}" 2>&1 | tee "$dir/ci-build.log"
  local w
  w=$(grep -c 'warning:' "$dir/ci-build.log" || true)
  [ "$w" -eq 0 ] || note "$w compiler warnings"
}

# run_ctest DIR [ctest args...]: ctest with the failing tests' output, notes the count.
# CTEST_LAUNCHER (an array, may be empty) is put in front of ctest.
CTEST_LAUNCHER=()
run_ctest() {
  local dir=$1
  shift
  local rc=0
  (cd "$dir" && ${CTEST_LAUNCHER[@]+"${CTEST_LAUNCHER[@]}"} ctest --output-on-failure --no-tests=error --timeout 1500 -j"$JOBS" "$@") \
    2>&1 | tee "$dir/ci-ctest.log" || rc=$?
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$dir/ci-ctest.log" | tail -1 || true)
  [ -z "$line" ] || note "$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/ctest: \2 tests, \1 failed/' <<<"$line")"
  return "$rc"
}

# Sanitizer reports go to files (log_path), so one printed by a forked Check child or by
# a test that ignores exit codes still fails the step.
sanitizer_logs_clean() {
  local dir=$1 f found=0
  for f in "$dir"/*; do
    [ -e "$f" ] || continue
    found=1
    log "---- sanitizer report $f"
    cat "$f"
  done
  [ "$found" -eq 0 ] || { note "sanitizer reports in $dir"; return 1; }
}

version_from_header() {
  sed -n 's/^#define MIMIC_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
    "$ROOT/include/mimic/common.h" | paste -sd.
}

need_stage() {
  [ -f "$STAGE/lib/libmimic.so" ] || die "no staged install in $STAGE (the install step failed or did not run)"
}

# ---- steps ---------------------------------------------------------------------------------

# 1. The packages (Debian 12): scripts/setup.sh, shared with scripts/demo.sh.
step_setup() {
  bash "$ROOT/scripts/setup.sh"
}

# 1b. lib/ in layers: no file includes a layer above its own; src/ and examples/ only the
#     public headers (scripts/check_layers.sh).
step_layers() {
  bash "$ROOT/scripts/check_layers.sh"
}

# 2. Release build with OpenBLAS, all ctest suites. -g on top of Release's -O3: abidw needs
#    DWARF for the ABI check, and valgrind's reports need line numbers.
step_plain() {
  local dir=$BUILD/ci-plain
  configure "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O3 -g -DNDEBUG" \
    -DMIMIC_BLAS=OpenBLAS
  build "$dir"
  run_ctest "$dir"
}

# 2b. The C suites stand alone: built where the Python they use for cross-checks does not
#     exist, every suite still passes, skipping only those cross-checks (with a message).
step_standalone() {
  local dir=$BUILD/ci-standalone
  configure "$dir" -DCMAKE_BUILD_TYPE=Release -DMIMIC_PYTHON=/nonexistent/python3
  build "$dir"
  run_ctest "$dir" -V >/dev/null
  local skips
  skips=$(grep -c '^[0-9]*: SKIP ' "$dir/ci-ctest.log" || true)
  [ "$skips" -gt 0 ] || die "no cross-check reported a skip without Python"
  note "$skips Python cross-checks skipped"
}

# 3. AddressSanitizer + UndefinedBehaviorSanitizer (gcc), all suites; any report fails.
step_asan() {
  local dir=$BUILD/ci-asan logs=$BUILD/ci-asan/sanitizer-logs
  configure "$dir" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMIMIC_SANITIZE=address,undefined
  build "$dir"
  rm -rf "$logs" && mkdir -p "$logs"
  local rc=0
  ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan" \
    run_ctest "$dir" || rc=$?
  sanitizer_logs_clean "$logs" || rc=1
  return "$rc"
}

# 4. The reference CBLAS (Debian's libblas3) instead of OpenBLAS, all suites. The loader
#    must really give libmimic.so the reference libblas.so.3: Debian's libblas.so.3
#    alternative usually points to OpenBLAS's copy.
step_reference() {
  local dir=$BUILD/ci-ref refdir=/usr/lib/x86_64-linux-gnu/blas
  configure "$dir" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Release -DMIMIC_BLAS=Reference
  build "$dir"
  local f deps
  for f in "$dir/libmimic.so" "$dir"/tests/check_*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    deps=$(ldd "$f")
    if grep -qi openblas <<<"$deps"; then
      log "$deps"
      die "$f loads OpenBLAS in the Reference build"
    fi
    # A file that calls CBLAS must get it from the reference libblas.so.3.
    if nm -D --undefined-only "$f" 2>/dev/null | grep ' cblas_' >/dev/null; then
      grep -q "libblas.so.3 => $refdir/libblas.so.3" <<<"$deps" \
        || { log "$deps"; die "$f does not load $refdir/libblas.so.3"; }
    fi
  done
  if nm -D --undefined-only "$dir/libmimic.so" | grep ' cblas_' >/dev/null; then
    note "libmimic.so -> $refdir/libblas.so.3"
  else
    note "libmimic.so calls no CBLAS yet"
  fi
  run_ctest "$dir"
}

# 5. ThreadSanitizer (clang), only the concurrency suites.
step_tsan() {
  local dir=$BUILD/ci-tsan logs=$BUILD/ci-tsan/sanitizer-logs re='concurrency|thread'
  configure "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMIMIC_SANITIZE=thread
  # Build only the library and the suites that will run (test name = target name).
  local tests=()
  mapfile -t tests < <(cd "$dir" && ctest -N -R "$re" | sed -n 's/^ *Test *#[0-9]*: *//p')
  build "$dir" mimic_shared mimic_static ${tests[@]+"${tests[@]}"}
  [ "${#tests[@]}" -gt 0 ] || die "no test matches '$re'"
  rm -rf "$logs" && mkdir -p "$logs"
  # OpenBLAS is not instrumented: its worker threads synchronize through spin-waits TSan
  # cannot see, so it would report races inside OpenBLAS. One BLAS thread means no worker
  # threads; the races TSan looks for are libmimic's own (shared const students).
  # clang 14's TSan cannot map its shadow memory when the kernel randomizes mmap with more
  # than 28 bits: run without address randomization there.
  if [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)" -gt 28 ]; then
    CTEST_LAUNCHER=(setarch "$(uname -m)" -R)
    note "ASLR off (mmap_rnd_bits > 28)"
  fi
  local rc=0
  OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$logs/tsan" \
    run_ctest "$dir" -R "$re" || rc=$?
  sanitizer_logs_clean "$logs" || rc=1
  return "$rc"
}

# 6a. Install the plain build into the staging prefix and check what got installed.
step_install() {
  local dir=$BUILD/ci-plain version major
  [ -f "$dir/libmimic.so" ] || die "no plain build in $dir (the plain step failed or did not run)"
  version=$(version_from_header)
  major=${version%%.*}
  rm -rf "$STAGE"
  cmake --install "$dir" --prefix "$STAGE"
  local lib=$STAGE/lib
  local real
  real=$(readlink -f "$lib/libmimic.so")
  [ "$(basename "$real")" = "libmimic.so.$version" ] || die "libmimic.so -> $real, expected libmimic.so.$version"
  [ -L "$lib/libmimic.so.$major" ] && [ "$(readlink -f "$lib/libmimic.so.$major")" = "$real" ] \
    || die "$lib/libmimic.so.$major is not a link to $real"
  local soname
  soname=$(readelf -d "$real" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
  [ "$soname" = "libmimic.so.$major" ] || die "SONAME is '$soname', expected libmimic.so.$major"
  if readelf -d "$real" | grep -E 'RPATH|RUNPATH' >/dev/null; then
    die "the installed libmimic.so carries a run path: $(readelf -d "$real" | grep -E 'RPATH|RUNPATH')"
  fi
  [ -f "$lib/libmimic.a" ] || die "libmimic.a not installed"
  nm "$lib/libmimic.a" | grep ' T mimic_version_string$' >/dev/null || die "libmimic.a lacks mimic_version_string"
  local h
  for h in "$ROOT/include/mimic.h" "$ROOT"/include/mimic/*.h; do
    cmp -s "$h" "$STAGE/include/${h#"$ROOT/include/"}" || die "header ${h#"$ROOT/"} not installed as is"
  done
  for f in lib/pkgconfig/mimic.pc lib/cmake/mimic/mimicConfig.cmake \
           lib/cmake/mimic/mimicConfigVersion.cmake lib/cmake/mimic/mimicTargets.cmake; do
    [ -f "$STAGE/$f" ] || die "$f not installed"
  done
  if [ -x "$dir/mimic" ]; then
    [ -x "$STAGE/bin/mimic" ] || die "the mimic CLI was built but not installed"
    # The installed tool starts from any prefix without LD_LIBRARY_PATH: here, and from a
    # copy of the prefix moved elsewhere (its run path is relative to itself).
    env -u LD_LIBRARY_PATH "$STAGE/bin/mimic" --version >/dev/null \
      || die "the installed mimic does not start without LD_LIBRARY_PATH"
    local moved=$BUILD/stage-moved
    rm -rf "$moved" && cp -a "$STAGE" "$moved"
    env -u LD_LIBRARY_PATH "$moved/bin/mimic" --version >/dev/null \
      || die "a relocated install's mimic does not start"
    local loaded
    loaded=$(ldd "$moved/bin/mimic" | sed -n 's/^[[:space:]]*libmimic\.so\.1 => \([^ ]*\) .*/\1/p')
    [ -n "$loaded" ] && [ "$(readlink -f "$loaded")" = "$(readlink -f "$moved/lib/libmimic.so.1")" ] \
      || die "a relocated install's mimic loads '${loaded:-nothing}', not its own libmimic.so.1"
    rm -rf "$moved"
    note "CLI installed (starts from any prefix)"
  fi
  if [ -f "$dir/mpi/libmimic_mpi.so" ]; then
    for f in lib/libmimic_mpi.so "lib/libmimic_mpi.so.$major" include/mimic/mpi.h \
             lib/pkgconfig/mimic-mpi.pc lib/cmake/mimic/mimicMpiTargets.cmake; do
      [ -e "$STAGE/$f" ] || die "$f not installed (the build has libmimic_mpi)"
    done
    cmp -s "$ROOT/mpi/include/mimic/mpi.h" "$STAGE/include/mimic/mpi.h" \
      || die "mpi/include/mimic/mpi.h not installed as is"
    note "libmimic_mpi"
  fi
  note "SONAME $soname, $(basename "$real"), libmimic.a"
}

# 6b. The shared object exports exactly the MIMIC_API declarations.
step_exports() {
  need_stage
  bash "$ROOT/scripts/check_exports.sh" "$STAGE/lib/libmimic.so" "$STAGE/include"
}

# 6c. Each public header compiles alone as strict C11 and as C++11.
step_headers() {
  need_stage
  bash "$ROOT/tests/headers/check.sh" "$STAGE/include"
}

# 6d. ABI compared with the committed baseline abi/libmimic.abi.
step_abi() {
  need_stage
  bash "$ROOT/scripts/check_abi.sh" "$STAGE"
}

# 7. Programs using the installed library the three ways users do.
step_consumer-pkgconfig() {
  need_stage
  bash "$ROOT/tests/consumer/run.sh" pkgconfig "$STAGE" "$BUILD/ci-consumer-pkgconfig"
}
step_consumer-cmake() {
  need_stage
  bash "$ROOT/tests/consumer/run.sh" cmake "$STAGE" "$BUILD/ci-consumer-cmake"
}
step_consumer-vendor() {
  bash "$ROOT/tests/consumer/run.sh" vendor "$ROOT" "$BUILD/ci-consumer-vendor"
}

# 7b. examples/*.c: built against the installed library with examples/CMakeLists.txt
#     (find_package) and with pkg-config, then each CMake-built one is run with its
#     command line from EXAMPLE_ARGS.
step_examples() {
  need_stage
  local srcs=("$ROOT"/examples/*.c)
  [ -e "${srcs[0]}" ] || die "no examples/*.c"
  local dir=$BUILD/ci-examples pcdir=$BUILD/ci-examples-pkgconfig
  rm -rf "$dir" "$pcdir"
  mkdir -p "$pcdir"
  cmake -S "$ROOT/examples" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$STAGE"
  build "$dir"
  local src name
  for src in "${srcs[@]}"; do
    name=$(basename "$src" .c)
    # shellcheck disable=SC2046  # pkg-config's output is meant to be split
    PKG_CONFIG_PATH="$STAGE/lib/pkgconfig" cc -std=c11 -O2 -Wall -Wextra -o "$pcdir/$name" "$src" \
      $(PKG_CONFIG_PATH="$STAGE/lib/pkgconfig" pkg-config --cflags --libs mimic) -lm
  done
  note "${#srcs[@]} built with find_package and pkg-config"
  local entry spec args failed=0 ran=0
  for src in "${srcs[@]}"; do
    name=$(basename "$src" .c)
    spec=""
    for entry in "${EXAMPLE_ARGS[@]}"; do
      [ "${entry%%|*}" = "$name" ] && spec=${entry#*|}
    done
    # shellcheck disable=SC2034  # DATA, TESTDATA, FASHION, OUT: for the eval'ed arguments
    local OUT=$BUILD/ci-examples-out/$name DATA=$ROOT/data TESTDATA=$ROOT/tests/data
    # shellcheck disable=SC2034
    local FASHION=/usr/share/datasets/fashion-mnist
    rm -rf "$OUT" && mkdir -p "$OUT"
    eval "args=($spec)"
    log "---- example: $name ${args[*]}"
    ran=$((ran + 1))
    if ! (cd "$OUT" && timeout 900 "$dir/$name" "${args[@]}"); then
      log "example $name FAILED"
      failed=$((failed + 1))
    fi
  done
  note "$ran run, $failed failed"
  [ "$failed" -eq 0 ]
}

# 8a. Python tests (the ctypes binding over the staged libmimic.so).
step_python() {
  need_stage
  local dirs=() d
  for d in python/tests tests/python; do
    [ -d "$ROOT/$d" ] && dirs+=("$ROOT/$d")
  done
  [ "${#dirs[@]}" -gt 0 ] || die "no python/tests or tests/python"
  local nfiles
  nfiles=$(find "${dirs[@]}" \( -name 'test_*.py' -o -name '*_test.py' \) -print | wc -l)
  local rc=0
  (cd "$ROOT" && PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
    "$PY" -m pytest -q -p no:cacheprovider "${dirs[@]}") || rc=$?
  if [ "$rc" -eq 5 ]; then # pytest: no tests collected
    [ "$nfiles" -eq 0 ] && die "no test files in ${dirs[*]#"$ROOT/"}"
    die "pytest collected no tests, but there are $nfiles test files"
  fi
  return "$rc"
}

# 8a'. The Python package as users install it: `pip install ./python` compiles libmimic
#      with CMake and bundles it (tests/wheel/run.sh: the wheel, the one-command install
#      and the sdist, each into a fresh venv, used with no MIMIC_LIBRARY). Needs no other step.
step_wheel() {
  local out=$BUILD/ci-wheel
  bash "$ROOT/tests/wheel/run.sh" "$out" "$(version_from_header)" "$PY"
  local whl
  for whl in "$out"/dist/*.whl; do note "$(basename "$whl") $(($(stat -c %s "$whl") / 1024)) KiB"; done
}

# 8a''. Data-parallel training over MPI (tests/mpi/run.sh): `mpirun -np 1|2|3 mimic train`
#      against one process, a failure on one rank (missing file, NaN, out of memory, options,
#      SIGINT, SIGKILL, checkpoint writes), resumes, libmimic_mpi's pieces and the installed
#      adapter, the mpi4py example. Open MPI over loopback, oversubscribed.
step_mpi() {
  local dir=$BUILD/ci-plain
  [ -x "$dir/mimic" ] || die "no plain build of the CLI (the plain step failed or did not run)"
  [ -f "$dir/mpi/libmimic_mpi.so" ] \
    || skip "the plain build has no MPI (scripts/setup.sh installs Open MPI; CMake found none)"
  local rc=0 prefix=()
  [ -f "$STAGE/lib/libmimic_mpi.so" ] && prefix=("$STAGE") # the installed adapter too
  bash "$ROOT/tests/mpi/run.sh" "$dir" ${prefix[@]+"${prefix[@]}"} | tee "$BUILD/ci-mpi.log" \
    || rc=$?
  note "$(tail -1 "$BUILD/ci-mpi.log")"
  return "$rc"
}

# 8a'''. The same with MPICH: libmimic_mpi and the CLI built with MPICH's compiler wrapper,
#       tests/mpi/run.sh under MPICH's launcher (Hydra), found first on PATH.
step_mpich() {
  [ -x /usr/bin/mpicc.mpich ] && [ -x /usr/bin/mpirun.mpich ] \
    || skip "no MPICH (scripts/setup.sh test installs mpich and libmpich-dev)"
  local dir=$BUILD/ci-mpich
  configure "$dir" -DCMAKE_BUILD_TYPE=Release -DMIMIC_WITH_MPI=ON \
    -DMPI_C_COMPILER=/usr/bin/mpicc.mpich
  build "$dir" mimic_cli mimic_mpi mpi_chunks
  grep -q '^MPI_C_LIB_NAMES:.*mpich' "$dir/CMakeCache.txt" || die "CMake did not pick MPICH"
  local bin=$dir/mpich-bin rc=0
  mkdir -p "$bin"
  ln -sf /usr/bin/mpirun.mpich "$bin/mpirun"
  ln -sf /usr/bin/mpiexec.mpich "$bin/mpiexec"
  ln -sf /usr/bin/hydra_pmi_proxy "$bin/hydra_pmi_proxy" # Hydra looks beside mpiexec
  PATH=$bin:$PATH bash "$ROOT/tests/mpi/run.sh" "$dir" | tee "$BUILD/ci-mpich.log" || rc=$?
  note "$(tail -1 "$BUILD/ci-mpich.log")"
  return "$rc"
}

# 8b. libFuzzer targets, each for MIMIC_FUZZ_SECONDS (their seed-corpus replayers already
#     run in ctest with gcc).
step_fuzz() {
  [ -f "$ROOT/tests/fuzz/run.sh" ] || die "no tests/fuzz/run.sh"
  (cd "$ROOT" && MIMIC_FUZZ_BUILD="$BUILD/fuzz" bash tests/fuzz/run.sh "${MIMIC_FUZZ_SECONDS:-60}")
}

# 8b'. Crash safety: `mimic train --checkpoint` killed with SIGKILL at random moments 50
#      times; every checkpoint loads and --resume ends with the uninterrupted run's model.
step_crash() {
  [ -x "$BUILD/ci-plain/mimic" ] || die "no plain build of the CLI (the plain step failed or did not run)"
  bash "$ROOT/tests/crash/kill_train.sh" "$BUILD/ci-plain/mimic" 50
}

# 8c. valgrind memcheck of the plain build's Check suites (in-process: CK_FORK=no).
step_valgrind() {
  [ -d "$BUILD/ci-plain/tests" ] || die "no plain build (the plain step failed or did not run)"
  local rc=0
  "$PY" "$ROOT/scripts/memcheck.py" "$BUILD/ci-plain" "$BUILD/ci-valgrind" "$JOBS" \
    | tee "$BUILD/ci-valgrind.log" || rc=$?
  note "$(grep '^memcheck: [0-9]* suites' "$BUILD/ci-valgrind.log" | sed 's/^memcheck: //')"
  return "$rc"
}

# 8d. The exported ONNX models checked with the real ONNX Runtime.
step_onnx() {
  [ -f "$ROOT/tests/onnx/run.sh" ] || die "no tests/onnx/run.sh"
  need_stage
  sh "$ROOT/tests/onnx/offline_test.sh" "$MIMIC_LIBRARY"
  (cd "$ROOT" && bash tests/onnx/run.sh)
}

# ---- driver --------------------------------------------------------------------------------
if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${ALL_STEPS[@]}"
  exit 0
fi
steps=("$@")
[ "${#steps[@]}" -gt 0 ] || steps=("${ALL_STEPS[@]}")
for s in "${steps[@]}"; do
  declare -F "step_$s" >/dev/null || { echo "unknown step '$s' (see --list)" >&2; exit 2; }
done

mkdir -p "$BUILD"
NOTES=$(mktemp -d)
trap 'rm -rf "$NOTES"' EXIT
fmt_time() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

log "libmimic test run: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') in $ROOT"
log "  build root $BUILD, $JOBS jobs, $(nproc) cores, CI=${CI:-}"
log "  steps: ${steps[*]}"
names=() results=() times=()
n_pass=0 n_fail=0 n_skip=0
run_start=$SECONDS
for s in "${steps[@]}"; do
  CURRENT_STEP=$s
  : > "$NOTES/$s"
  log ""
  log "======== $s"
  t0=$SECONDS
  set +e
  (set -euo pipefail; "step_$s")
  rc=$?
  set -e
  dt=$((SECONDS - t0))
  case $rc in
    0) r=passed; n_pass=$((n_pass + 1)) ;;
    77) r=skipped; n_skip=$((n_skip + 1)) ;;
    *) r=FAILED; n_fail=$((n_fail + 1)) ;;
  esac
  log "======== $s: $r ($(fmt_time "$dt"))"
  names+=("$s") results+=("$r") times+=("$dt")
  if [ "$r" = FAILED ] && [ -n "${MIMIC_CI_FAIL_FAST:-}" ]; then
    log "MIMIC_CI_FAIL_FAST: stopping after the first failure"
    break
  fi
done

log ""
log "======== summary: $(fmt_time $((SECONDS - run_start))) in all"
printf '%-20s %-8s %6s  %s\n' step result time notes
for i in "${!names[@]}"; do
  n=$(sed 's/; $//' "$NOTES/${names[$i]}")
  printf '%-20s %-8s %6s  %s\n' "${names[$i]}" "${results[$i]}" "$(fmt_time "${times[$i]}")" "$n"
done
echo "$n_pass passed, $n_fail failed, $n_skip skipped"
[ "$n_fail" -eq 0 ]
