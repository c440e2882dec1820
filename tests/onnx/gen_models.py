#!/usr/bin/python3
"""Export one student per activation x {bottleneck, none} x {normalization, none} x weights
{float32, float16, int8} (mimic_student_quantize) to ONNX, with random inputs and libmimic's
own logits (mimic_student_forward) as references.

usage: MIMIC_LIBRARY=.../libmimic.so gen_models.py OUTDIR
Writes OUTDIR/<name>.onnx, OUTDIR/<name>.b<batch>.input.f32 / .logits.f32 (raw
little-endian float32, row-major) and OUTDIR/manifest.json.
"""
import itertools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mimic_ctypes  # noqa: E402

D, K, H, C = 50, 8, 96, 7
BATCHES = (1, 257)


def main(out):
    os.makedirs(out, exist_ok=True)
    lib = mimic_ctypes.load()
    rng = np.random.default_rng(1234)
    models = []
    seed = 1
    combos = itertools.product(("float32", "float16", "int8"), ("relu", "sigmoid", "tanh"),
                               (K, 0), (True, False))
    for wd, act, k, norm in combos:
        name = f"{act}_k{k}_{'norm' if norm else 'raw'}"
        name += "" if wd == "float32" else "_" + wd
        s = mimic_ctypes.Student(lib, D, k, H, C, act, norm, seed)
        seed += 1
        if wd != "float32":
            s.quantize(wd)
        path = os.path.join(out, name + ".onnx")
        s.export(path)
        cases = []
        for b in BATCHES:
            x = rng.normal(0.5, 2.0, (b, D)).astype(np.float32)
            z = s.forward(x)
            stem = os.path.join(out, f"{name}.b{b}")
            x.astype("<f4").tofile(stem + ".input.f32")
            z.astype("<f4").tofile(stem + ".logits.f32")
            cases.append({"batch": b, "input": stem + ".input.f32",
                          "logits": stem + ".logits.f32"})
        s.free()
        models.append({"name": name, "path": path, "activation": act,
                       "n_inputs": D, "n_bottleneck": k, "n_hidden": H,
                       "n_classes": C, "normalized": norm, "weight_dtype": wd,
                       "cases": cases})
    manifest = {"version": lib.mimic_version_string().decode(), "models": models}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"generated {len(models)} models in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
