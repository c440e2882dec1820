"""How far apart N ranks and one process drift on the Fashion-MNIST recipe, step by step,
next to how far one process drifts from itself with another BLAS thread count: both are the
order of float sums, amplified by training (docs/SCALING.md).

    mpirun -np 2 --bind-to none python3 bench/dist_drift.py [STEPS...]   (default 1 10 100 469)

Every rank trains the recipe's student (784-256b-4096-10 ReLU, batch 128, cosine,
standardized, flips, seed 1; L2) through mimic.Collective for the largest STEPS, with Adam
(the recipe) and with SGD (momentum 0.9, lr 0.001); rank 0 then trains it alone with 1 and
with 2 BLAS threads. Prints, at each step count, the largest relative difference
(max |a - b| / max |a| over the tensors) of the ranks' weights and of the 2-thread process's
from the 1-thread process's. Leave OPENBLAS_NUM_THREADS unset (it would cap the threads).
"""
import ctypes
import ctypes.util
import gzip
import os
import sys

import numpy as np
from mpi4py import MPI

import mimic

DATA = "/usr/share/datasets/fashion-mnist"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def blas_threads(n):
    """OpenBLAS's thread count for the step-wise trainer (options.threads is mimic_train's)."""
    ctypes.CDLL(ctypes.util.find_library("openblas")).openblas_set_num_threads(n)


def weights_at(student, train, steps, threads=1, **options):
    """Tensors after each step count in `steps` of a Trainer over `train`."""
    out = {}
    blas_threads(threads)
    with mimic.Trainer(student, train, **options) as t:
        for k in range(1, max(steps) + 1):
            t.step()
            if k in steps:
                out[k] = {n: student.tensor(n).copy() for n in student.tensors()}
    return out


def rel(a, b):
    return max(float(np.abs(a[n] - b[n]).max() / np.abs(a[n]).max()) for n in a)


def main():
    steps = sorted(int(s) for s in sys.argv[1:]) or [1, 10, 100, 469]
    comm = MPI.COMM_WORLD
    x = idx(os.path.join(DATA, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 784)
    z = np.load(os.path.join(ROOT, "data", "teacher_train_logits.npy"))
    train = mimic.Dataset(x, z)
    recipe = dict(loss="l2", epochs=1, batch_size=128, standardize=True, flip=0.5,
                  image_shape=(28, 28), seed=1)

    def student():
        return mimic.Student(784, 4096, 10, bottleneck=256, seed=1)

    rows = []
    for name, opt in (("adam", {}), ("sgd", dict(optimizer="sgd", learning_rate=0.001))):
        run = dict(recipe, **opt)
        ranks = weights_at(student(), train, steps,
                           collective=mimic.Collective.from_mpi4py(comm), **run)
        if comm.Get_rank() == 0:
            one = weights_at(student(), train, steps, **run)
            two = weights_at(student(), train, steps, threads=2, **run)
            rows += [(name, k, rel(one[k], ranks[k]), rel(one[k], two[k])) for k in steps]
    if comm.Get_rank() == 0:
        print("optimizer steps  %d ranks vs 1 process  1 process, 2 vs 1 BLAS threads"
              % comm.Get_size())
        for name, k, a, b in rows:
            print("%-9s %5d  %20.3g  %30.3g" % (name, k, a, b))


if __name__ == "__main__":
    main()
