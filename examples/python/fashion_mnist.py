#!/usr/bin/python3
"""Train a shallow student on a deep teacher's Fashion-MNIST logits and compare test
accuracies.

  /usr/bin/python3 examples/python/fashion_mnist.py          # with the package installed
  MIMIC_LIBRARY=build/rel/libmimic.so PYTHONPATH=python /usr/bin/python3 \
      examples/python/fashion_mnist.py                       # in place, after the README's build

Images: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, IDX, gzipped).
Teacher logits: data/teacher_{train,test}_logits.npy (a ResNet ensemble, see data/README.md).
The student never sees a label: it regresses on the teacher's logits (loss="l2").
"""

import argparse
import gzip
import os

import numpy as np

import mimic

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data")


def read_idx(path):
    """An IDX file (gzipped) as a NumPy array: uint8 images flattened to rows, or labels."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = np.frombuffer(raw, ">u4", count=ndim, offset=4)
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    return data.reshape(int(shape[0]), -1) if ndim > 1 else data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--bottleneck", type=int, default=64)
    args = ap.parse_args()

    x_train = read_idx(os.path.join(args.images, "train-images-idx3-ubyte.gz"))  # 60000 x 784 u8
    x_test = read_idx(os.path.join(args.images, "t10k-images-idx3-ubyte.gz"))
    y_test = read_idx(os.path.join(args.images, "t10k-labels-idx1-ubyte.gz"))
    t_train = np.load(os.path.join(DATA, "teacher_train_logits.npy"))
    t_test = np.load(os.path.join(DATA, "teacher_test_logits.npy"))

    train = mimic.Dataset(x_train, t_train)                # zero-copy, uint8 stays uint8
    test = mimic.Dataset(x_test, t_test, y_test)
    student = mimic.Student(784, args.hidden, 10, bottleneck=args.bottleneck, seed=1)
    print(student)
    criterion = mimic.criterion("l2")  # what validation_loss is: the test set's logit_l2
    student.fit(train, loss="l2", epochs=args.epochs, standardize=True, validation=test,
                progress=lambda r: print("epoch %d  loss %.4f  test %s %.4f  test accuracy "
                                         "%.4f  (%.1f s)"
                                         % (r["epoch"], r["train_loss"], criterion,
                                            r["validation_loss"], r["validation"]["accuracy"],
                                            r["elapsed_s"])))

    m = student.evaluate(test)
    teacher_acc = float(np.mean(np.argmax(t_test, axis=1) == y_test))
    print("test accuracy: student %.2f%%, teacher %.2f%% (agreement %.2f%%, %d parameters)"
          % (100 * m["accuracy"], 100 * teacher_acc, 100 * m["agreement"], student.n_params))


if __name__ == "__main__":
    main()
