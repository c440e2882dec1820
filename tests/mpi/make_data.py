"""Data for the MPI end-to-end tests (tests/mpi/run.sh): a small image-like transfer set
whose teacher is a fixed random two-layer network, as .npy files in DIR.

  /usr/bin/python3 tests/mpi/make_data.py DIR

x.npy (uint8, ROWS x 64: 8 x 8 images), z.npy (teacher logits, float32), y.npy (labels,
int32); xv/zv/yv.npy the validation set; xf.npy the training inputs as float32 (x / 255)
and xf_nan.npy the same with a NaN in row 1 (a row the data fingerprint does not sample:
only the rank that reads it can tell). Deterministic."""
import os
import sys

import numpy as np

ROWS, VALID, SIDE, CLASSES = 2400, 300, 8, 10


def teacher(x, rng):
    w1 = rng.standard_normal((x.shape[1], 32)) / np.sqrt(x.shape[1])
    w2 = rng.standard_normal((32, CLASSES)) / np.sqrt(32)
    h = np.maximum(0.0, (x / 255.0 - 0.5) @ w1)
    return (3.0 * h @ w2).astype(np.float32)


def main(out):
    rng = np.random.default_rng(20240601)
    # smooth "images": a blurred random field, so flips and shifts keep something of a class
    x = rng.integers(0, 256, size=(ROWS + VALID, SIDE, SIDE)).astype(np.float64)
    x = (x + np.roll(x, 1, axis=1) + np.roll(x, 1, axis=2)) / 3.0
    x = x.reshape(ROWS + VALID, SIDE * SIDE).round().astype(np.uint8)
    z = teacher(x.astype(np.float64), np.random.default_rng(7))
    y = z.argmax(axis=1).astype(np.int32)
    files = {"x": x[:ROWS], "z": z[:ROWS], "y": y[:ROWS],
             "xv": x[ROWS:], "zv": z[ROWS:], "yv": y[ROWS:]}
    xf = (x[:ROWS] / np.float32(255.0)).astype(np.float32)
    files["xf"] = xf
    bad = xf.copy()
    bad[1, 3] = np.nan
    files["xf_nan"] = bad
    os.makedirs(out, exist_ok=True)
    for name, a in files.items():
        np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(a))


if __name__ == "__main__":
    main(sys.argv[1])
