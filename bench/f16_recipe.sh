#!/usr/bin/env bash
# float16 against float32 teacher logits on the Fashion-MNIST recipe of scripts/demo.sh (the
# logit-regression student: 784-256b-4096-10 ReLU, 20 epochs, --standardize, --flip 0.5,
# loss l2), over several seeds: one student per seed and per logit type, test accuracy and
# agreement with the teacher, the paired differences and their mean.
#
#   bench/f16_recipe.sh [MIMIC] [SEEDS...]      (default: build/rel/mimic, seeds 1..10;
#                                               ~5 min per student on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
mimic=${1:-build/rel/mimic}
shift || true
seeds=${*:-1 2 3 4 5 6 7 8 9 10}
D=/usr/share/datasets/fashion-mnist
out=$(mktemp -d /tmp/mimic-f16.XXXXXX)
trap 'rm -rf "$out"' EXIT
/usr/bin/python3 -c "import numpy as np, sys; z = np.load(sys.argv[1]); np.save(sys.argv[2], z.astype(np.float16))
e = np.abs(z.astype(np.float16).astype(np.float32) - z); print('float16 rounding of the teacher logits: max abs %.2g, max rel %.2g' % (e.max(), (e / np.abs(z).clip(1e-3)).max()))" \
  data/teacher_train_logits.npy "$out/z16.npy"
ls -l data/teacher_train_logits.npy "$out/z16.npy" | awk '{print $5, $9}'
for seed in $seeds; do
  for kind in f16 f32; do
    z=data/teacher_train_logits.npy; [ "$kind" = f16 ] && z=$out/z16.npy
    "$mimic" train --inputs "$D/train-images-idx3-ubyte.gz" --logits "$z" \
      --labels "$D/train-labels-idx1-ubyte.gz" --hidden 4096 --bottleneck 256 --activation relu \
      --epochs 20 --standardize --seed "$seed" --flip 0.5 --loss l2 --quiet --out "$out/s.safetensors"
    "$mimic" eval --model "$out/s.safetensors" --inputs "$D/t10k-images-idx3-ubyte.gz" \
      --labels "$D/t10k-labels-idx1-ubyte.gz" --logits data/teacher_test_logits.npy --json \
      > "$out/$kind-$seed.json"
  done
done
/usr/bin/python3 - "$out" $seeds <<'PY'
import json, statistics as st, sys
out, seeds = sys.argv[1], sys.argv[2:]
acc = {k: [100 * json.load(open(f"{out}/{k}-{s}.json"))["accuracy"] for s in seeds] for k in ("f16", "f32")}
agr = {k: [100 * json.load(open(f"{out}/{k}-{s}.json"))["agreement"] for s in seeds] for k in ("f16", "f32")}
d = [a - b for a, b in zip(acc["f16"], acc["f32"])]
print("| seed | " + " | ".join(seeds) + " | mean | sd |")
print("|---" * (len(seeds) + 3) + "|")
for k in ("f32", "f16"):
    print(f"| {k} accuracy % | " + " | ".join(f"{x:.2f}" for x in acc[k]) + f" | {st.mean(acc[k]):.3f} | {st.stdev(acc[k]) if len(seeds) > 1 else 0:.3f} |")
print("| f16 - f32 | " + " | ".join(f"{x:+.2f}" for x in d) + f" | {st.mean(d):+.3f} | {st.stdev(d) if len(seeds) > 1 else 0:.3f} |")
print(f"agreement with the teacher: f32 {st.mean(agr['f32']):.2f} %, f16 {st.mean(agr['f16']):.2f} %")
PY
