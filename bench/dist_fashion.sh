#!/usr/bin/env bash
# The Fashion-MNIST recipe (scripts/demo.sh: 784-256b-4096-10 ReLU, batch 128, Adam 0.001,
# cosine, standardized inputs, --flip 0.5, seed 1) trained by one process and by
# `mpirun -np N` ranks, the same global batch: test accuracy and agreement of each, and the
# largest relative difference of their weights (docs/SCALING.md).
#
#   bash bench/dist_fashion.sh BUILD_DIR [EPOCHS] [N] [LOSS]     (defaults: 20, 2, l2)
#
# BUILD_DIR has an MPI build of the CLI (BUILD_DIR/mimic linked with libmimic_mpi). One
# process runs with --threads N, each rank with --threads 1 (the same cores).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "$1" && pwd)
epochs=${2:-20}
n=${3:-2}
loss=${4:-l2}
mimic=$build/mimic
data=/usr/share/datasets/fashion-mnist
out=$(mktemp -d "${TMPDIR:-/tmp}/mimic_dist_fashion_XXXXXX")
trap 'rm -rf "$out"' EXIT
mpirun_cmd=(mpirun)
if mpirun --version 2>&1 | grep -q "Open MPI"; then
  mpirun_cmd+=(--oversubscribe)
  [ "$(id -u)" -ne 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
train=(--inputs "$data/train-images-idx3-ubyte.gz" --logits "$root/data/teacher_train_logits.npy"
       --labels "$data/train-labels-idx1-ubyte.gz")
test=(--inputs "$data/t10k-images-idx3-ubyte.gz" --logits "$root/data/teacher_test_logits.npy"
      --labels "$data/t10k-labels-idx1-ubyte.gz")
recipe=(--hidden 4096 --bottleneck 256 --activation relu --epochs "$epochs" --standardize
        --seed 1 --flip 0.5 --loss "$loss" --quiet)
[ "$loss" != kd ] || recipe+=(--temperature 2)

t0=$SECONDS
"$mimic" train "${train[@]}" "${recipe[@]}" --threads "$n" --out "$out/one.safetensors"
t1=$SECONDS
"${mpirun_cmd[@]}" -np "$n" "$mimic" train "${train[@]}" "${recipe[@]}" --threads 1 \
  --out "$out/ranks.safetensors"
t2=$SECONDS
for who in one ranks; do
  "$mimic" eval --model "$out/$who.safetensors" "${test[@]}" --temperature 2 --json \
    > "$out/$who.json"
done
MIMIC_LIBRARY=$build/libmimic.so PYTHONPATH=$root/python /usr/bin/python3 - "$out" "$n" \
  "$epochs" "$loss" $((t1 - t0)) $((t2 - t1)) <<'PY'
import json, sys
import numpy as np
import mimic
out, n, epochs, loss, s1, s2 = sys.argv[1:]
a, b = (mimic.Student.load(out + "/%s.safetensors" % w).tensors() for w in ("one", "ranks"))
rel = max(float(np.abs(a[k] - b[k]).max() / np.abs(a[k]).max()) for k in a)
m1, m2 = (json.load(open(out + "/%s.json" % w)) for w in ("one", "ranks"))
print("Fashion-MNIST, --loss %s, %s epochs: 1 process (--threads %s, %s s): test accuracy "
      "%.2f%%, agreement %.2f%%; %s ranks (--threads 1, %s s): %.2f%%, %.2f%%; accuracy "
      "difference %.2f points; weights: largest relative difference %.3g"
      % (loss, epochs, n, s1, 100 * m1["accuracy"], 100 * m1["agreement"], n, s2,
         100 * m2["accuracy"], 100 * m2["agreement"],
         100 * abs(m1["accuracy"] - m2["accuracy"]), rel))
PY
