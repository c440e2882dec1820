#!/usr/bin/env bash
# End-to-end tests of data-parallel training over MPI (the `mpi` step of scripts/test.sh):
# `mpirun -np N mimic train` with Open MPI (or MPICH) over loopback, oversubscribed on a small
# machine.
#
#   bash tests/mpi/run.sh BUILD_DIR [PREFIX]
#
# BUILD_DIR: a build with MPI (BUILD_DIR/mpi/libmimic_mpi.so); PREFIX: its installation
# (cmake --install), for programs built against the installed libmimic_mpi.
#
# What it checks: N = 1, 2, 3 ranks train the student one process trains (1 rank: the same
# file, byte for byte; 2 and 3: weights within 1e-5 relative); every rank exits with the same
# status, whatever fails on one rank: a data file it cannot open, a NaN only its copy of the
# data has, memory it cannot get, options that differ, a Ctrl-C (SIGINT) to it alone; a rank
# killed with SIGKILL ends the job within seconds and the run resumes from the last checkpoint
# to the uninterrupted run's student, byte for byte; a checkpoint rank 0 cannot write stops
# every rank and leaves the last one; a resume with another number of ranks is refused,
# naming both; libmimic_mpi's all-reduces in pieces (tests/mpi/chunks.c); programs built
# against the installed adapter; the Python example over mpi4py
# (examples/python/distributed_mpi4py.py). Every mpirun runs under `timeout`: a
# hang fails the test instead of the run. Exits 77 (skip) without MPI.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
[ "$#" -ge 1 ] && [ "$#" -le 2 ] || { echo "usage: $0 BUILD_DIR [PREFIX]" >&2; exit 2; }
build=$(cd "$1" && pwd)
prefix=${2:+$(cd "$2" && pwd)}
mimic=$build/mimic
py=/usr/bin/python3

if [ ! -f "$build/mpi/libmimic_mpi.so" ]; then
  echo "SKIP mpi: $build was built without MPI (install openmpi-bin and libopenmpi-dev, or"
  echo "MPICH, and configure with -DMIMIC_WITH_MPI=AUTO or ON)"
  exit 77
fi
command -v mpirun >/dev/null || { echo "SKIP mpi: no mpirun on PATH"; exit 77; }

# Open MPI: more ranks than cores, and root (CI containers) must be allowed explicitly.
mpirun_cmd=(mpirun)
if mpirun --version 2>&1 | grep -q "Open MPI"; then
  mpirun_cmd+=(--oversubscribe)
  if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
fi
export OPENBLAS_NUM_THREADS=1 # ranks x threads <= cores, and the same bits every run

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mimic_mpi_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$py" "$here/make_data.py" "$tmp/data"
D=$tmp/data

passed=0
failed=0
ok() { printf 'PASS %s\n' "$1"; passed=$((passed + 1)); }
bad() { printf 'FAIL %s: %s\n' "$1" "$2"; failed=$((failed + 1)); }

# mp N DIR ARGS...: `mimic train ARGS` on N ranks (within 300 s), through rank.sh, which
# records each rank's exit status in DIR; stderr in DIR/err. Returns mpirun's status.
mp() {
  local n=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  rm -f "$dir"/status.* "$dir"/pid.*
  local rc=0
  timeout 300 "${mpirun_cmd[@]}" -np "$n" sh "$here/rank.sh" "$dir" "$mimic" train "$@" \
    > "$dir/out" 2> "$dir/err" || rc=$?
  return "$rc"
}

# same_status N DIR WANT: every one of the N ranks exited with WANT.
same_status() {
  local n=$1 dir=$2 want=$3 r s
  for ((r = 0; r < n; r++)); do
    s=$(cat "$dir/status.$r" 2>/dev/null || echo none)
    [ "$s" = "$want" ] || { echo "rank $r exited with $s, not $want"; return 1; }
  done
}

# err_has DIR TEXT: the run's error output names TEXT.
err_has() { grep -qF -- "$2" "$1/err" || { echo "stderr lacks '$2':"; sed 's/^/  | /' "$1/err"; return 1; }; }

