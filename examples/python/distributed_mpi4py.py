"""Data-parallel training with mpi4py: one student trained on several processes through
mimic.Collective (the library's collectives interface; it holds no transport itself).

    mpirun -np 2 python3 examples/python/distributed_mpi4py.py [EPOCHS]

Every rank builds the same transfer set (here a synthetic one; in practice every rank
np.load()s, or memory-maps, the same files: each reads only its part of every batch),
trains with the same options plus collective=..., and gets the same student and history;
rank 0 saves it. Then rank 0 trains the same student in one process and prints how far the
two are apart: N ranks train what one process trains with the same global batch, up to the
order of the sums (Open MPI's all-reduce is deterministic for a given rank count). With
torch.distributed (gloo) instead: mimic.Collective.from_torch() after
torch.distributed.init_process_group("gloo", ...).
"""
import os
import sys
import tempfile

import numpy as np
from mpi4py import MPI

import mimic


def transfer_set(rows=3000, d=64, classes=10):
    """Inputs and a fixed random teacher's logits, the same on every rank (fixed seed)."""
    rng = np.random.default_rng(11)
    x = rng.integers(0, 256, size=(rows, d), dtype=np.uint8)
    w = rng.standard_normal((d, classes)) / np.sqrt(d)
    z = (np.tanh((x / 255.0 - 0.5) @ w * 4) * 3).astype(np.float32)
    return x, z


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    x, z = transfer_set()
    train = mimic.Dataset(x, z)
    options = dict(loss="l2", epochs=epochs, batch_size=120, standardize=True, seed=1,
                   threads=1)

    student = mimic.Student(64, 256, 10, bottleneck=16, seed=3)
    collective = mimic.Collective.from_mpi4py(comm)
    history = student.fit(train, collective=collective, **options)   # every rank
    if rank == 0:
        print("%d ranks: %d epochs, final loss %.6f, %.0f examples/s"
              % (size, len(history), history[-1]["train_loss"],
                 history.report["examples_per_s"]))
        out = os.path.join(tempfile.gettempdir(), "mimic_mpi4py_student.safetensors")
        student.save(out)  # rank 0 writes the outputs
        one = mimic.Student(64, 256, 10, bottleneck=16, seed=3)
        h1 = one.fit(train, **options)
        worst = max(float(np.abs(student.tensor(k) - one.tensor(k)).max()
                          / np.abs(one.tensor(k)).max()) for k in one.tensors())
        print("largest relative difference of the weights from one process: %.3g "
              "(loss %.6f vs %.6f)" % (worst, history[-1]["train_loss"], h1[-1]["train_loss"]))
        os.remove(out)
        if worst > 1e-5:
            sys.exit("the ranks' student differs from one process's by more than 1e-5")


if __name__ == "__main__":
    main()
