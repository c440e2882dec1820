#!/usr/bin/python3
"""PyTorch side of bench/onnx_latency: the students onnx_latency wrote (OUTDIR/models.txt,
OUTDIR/<name>.safetensors) as torch.nn modules, timed at batch 1 and 256 on the same inputs,
with torch.set_num_threads(THREADS), under torch.inference_mode().

usage: bench_torch.py OUTDIR THREADS ITERS
Prints  torch <name> <batch> <median_us> <p10_us> <p90_us>  (ITERS calls at batch 1,
max(20, ITERS / 50) at batch 256, after warm-up). float32 students: nn.Sequential(Linear...)
with the student's weights (logits checked against libmimic's, max-norm relative 1e-4).
int8 students: torch.ao.quantization.quantize_dynamic (int8 weights per tensor and int8
activations per batch, PyTorch's CPU engine: Debian's 1.13 has onednn and qnnpack) built from
the student's dequantized float32 weights; its logits are not bitwise comparable and are
only reported (torch-err). float16 students: no row (PyTorch has no fast CPU float16
Linear).
"""
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

TYPES = {"F32": np.float32, "F16": np.float16, "I8": np.int8}


def read_student(path):
    """The float32 tensors of a libmimic student (compact weights dequantized)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    raw = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        raw[name] = np.frombuffer(data[a:b], TYPES[e["dtype"]]).reshape(e["shape"])
    out = {}
    for name, a in raw.items():
        if name.endswith("_scale"):
            continue
        if a.dtype == np.int8:
            a = a.astype(np.float32) * raw[name + "_scale"][:, None]
        out[name] = np.ascontiguousarray(a, dtype=np.float32)
    return out


class Normalize(nn.Module):
    def __init__(self, mean, scale):
        super().__init__()
        self.mean = torch.from_numpy(mean)
        self.scale = torch.from_numpy(scale)

    def forward(self, x):
        return (x - self.mean) * self.scale


def linear(w, b=None):
    m = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    m.weight.data = torch.from_numpy(w)
    if b is not None:
        m.bias.data = torch.from_numpy(b)
    return m


def build(t):
    layers = []
    if "input.mean" in t:
        layers.append(Normalize(t["input.mean"], t["input.scale"]))
    if "bottleneck.weight" in t:
        layers.append(linear(t["bottleneck.weight"]))
    layers += [linear(t["hidden.weight"], t["hidden.bias"]), nn.ReLU(),
               linear(t["output.weight"], t["output.bias"])]
    return nn.Sequential(*layers).eval()


def timed(model, x, n):
    with torch.inference_mode():
        for _ in range(n // 10 + 5):
            model(x)
        t = np.empty(n)
        for i in range(n):
            t0 = time.perf_counter()
            model(x)
            t[i] = (time.perf_counter() - t0) * 1e6
    t.sort()
    return f"{t[n // 2]:.1f} {t[n // 10]:.1f} {t[n * 9 // 10]:.1f}"


def main(out, threads, iters):
    torch.set_num_threads(threads)
    for line in open(os.path.join(out, "models.txt")):
        name, D, C, dtype = line.split()
        D, C = int(D), int(C)
        if dtype == "float16":
            continue
        model = build(read_student(os.path.join(out, name + ".safetensors")))
        if dtype == "int8":
            engines = torch.backends.quantized.supported_engines
            torch.backends.quantized.engine = "onednn" if "onednn" in engines else engines[0]
            model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
        for b in (1, 256):
            stem = os.path.join(out, f"{name}.b{b}")
            x = torch.from_numpy(np.fromfile(stem + ".input.f32", "<f4").reshape(b, D))
            ref = np.fromfile(stem + ".logits.f32", "<f4").reshape(b, C)
            with torch.inference_mode():
                y = model(x).numpy()
            err = np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-30)
            if dtype == "float32" and not err <= 1e-4:
                raise SystemExit(f"bench_torch: {name} b{b}: PyTorch differs from libmimic ({err})")
            n = iters if b == 1 else max(20, iters // 50)
            print(f"torch {name} {b} {timed(model, x, n)}", flush=True)
            if dtype != "float32":
                print(f"# torch-err {name} {b} {err:.3g}", flush=True)
    print(f"# torch {torch.__version__}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