# weights_close A B TOL: the students' tensors differ by at most TOL relative to the largest.
weights_close() {
  MIMIC_LIBRARY=$build/libmimic.so PYTHONPATH=$root/python "$py" -c '
import sys
import numpy as np
import mimic
a, b = (mimic.Student.load(p).tensors() for p in sys.argv[1:3])
worst = max(float(np.abs(a[k] - b[k]).max() / np.abs(a[k]).max()) for k in a)
print("max relative difference %.3g" % worst)
sys.exit(0 if worst <= float(sys.argv[3]) else 1)' "$1" "$2" "$3"
}

# The run every test varies: 2400 u8 8x8 images, standardized, flipped and shifted, dropout,
# validation, global batch 100 (3 ranks: 34 + 33 + 33 rows); a student of 64-8b-64-10.
data=(--logits "$D/z.npy" --labels "$D/y.npy" --valid-inputs "$D/xv.npy"
      --valid-logits "$D/zv.npy" --valid-labels "$D/yv.npy")
recipe=(--loss l2 --standardize --flip 0.5 --shift 1 --image 8x8 --dropout 0.1 --batch 100
        --threads 1 --quiet)
common=(--inputs "$D/x.npy" "${data[@]}" --hidden 64 --bottleneck 8 "${recipe[@]}")

# ---- 1. N ranks train one process's student ------------------------------------------------
t=$tmp/equiv
mkdir -p "$t"
"$mimic" train "${common[@]}" --epochs 2 --out "$t/one.safetensors" --log "$t/one.csv"
for n in 1 2 3; do
  if ! mp "$n" "$t/np$n" "${common[@]}" --epochs 2 --out "$t/np$n.safetensors" \
       --log "$t/np$n.csv"; then
    bad "equivalence np $n" "mpirun failed: $(tail -3 "$t/np$n/err")"
    continue
  fi
  msg=$(same_status "$n" "$t/np$n" 0) || { bad "equivalence np $n" "$msg"; continue; }
  if [ "$n" -eq 1 ]; then
    if cmp -s "$t/one.safetensors" "$t/np1.safetensors"; then
      ok "mpirun -np 1 writes one process's student, byte for byte"
    else
      bad "equivalence np 1" "the student differs from one process's"
    fi
  elif msg=$(weights_close "$t/one.safetensors" "$t/np$n.safetensors" 1e-5); then
    ok "mpirun -np $n trains one process's student ($msg)"
  else
    bad "equivalence np $n" "$msg"
  fi
done
# rank 0 alone writes the outputs (the log has one row per epoch, once)
[ "$(wc -l < "$t/np3.csv")" -eq 3 ] && ok "rank 0 alone writes --log" \
  || bad "log" "$(wc -l < "$t/np3.csv") lines in the log"

# ---- 2. one rank fails; every rank exits with the same status, the error names it ----------
t=$tmp/faults
# a data file only rank 1 lacks
cp "$D/x.npy" "$D/x_0.npy"
mp 2 "$t/missing" --inputs "$D/x_@RANK@.npy" "${data[@]}" --hidden 64 "${recipe[@]}" \
  --epochs 1 --out "$t/m.safetensors" || true
if msg=$(same_status 2 "$t/missing" 1) && msg=$(err_has "$t/missing" "rank 1 of 2: ") &&
   msg=$(err_has "$t/missing" "x_1.npy"); then
  ok "a data file rank 1 cannot open: every rank exits 1, the error names rank 1 and the file"
else
  bad "missing file" "$msg"
fi
[ ! -e "$t/m.safetensors" ] || bad "missing file" "--out was written"

# a NaN that only rank 1's copy of the data has (row 1, which the fingerprint does not sample)
f32=(--logits "$D/z.npy" --labels "$D/y.npy" --hidden 64 --loss l2 --standardize --batch 100
     --threads 1 --quiet)
cp "$D/xf.npy" "$D/xf0.npy" && cp "$D/xf_nan.npy" "$D/xf1.npy"
mp 2 "$t/nan" "${f32[@]}" --epochs 30 --inputs "$D/xf@RANK@.npy" --out "$t/n.safetensors" \
  || true
if msg=$(same_status 2 "$t/nan" 1) && msg=$(err_has "$t/nan" "rank 1 of 2: training diverged") &&
   msg=$(err_has "$t/nan" "training row 1 is not finite"); then
  ok "a NaN only rank 1 reads: every rank exits 1, naming rank 1 and the row"
