#!/usr/bin/python3
"""Build the Fashion-MNIST .npy files the study and the demo train on.

Writes into OUT (default out/data):
  train_x.npy (60000 x 784 u8), train_y.npy (i4), train_z.npy (teacher logits, f4)
  test_x.npy, test_y.npy, test_z.npy (10000 rows)
  transfer_x.npy (240000 x 784 u8), transfer_y.npy (labels of the source images), transfer_z.npy
  big_x.npy / big_y.npy / big_z.npy: train + transfer (300000 rows)
  dev_*.npy: big without the last 5000 training images and their transfer variants (275000
    rows); holdout_*.npy: those 5000 images, for choosing settings without the test set
  flip_x.npy / flip_y.npy / flip_z.npy: big + every big image mirrored left-right (600000
    rows). The mirrored rows BORROW the logits of the image they were mirrored from: the
    teacher has no logits for them, but it was trained with random flips, and its logits move
    by only 0.29-0.59 RMS between the shifted/mirrored variants it did see (mean |logit| ~ 2.4)
The transfer images are rebuilt exactly as data/README.md describes (shift, fill 0, then
mirror) and checked against the pixel sums it gives. Idempotent: existing outputs are kept.
"""
import gzip
import os
import sys

import numpy as np

SRC = "/usr/share/datasets/fashion-mnist"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
VARIANTS = [(0, 2, False), (-2, 0, True), (-1, 1, False), (2, 2, True)]  # (dy, dx, mirror)
EXPECTED_SUMS = {0: 3382617832, 1: 3337445575}
HOLDOUT = 5000


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def shift(images, dy, dx):
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = images[:, ys, xs]
    return out


def save(out, name, arr):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        tmp = path + ".tmp.npy"
        np.save(tmp, arr)
        os.replace(tmp, path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "out", "data")
    os.makedirs(out, exist_ok=True)
    names = [f"{p}_{k}.npy" for p in ("train", "test", "transfer", "big", "flip", "dev", "holdout") for k in "xyz"]
    if all(os.path.exists(os.path.join(out, n)) for n in names):
        print(f"data in {out}: up to date")
        return
    tr_x = read_idx(os.path.join(SRC, "train-images-idx3-ubyte.gz"))
    tr_y = read_idx(os.path.join(SRC, "train-labels-idx1-ubyte.gz")).astype(np.int32)
    te_x = read_idx(os.path.join(SRC, "t10k-images-idx3-ubyte.gz"))
    te_y = read_idx(os.path.join(SRC, "t10k-labels-idx1-ubyte.gz")).astype(np.int32)
    tr_z = np.load(os.path.join(ROOT, "data", "teacher_train_logits.npy"))
    te_z = np.load(os.path.join(ROOT, "data", "teacher_test_logits.npy"))
    tf_z = np.load(os.path.join(ROOT, "data", "teacher_transfer_logits.npy"))

    variants = []
    for v, (dy, dx, mirror) in enumerate(VARIANTS):
        img = shift(tr_x, dy, dx)
        if mirror:
            img = img[:, :, ::-1]
        if v in EXPECTED_SUMS:
            total = int(img.sum(dtype=np.int64))
            if total != EXPECTED_SUMS[v]:
                sys.exit(f"variant {v}: pixel sum {total}, expected {EXPECTED_SUMS[v]}")
        variants.append(np.ascontiguousarray(img.reshape(-1, 784)))
    tf_x = np.concatenate(variants)
    tf_y = np.tile(tr_y, len(VARIANTS))

    flat_tr = tr_x.reshape(-1, 784)
    save(out, "train_x.npy", flat_tr)
    save(out, "train_y.npy", tr_y)
    save(out, "train_z.npy", tr_z)
    save(out, "test_x.npy", te_x.reshape(-1, 784))
    save(out, "test_y.npy", te_y)
    save(out, "test_z.npy", te_z)
    save(out, "transfer_x.npy", tf_x)
    save(out, "transfer_y.npy", tf_y)
    save(out, "transfer_z.npy", tf_z)
    save(out, "big_x.npy", np.concatenate([flat_tr, tf_x]))
    save(out, "big_y.npy", np.concatenate([tr_y, tf_y]))
    save(out, "big_z.npy", np.concatenate([tr_z, tf_z]))
    big_x = np.concatenate([flat_tr, tf_x])
    save(out, "flip_x.npy", np.concatenate([big_x, big_x.reshape(-1, 28, 28)[:, :, ::-1].reshape(-1, 784)]))
    save(out, "flip_y.npy", np.tile(np.concatenate([tr_y, tf_y]), 2))
    save(out, "flip_z.npy", np.tile(np.concatenate([tr_z, tf_z]), (2, 1)))
    # a validation split for choosing settings without the test set: the last HOLDOUT training
    # images (as they are) for validation, the other images and their transfer variants for
    # training ("dev", 5 x 55000 rows)
    keep = np.ones(len(big_x), bool)
    for v in range(1 + len(VARIANTS)):
        keep[v * 60000 + 60000 - HOLDOUT:(v + 1) * 60000] = False
    save(out, "dev_x.npy", big_x[keep])
    save(out, "dev_y.npy", np.concatenate([tr_y, tf_y])[keep])
    save(out, "dev_z.npy", np.concatenate([tr_z, tf_z])[keep])
    save(out, "holdout_x.npy", flat_tr[-HOLDOUT:])
    save(out, "holdout_y.npy", tr_y[-HOLDOUT:])
    save(out, "holdout_z.npy", tr_z[-HOLDOUT:])
    print(f"data in {out}: train 60000, transfer {len(tf_x)}, test 10000 rows")


if __name__ == "__main__":
    main()
