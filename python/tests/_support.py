"""Shared helpers for the mimic package tests (unittest style; pytest runs them too).

Importing this module makes `import mimic` work from a source checkout: when the package
is not installed, python/ (the parent of this directory) is put on sys.path. The library
itself is found the way the package always finds it (MIMIC_LIBRARY first).
"""

import json
import os
import struct
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)

try:
    import mimic  # noqa: F401
except ModuleNotFoundError as e:
    if e.name != "mimic":
        raise
    sys.path.insert(0, PYTHON_DIR)
    import mimic  # noqa: F401,E402


def include_dir():
    """The directory holding mimic.h: MIMIC_INCLUDE, else the source tree's include/."""
    return os.environ.get("MIMIC_INCLUDE") or os.path.join(REPO, "include")


class TempDir:
    """A temporary directory removed with everything in it (a context manager)."""

    def __enter__(self):
        self._td = tempfile.TemporaryDirectory(prefix="mimic-py-")
        return self._td.name

    def __exit__(self, *exc):
        self._td.cleanup()


def make_data(rows=256, d=12, c=4, seed=0, labels=True):
    """A small, learnable teacher: logits = tanh(x A) B + noise, labels = argmax."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, d)).astype(np.float32)
    a = rng.normal(size=(d, 16)) / np.sqrt(d)
    b = rng.normal(size=(16, c)) * 2.0
    t = (np.tanh(x @ a) @ b + 0.01 * rng.normal(size=(rows, c))).astype(np.float32)
    y = np.argmax(t, axis=1).astype(np.int32) if labels else None
    return x, t, y


def reference_forward(tensors, x, activation="relu"):
    """The student's forward pass in NumPy (float64) from Student.tensors()."""
    z = np.asarray(x, dtype=np.float64)
    if "input.mean" in tensors:
        z = (z - tensors["input.mean"]) * tensors["input.scale"]
    if "bottleneck.weight" in tensors:
        z = z @ tensors["bottleneck.weight"].astype(np.float64).T
    h = z @ tensors["hidden.weight"].astype(np.float64).T + tensors["hidden.bias"]
    if activation == "relu":
        h = np.maximum(h, 0.0)
    elif activation == "sigmoid":
        h = 1.0 / (1.0 + np.exp(-h))
    elif activation == "tanh":
        h = np.tanh(h)
    else:
        raise ValueError(activation)
    return h @ tensors["output.weight"].astype(np.float64).T + tensors["output.bias"]


def assert_close_rel(testcase, got, want, rel=1e-5):
    """|got - want| <= rel * (|want| + max|want|): relative to the values' scale."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    testcase.assertEqual(got.shape, want.shape)
    scale = max(float(np.max(np.abs(want))), 1e-30) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rel, atol=rel * scale)


def read_safetensors(path):
    """A minimal safetensors reader: (tensors dict of float32 arrays, metadata dict)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError("%s: dtype %s" % (name, info["dtype"]))
        begin, end = info["data_offsets"]
        a = np.frombuffer(data[begin:end], dtype="<f4").astype(np.float32)
        out[name] = a.reshape(info["shape"])
    return out, meta