else
  bad "nan on one rank" "$msg"
fi

# memory rank 1 cannot get (ulimit -v on rank 1 alone; a student of 64 x 2M x 10)
MIMIC_TEST_ULIMIT_RANK=1 MIMIC_TEST_ULIMIT_KB=1500000 \
  mp 2 "$t/nomem" --inputs "$D/x.npy" "${data[@]}" --hidden 2000000 "${recipe[@]}" \
  --epochs 1 --out "$t/o.safetensors" || true
if msg=$(same_status 2 "$t/nomem" 1) && msg=$(err_has "$t/nomem" "rank 1 of 2: ") &&
   msg=$(err_has "$t/nomem" "out of memory"); then
  ok "out of memory on rank 1: every rank exits 1, naming rank 1"
else
  bad "nomem on one rank" "$msg"
fi

# options that differ on one rank
mp 2 "$t/differ" "${common[@]}" --epochs 1 --seed @RANK@ --out "$t/d.safetensors" || true
if msg=$(same_status 2 "$t/differ" 1) &&
   msg=$(err_has "$t/differ" "rank 1 of 2: the run differs from rank 0's: --seed is 1 here"); then
  ok "a different --seed on rank 1 is refused, naming it"
else
  bad "options differ" "$msg"
fi

# a usage error (every rank): printed once, exit status 2 everywhere
mp 2 "$t/usage" "${common[@]}" --epochs 0 --out "$t/u.safetensors" || true
if msg=$(same_status 2 "$t/usage" 2) && [ "$(grep -c -- "--epochs" "$t/usage/err")" -eq 1 ]; then
  ok "a usage error: exit status 2 on every rank, printed once"
else
  bad "usage error" "${msg:-printed $(grep -c -- "--epochs" "$t/usage/err") times}"
fi

# ---- 3. checkpoints: killed, interrupted, unwritable, resumed --------------------------------
t=$tmp/ckpt
long=(--inputs "$D/x.npy" "${data[@]}" --hidden 256 --bottleneck 8 "${recipe[@]}" --epochs 40)
mp 2 "$t/ref" "${long[@]}" --checkpoint "$t/ref.ckpt" --out "$t/ref.safetensors" \
  || bad "reference run" "$(tail -3 "$t/ref/err")"

