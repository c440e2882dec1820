#!/usr/bin/python3
"""Validate libmimic's ONNX exports with the onnx package (Debian's python3-onnx).

usage: check_models.py OUTDIR/manifest.json
For every model: onnx.checker.check_model(full_check=True) (which also runs strict shape
inference), the header fields (IR version, opset 13, producer), the metadata, the graph's
input/output signature with the symbolic batch dimension, the expected operator sequence,
and the logits of an independent NumPy (float64) evaluation of the graph's initializers
against libmimic's reference logits (max-norm relative error <= 1e-5). Compact students
(float16, int8 weights) keep their weights compact in the file: a FLOAT16 initializer and a
Cast to float, or an INT8 initializer with per-row float scales and DequantizeLinear
(axis 0), before each Gemm; NumPy dequantizes them the way ONNX defines it.
"""
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper

TOL = 1e-5
ACT_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
ACT_FNS = {"relu": lambda v: np.maximum(v, 0.0),
           "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
           "tanh": np.tanh}


def fail(name, msg):
    raise SystemExit(f"FAIL {name}: {msg}")


def signature(vi):
    t = vi.type.tensor_type
    dims = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in t.shape.dim]
    return vi.name, t.elem_type, dims


def check_one(m, version):
    name = m["name"]
    model = onnx.load(m["path"])
    onnx.checker.check_model(model, full_check=True)
    if model.ir_version < 7:
        fail(name, f"ir_version {model.ir_version}")
    opsets = [(o.domain, o.version) for o in model.opset_import]
    if opsets != [("", 13)]:
        fail(name, f"opset_import {opsets}")
    if (model.producer_name, model.producer_version) != ("libmimic", version):
        fail(name, f"producer {model.producer_name} {model.producer_version}")
    meta = {p.key: p.value for p in model.metadata_props}
    wd = m.get("weight_dtype", "float32")
    want = {"n_inputs": str(m["n_inputs"]), "n_hidden": str(m["n_hidden"]),
            "n_bottleneck": str(m["n_bottleneck"]), "n_classes": str(m["n_classes"]),
            "activation": m["activation"]}
    if wd != "float32":
        want["weight_dtype"] = wd
    if meta != want:
        fail(name, f"metadata {meta} != {want}")
    g = model.graph
    f32 = onnx.TensorProto.FLOAT
    if [signature(v) for v in g.input] != [("input", f32, ["batch", m["n_inputs"]])]:
        fail(name, f"inputs {[signature(v) for v in g.input]}")
    if [signature(v) for v in g.output] != [("logits", f32, ["batch", m["n_classes"]])]:
        fail(name, f"outputs {[signature(v) for v in g.output]}")
    deq = {"float32": [], "float16": ["Cast"], "int8": ["DequantizeLinear"]}[wd]
    ops = (["Sub", "Mul"] if m["normalized"] else []) + (deq + ["Gemm"] if m["n_bottleneck"] else [])
    ops += deq + ["Gemm", ACT_OPS[m["activation"]]] + deq + ["Gemm"]
    if [n.op_type for n in g.node] != ops:
        fail(name, f"operators {[n.op_type for n in g.node]} != {ops}")
    want_attrs = {"Gemm": {"transB": 1}, "Cast": {"to": f32}, "DequantizeLinear": {"axis": 0}}
    for n in g.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if attrs != want_attrs.get(n.op_type, {}):
            fail(name, f"{n.op_type} attributes {attrs}")
    types = {"float32": onnx.TensorProto.FLOAT, "float16": onnx.TensorProto.FLOAT16,
             "int8": onnx.TensorProto.INT8}
    raw = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for t in g.initializer:
        weight = t.name.endswith(".weight")
        if t.data_type != (types[wd] if weight else f32) or not t.raw_data:
            fail(name, f"initializer {t.name}: type {t.data_type}, raw_data {len(t.raw_data)} bytes")
    w = {}
    for key, a in raw.items():
        if key.endswith(".weight") and wd == "int8":  # DequantizeLinear: (q - 0) * scale
            a = (a.astype(np.float32) * raw[key + "_scale"][:, None]).astype(np.float32)
        w[key] = a.astype(np.float64)
    for case in m["cases"]:
        x = np.fromfile(case["input"], "<f4").reshape(case["batch"], m["n_inputs"])
        ref = np.fromfile(case["logits"], "<f4").reshape(case["batch"], m["n_classes"])
        v = x.astype(np.float64)
        if m["normalized"]:
            v = (v - w["input.mean"]) * w["input.scale"]
        if m["n_bottleneck"]:
            v = v @ w["bottleneck.weight"].T
        v = ACT_FNS[m["activation"]](v @ w["hidden.weight"].T + w["hidden.bias"])
        v = v @ w["output.weight"].T + w["output.bias"]
        err = np.max(np.abs(v - ref)) / max(np.max(np.abs(v)), 1e-30)
        if not err <= TOL:
            fail(name, f"batch {case['batch']}: NumPy vs libmimic relative error {err:.3g}")
    print(f"ok   {name}: checker(full_check) passed, NumPy evaluation matches")


def main(path):
    with open(path) as f:
        manifest = json.load(f)
    for m in manifest["models"]:
        check_one(m, manifest["version"])
    print(f"onnx {onnx.__version__}: {len(manifest['models'])} models valid")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
