#!/usr/bin/python3
"""Train a small PyTorch CNN teacher on Fashion-MNIST, label an augmented transfer set with
it, train a shallow student on that set with libmimic, and compare test accuracies.

  /usr/bin/python3 examples/python/transfer_set.py          # with the package installed
  MIMIC_LIBRARY=build/rel/libmimic.so PYTHONPATH=python /usr/bin/python3 \
      examples/python/transfer_set.py                       # in place, after the README's build

1. teacher: a two-layer CNN trained for --teacher-epochs on --train-rows training images;
   saved to OUT/teacher-*.pt, and loaded from there by a rerun with the same settings;
2. transfer set: --rows augmented copies of the training images (mimic.transfer.images:
   flips, shifts, rotations, zooms, mixup), labelled by the teacher in float16 into
   OUT/set (mimic.label: shards and a manifest; a rerun resumes an interrupted labelling);
3. student: 784-Bb-H-10 trained on the manifest by logit regression (loss "l2"), never
   seeing a label.

Images: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, IDX, gzipped).
Needs PyTorch (Debian: python3-torch). About 4 minutes with the defaults on 2 cores.
"""

import argparse
import os
import sys
import time

import numpy as np

import mimic
from fashion_mnist import read_idx

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def load_data(directory, train_rows, test_rows):
    """(x_train N x 1 x 28 x 28 uint8, y_train, x_test, y_test), or exit with a message."""
    missing = [f for f in FILES if not os.path.exists(os.path.join(directory, f))]
    if missing:
        sys.exit("transfer_set.py: Fashion-MNIST is not in %s (missing %s): install Debian's "
                 "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass "
                 "--images DIR" % (directory, ", ".join(missing)))
    x, y, xt, yt = (read_idx(os.path.join(directory, f)) for f in FILES)
    return (x[:train_rows].reshape(-1, 1, 28, 28), y[:train_rows],
            xt[:test_rows].reshape(-1, 1, 28, 28), yt[:test_rows])


def make_teacher(torch):
    nn = torch.nn

    class Teacher(nn.Module):
        """conv 3x3 (16) - pool - conv 3x3 (32) - pool - 128 - 10, on uint8 images."""

        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))

        def forward(self, x):
            return self.net(x.float() / 255.0)

    return Teacher()


def train_teacher(torch, model, x, y, epochs, seed):
    """Adam, batch 128, random left-right flips; `epochs` may be fractional."""
    g = torch.Generator().manual_seed(seed)
    xs, ys = torch.tensor(x), torch.tensor(y.astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    per_epoch = max(1, len(x) // 128)
    steps = max(1, round(epochs * per_epoch))
    model.train()
    t0 = time.time()
    for step in range(steps):
        if step % per_epoch == 0:
            order = torch.randperm(len(x), generator=g)
        at = order[step % per_epoch * 128:][:128]
        xb = xs[at]
        flip = torch.rand(len(at), generator=g) < 0.5
        xb[flip] = xb[flip].flip(-1)
        loss = torch.nn.functional.cross_entropy(model(xb), ys[at])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            print("teacher: step %d/%d  loss %.3f  (%.0f s)" % (step + 1, steps, loss.item(),
                                                                  time.time() - t0))
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default="out/transfer_set", help="the teacher and the set")
    ap.add_argument("--rows", type=int, default=200000, help="transfer set rows")
    ap.add_argument("--epochs", type=int, default=4, help="student epochs")
    ap.add_argument("--teacher-epochs", type=float, default=2.0)
    ap.add_argument("--train-rows", type=int, default=60000)
    ap.add_argument("--test-rows", type=int, default=10000)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--bottleneck", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    try:
        import torch
    except ImportError:
        sys.exit("transfer_set.py: needs PyTorch for the teacher (Debian: apt-get install "
                 "python3-torch)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x, y, x_test, y_test = load_data(args.images, args.train_rows, args.test_rows)
    os.makedirs(args.out, exist_ok=True)

    # 1. the teacher, trained once per setting
    teacher = make_teacher(torch)
    saved = os.path.join(args.out, "teacher-n%d-e%g-s%d.pt" % (len(x), args.teacher_epochs,
                                                              args.seed))
    fresh = not os.path.exists(saved)
    if fresh:
        train_teacher(torch, teacher, x, y, args.teacher_epochs, args.seed)
        torch.save(teacher.state_dict(), saved + ".tmp")
        os.replace(saved + ".tmp", saved)
    else:
        teacher.load_state_dict(torch.load(saved))
        print("teacher: loaded %s" % saved)
    teacher.eval()
    with torch.no_grad():
        t_test = teacher(torch.tensor(x_test)).numpy()

    # 2. the transfer set: augmented copies, labelled in float16 (a new teacher: a new set)
    inputs = mimic.transfer.images(x, args.rows, seed=args.seed, flip=0.5, shift=2,
                                   rotate=10, scale=0.1, mixup=0.2)
    result = mimic.label(teacher, inputs, os.path.join(args.out, "set"), batch_size=512,
                         dtype="float16", overwrite=fresh)

    # 3. the student, on the manifest
    train = mimic.Dataset.load_manifest(result)
    test = mimic.Dataset(x_test.reshape(len(x_test), -1), t_test, y_test)
    student = mimic.Student(784, args.hidden, 10, bottleneck=args.bottleneck, seed=args.seed)
    print("%s on %s" % (student, train))
    student.fit(train, loss="l2", epochs=args.epochs, standardize=True, validation=test,
                threads=args.threads,
                progress=lambda r: print("student: epoch %d  loss %.4f  test accuracy %.4f  "
                                         "(%.1f s)" % (r["epoch"], r["train_loss"],
                                                       r["validation"]["accuracy"],
                                                       r["elapsed_s"])))
    m = student.evaluate(test)
    teacher_acc = float(np.mean(np.argmax(t_test, axis=1) == y_test))
    print("test accuracy: student %.2f%%, teacher %.2f%% (agreement %.2f%%; %d transfer rows, "
          "%d student parameters)" % (100 * m["accuracy"], 100 * teacher_acc,
                                      100 * m["agreement"], len(train), student.n_params))


if __name__ == "__main__":
    main()