# wait_for FILE: until it exists (a checkpoint: an epoch has ended), at most 120 s
wait_for() {
  local i
  for ((i = 0; i < 1200; i++)); do
    [ -e "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# interrupted NAME ACTION: the long run on 2 ranks writing $t/NAME.ckpt, and once its first
# checkpoint exists, `ACTION NAME` (a function); then waits for mpirun: its status in $rc and
# the seconds since the action in $took. Returns 1 when no checkpoint appeared.
interrupted() {
  local name=$1 action=$2
  rm -rf "$t/$name.ckpt"
  mp 2 "$t/$name" "${long[@]}" --checkpoint "$t/$name.ckpt" --out "$t/$name.safetensors" &
  local job=$! start
  if ! wait_for "$t/$name.ckpt" || ! wait_for "$t/$name/pid.1"; then
    wait "$job" || true
    return 1
  fi
  "$action" "$name"
  start=$SECONDS
  rc=0
  wait "$job" || rc=$?
  took=$((SECONDS - start))
}

# resumes_exactly NAME CKPT WHAT: the run resumed from CKPT on 2 ranks ends with the
# uninterrupted run's student, byte for byte (passes WHAT).
resumes_exactly() {
  if mp 2 "$t/$1.resume" "${long[@]}" --checkpoint "$2" --resume --out "$t/$1.safetensors" &&
     cmp -s "$t/ref.safetensors" "$t/$1.safetensors"; then
    ok "$3"
  else
    bad "resume after $1" "$(tail -3 "$t/$1.resume/err")"
  fi
}

sigkill_rank1() { kill -KILL "$(cat "$t/$1/pid.1")"; }
sigint_rank1() { kill -INT "$(cat "$t/$1/pid.1")"; }
# rename onto a directory fails: rank 0 cannot write the next checkpoint; the last one is
# moved aside, where nothing touches it (again when an epoch ends in between)
block_checkpoint() {
  local i
  for ((i = 0; i < 20; i++)); do
    mv -f "$t/$1.ckpt" "$t/$1.saved" && mkdir "$t/$1.ckpt" 2>/dev/null && return 0
  done
  return 1
}

# SIGKILL of rank 1: mpirun ends the job within seconds; the resume is exact
if MIMIC_TEST_PASS_STATUS=1 interrupted kill sigkill_rank1; then
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$took" -le 30 ] &&
     [ ! -e "$t/kill.safetensors" ]; then
    ok "SIGKILL of rank 1: the job ended in ${took} s (mpirun status $rc), no --out written"
  else
    bad "kill" "mpirun status $rc after ${took} s"
  fi
  resumes_exactly kill "$t/kill.ckpt" \
    "resumed after the kill: the uninterrupted run's student, byte for byte"
else
  bad "kill" "no checkpoint appeared"
fi

# SIGINT (Ctrl-C) to rank 1 alone: its callback stops; every rank exits 130; exact resume
if interrupted int sigint_rank1; then
  msg=$(same_status 2 "$t/int" 130) && msg=$(err_has "$t/int" "interrupted after") &&
    ok "Ctrl-C (SIGINT) to rank 1: every rank exits 130" || bad "sigint" "$msg"
  resumes_exactly int "$t/int.ckpt" \
    "resumed after the interrupt: the uninterrupted run's student, byte for byte"
else
  bad "sigint" "no checkpoint appeared"
fi

# a checkpoint rank 0 cannot write: every rank stops, naming rank 0; the checkpoint written
# before resumes to the uninterrupted run's student. On a loaded machine the short run may
# write its last checkpoint before the path is blocked (it then ends with status 0 and its
# --out): that attempt shows nothing, and the scenario is run again (at most 3 times).
blocked_ok=1
for attempt in 1 2 3; do
  interrupted blocked block_checkpoint || { blocked_ok=0; break; }
  [ "$rc" -eq 0 ] && [ -e "$t/blocked.safetensors" ] || break
  echo "note: attempt $attempt: the run ended before its checkpoint was blocked; again"
  rm -rf "$t/blocked.safetensors" "$t/blocked.saved" "$t/blocked.ckpt"
done
if [ "$blocked_ok" -eq 1 ]; then
  msg=$(same_status 2 "$t/blocked" 1) && msg=$(err_has "$t/blocked" "rank 0 of 2: ") &&
    msg=$(err_has "$t/blocked" "blocked.ckpt") &&
    ok "a checkpoint rank 0 cannot write: every rank exits 1, naming rank 0 and the file" ||
    bad "unwritable checkpoint" "$msg"
  resumes_exactly blocked "$t/blocked.saved" \
    "the checkpoint before the failure resumes to the uninterrupted run's student"
else
  bad "unwritable checkpoint" "no checkpoint appeared"
fi
# ... and up front: a checkpoint directory that does not exist
mp 2 "$t/nodir" "${common[@]}" --epochs 1 --checkpoint "$t/nodir/x/c.ckpt" \
  --out "$t/n.safetensors" || true
if msg=$(same_status 2 "$t/nodir" 1) && msg=$(err_has "$t/nodir" "rank 0 of 2: --checkpoint"); then
  ok "a checkpoint directory rank 0 lacks: every rank exits 1 before training"
else
  bad "checkpoint dir" "$msg"
fi

# a resume with another number of ranks is refused, naming both counts
mp 3 "$t/ranks" "${long[@]}" --checkpoint "$t/ref.ckpt" --resume --out "$t/r.safetensors" \
  || true
if msg=$(same_status 3 "$t/ranks" 1) &&
   msg=$(err_has "$t/ranks" "(ranks) is 2 in the checkpoint but 3 here"); then
  ok "a resume on 3 ranks of a 2-rank checkpoint is refused, naming both counts"
else
  bad "resume on other ranks" "$msg"
fi

# ---- 4. the adapter's pieces, and Python over mpi4py ----------------------------------------
exported=$(nm -D --defined-only --format=posix "$build/mpi/libmimic_mpi.so" | awk '{print $1}' |
           sed 's/@.*//' | sort -u | tr '\n' ' ')
if [ "$exported" = "mimic_mpi_collective " ]; then
  ok "libmimic_mpi exports exactly mimic_mpi_collective"
else
  bad "exports" "libmimic_mpi.so exports: $exported"
fi
if [ -x "$build/tests/mpi_chunks" ]; then
  if timeout 120 "${mpirun_cmd[@]}" -np 3 "$build/tests/mpi_chunks" > "$tmp/chunks.out" 2>&1; then
    ok "libmimic_mpi: all-reduces in pieces of 1000, agreement, errors (3 ranks)"
  else
    bad "chunks" "$(cat "$tmp/chunks.out")"
  fi
else
  bad "chunks" "no $build/tests/mpi_chunks"
fi
# Debian's mpi4py is built for the default MPI (Open MPI): under another launcher it would run
# as separate one-rank processes, so it is checked only with the MPI it was built for.
mpi4py_vendor=$("$py" -c "from mpi4py import MPI; print(MPI.get_vendor()[0])" 2>/dev/null || :)
launcher_vendor=MPICH
"${mpirun_cmd[0]}" --version 2>&1 | grep -q "Open MPI" && launcher_vendor="Open MPI"
if [ -n "$mpi4py_vendor" ] && [ "$mpi4py_vendor" != "$launcher_vendor" ]; then
  printf 'SKIP python mpi4py: mpi4py is built for %s, mpirun is %s\n' "$mpi4py_vendor" \
    "$launcher_vendor"
elif "$py" -c "import mpi4py, numpy" 2>/dev/null; then
  if MIMIC_LIBRARY=$build/libmimic.so PYTHONPATH=$root/python timeout 300 \
       "${mpirun_cmd[@]}" -np 2 "$py" "$root/examples/python/distributed_mpi4py.py" \
       > "$tmp/py.out" 2>&1; then
    if grep -q '^2 ranks:' "$tmp/py.out"; then
      ok "examples/python/distributed_mpi4py.py on 2 ranks: $(grep -m1 'relative' "$tmp/py.out")"
    else # two processes of one rank each: mpi4py's MPI is not mpirun's
      bad "python mpi4py" "the example did not run as 2 ranks (mpi4py built for another MPI than \
$(command -v mpirun)?): $(grep -m1 'ranks:' "$tmp/py.out")"
    fi
  else
    bad "python mpi4py" "$(tail -5 "$tmp/py.out")"
  fi
else
  bad "python mpi4py" "no mpi4py and NumPy for $py (apt-get install python3-mpi4py)"
fi

# ---- 5. the installed adapter, the two ways a project uses it ------------------------------
if [ -n "$prefix" ]; then
  if [ ! -f "$prefix/lib/libmimic_mpi.so" ] || [ ! -f "$prefix/include/mimic/mpi.h" ]; then
    bad "install" "$prefix lacks lib/libmimic_mpi.so or include/mimic/mpi.h"
  else
    c=$tmp/consumer
    mkdir -p "$c"
    # shellcheck disable=SC2046  # pkg-config's output is meant to be split
    if PKG_CONFIG_PATH=$prefix/lib/pkgconfig cc -std=c11 -Wall -Wextra -o "$c/pc" \
         "$here/consumer/consumer.c" $(PKG_CONFIG_PATH=$prefix/lib/pkgconfig \
         pkg-config --cflags --libs mimic-mpi) -Wl,-rpath,"$prefix/lib" > "$c/pc.log" 2>&1 &&
       timeout 120 "${mpirun_cmd[@]}" -np 2 "$c/pc" >> "$c/pc.log" 2>&1; then
      ok "a program built with pkg-config mimic-mpi runs on 2 ranks"
    else
      bad "pkg-config consumer" "$(tail -5 "$c/pc.log")"
    fi
    if cmake -S "$here/consumer" -B "$c/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
         > "$c/cmake.log" 2>&1 && cmake --build "$c/cmake" >> "$c/cmake.log" 2>&1 &&
       timeout 120 "${mpirun_cmd[@]}" -np 2 "$c/cmake/app" >> "$c/cmake.log" 2>&1; then
      ok "a program built with find_package(mimic 1 COMPONENTS mpi) runs on 2 ranks"
    else
      bad "cmake consumer" "$(tail -5 "$c/cmake.log")"
    fi
  fi
fi

echo "mpi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
