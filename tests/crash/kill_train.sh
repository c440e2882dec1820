#!/usr/bin/env bash
# Crash safety of training checkpoints: kill `mimic train --checkpoint ... --resume` with
# SIGKILL at random moments, many times, and check that
#   - a checkpoint left on disk is always a whole, well-formed file (never torn) that
#     `--resume` accepts (a checkpoint that fails to load makes mimic train exit non-zero),
#   - temporary files of interrupted writes (<path>.tmp.XXXXXX) are never taken for the
#     checkpoint or the model, and the model file, when present, is always complete,
#   - resuming until the run finishes gives a model byte-identical to an uninterrupted run
#     with the same seed and --threads 1.
#
#   tests/crash/kill_train.sh [MIMIC_BINARY] [KILLS] [SEED]
# MIMIC_BINARY defaults to the first executable build*/mimic or build*/*/mimic in the
# repository; KILLS (default 50) is the number of SIGKILLs that hit a running process;
# SEED (default 1) seeds the random kill times, so a failure can be replayed.
# Runs in about a minute; exits non-zero on the first violation.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
mimic=${1:-}
kills_wanted=${2:-50}
seed=${3:-1}
py=/usr/bin/python3

if [ -z "$mimic" ]; then
  for c in "$root"/build*/mimic "$root"/build*/*/mimic; do
    if [ -x "$c" ] && [ -f "$c" ]; then mimic=$c; break; fi
  done
fi
if [ -z "$mimic" ] || [ ! -x "$mimic" ]; then
  echo "kill_train.sh: no mimic binary (build the CLI, or pass its path)" >&2
  exit 2
fi

mimic=$(cd "$(dirname "$mimic")" && pwd)/$(basename "$mimic")
work=$(mktemp -d "${TMPDIR:-/tmp}/mimic-kill.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 2
export OPENBLAS_NUM_THREADS=1

fail() {
  echo "kill_train.sh: FAIL: $*" >&2
  echo "  (replay: $0 $mimic $kills_wanted $seed)" >&2
  exit 1
}

# A small dataset: a few hundred milliseconds per full run, one checkpoint per epoch.
"$py" - <<'PY' || fail "cannot generate the dataset"
import numpy as np
r = np.random.default_rng(0)
N, D, C = 4000, 64, 10
x = r.standard_normal((N, D)).astype("<f4")
w = r.standard_normal((D, C)).astype("<f4")
np.save("x.npy", x)
np.save("z.npy", (np.tanh(x @ w / 4) * 3).astype("<f4"))
PY

train_args=(train --inputs x.npy --logits z.npy --loss l2 --hidden 128 --bottleneck 16
            --epochs 12 --batch 64 --optimizer adam --standardize --seed 3 --threads 1 --quiet)

# The checker: a checkpoint (or model) must be a complete safetensors file: header length,
# JSON header, tensors tiling the data section exactly, file size matching, and the format
# named in the metadata.
check_st() { # FILE FORMAT
  "$py" - "$1" "$2" <<'PY'
import json, struct, sys
path, fmt = sys.argv[1], sys.argv[2]
b = open(path, "rb").read()
if len(b) < 8:
    sys.exit("%s: %d bytes, truncated" % (path, len(b)))
n = struct.unpack("<Q", b[:8])[0]
if 8 + n > len(b):
    sys.exit("%s: header length %d past the end" % (path, n))
h = json.loads(b[8:8 + n])
meta = h.pop("__metadata__", {})
if meta.get("format") != fmt:
    sys.exit("%s: format %r, want %r" % (path, meta.get("format"), fmt))
spans = sorted(tuple(t["data_offsets"]) for t in h.values())
end = 0
for a, z in spans:
    if a != end:
        sys.exit("%s: tensors do not tile the data (gap or overlap at %d)" % (path, a))
    end = z
if 8 + n + end != len(b):
    sys.exit("%s: %d bytes, header says %d" % (path, len(b), 8 + n + end))
PY
}

echo "== reference run ($mimic)"
start=$(date +%s%N)
"$mimic" "${train_args[@]}" --checkpoint ref.ckpt --out ref.safetensors || fail "reference run failed"
ref_ms=$(( ($(date +%s%N) - start) / 1000000 ))
check_st ref.ckpt mimic-trainer-checkpoint || fail "reference checkpoint malformed"
check_st ref.safetensors libmimic-student || fail "reference model malformed"
# Checkpointing must not change the result.
"$mimic" "${train_args[@]}" --out ref2.safetensors || fail "run without checkpoint failed"
cmp -s ref.safetensors ref2.safetensors || fail "a run without --checkpoint gives another model"
echo "   uninterrupted run: ${ref_ms} ms"

RANDOM=$seed
kills=0 chains=0 misses=0 temps=0 ckpts_seen=0
while [ "$kills" -lt "$kills_wanted" ]; do
  chains=$((chains + 1))
  rm -f run.ckpt* out.safetensors*
  # 1 to 4 kills in a row, each resuming from what the previous one left.
  per_chain=$((1 + RANDOM % 4))
  for ((k = 0; k < per_chain && kills < kills_wanted; k++)); do
    delay_ms=$((RANDOM % (ref_ms * 2 / 3 + 20)))
    "$mimic" "${train_args[@]}" --checkpoint run.ckpt --resume --out out.safetensors \
      >run.log 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    if kill -KILL "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null
      st=$?
      if [ "$st" -eq 137 ]; then
        kills=$((kills + 1))
      else
        # It ended on its own just before the signal: it must have succeeded.
        [ "$st" -eq 0 ] || { cat run.log >&2; fail "chain $chains: run exited with $st"; }
        misses=$((misses + 1))
      fi
    else
      wait "$pid" 2>/dev/null
      st=$?
      [ "$st" -eq 0 ] || { cat run.log >&2; fail "chain $chains: run exited with $st"; }
      misses=$((misses + 1))
    fi
    # What is on disk now must be whole.
    if [ -e run.ckpt ]; then
      ckpts_seen=$((ckpts_seen + 1))
      check_st run.ckpt mimic-trainer-checkpoint ||
        fail "chain $chains, kill at ${delay_ms} ms: torn checkpoint"
    fi
    if [ -e out.safetensors ]; then
      cmp -s out.safetensors ref.safetensors ||
        fail "chain $chains, kill at ${delay_ms} ms: model file present but not the final one"
    fi
    n_tmp=$(ls -1 | grep -c '\.tmp\.' || true)
    temps=$((temps + n_tmp))
  done
  # Resume to the end: must load whatever checkpoint is there and finish identically.
  "$mimic" "${train_args[@]}" --checkpoint run.ckpt --resume --out out.safetensors \
    >run.log 2>&1 || { cat run.log >&2; fail "chain $chains: --resume failed"; }
  cmp -s out.safetensors ref.safetensors ||
    fail "chain $chains: resumed model differs from the uninterrupted run"
  # The leftover temporary files were not picked up: the checkpoint is the real one.
  check_st run.ckpt mimic-trainer-checkpoint || fail "chain $chains: final checkpoint malformed"
done
echo "== $kills SIGKILLs in $chains chains ($misses runs finished before the signal)," \
     "$ckpts_seen checkpoints checked, $temps leftover temporary files seen: all runs resumed" \
     "to the reference model"
exit 0
