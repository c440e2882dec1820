"""mimic.Collective: data-parallel training with ranks as threads of this process, sharing an
all-reduce made of a barrier that sums in rank order (deterministic, the same bits on every
rank, as MPI's), and over torch.distributed's gloo backend in two processes. The MPI
end-to-end tests, the mpi4py example included, are tests/mpi/run.sh."""

import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest

import numpy as np

import _support
import mimic
from mimic import _lib


class ThreadWorld:
    """`size` ranks as threads: allreduce_for(rank) sums the ranks' arrays in rank order."""

    def __init__(self, size, fail_at=None):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=120)
        self.arrays = [None] * size
        self.total = None
        self.calls = [0] * size
        self.fail_at = fail_at  # the call at which every rank's allreduce raises

    def allreduce_for(self, rank):
        def allreduce(a):
            self.calls[rank] += 1
            self.arrays[rank] = a
            self.barrier.wait()
            if rank == 0:
                total = self.arrays[0].copy()
                for b in self.arrays[1:]:
                    total += b
                self.total = total
            self.barrier.wait()
            a[...] = self.total
            self.barrier.wait()
            if self.calls[rank] == self.fail_at:
                raise ConnectionError("rank %d: the transport broke" % rank)
        return allreduce

    def collective(self, rank):
        return mimic.Collective(rank, self.size, self.allreduce_for(rank))


def run_ranks(size, fn, world=None):
    """fn(rank, collective) in `size` threads; returns their results (or exceptions)."""
    world = world or ThreadWorld(size)
    out = [None] * size

    def run(rank):
        try:
            out[rank] = fn(rank, world.collective(rank))
        except BaseException as e:  # noqa: B902 - handed to the test
            out[rank] = e

    threads = [threading.Thread(target=run, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
        assert not t.is_alive(), "a rank did not finish"
    return out


def max_relative(a, b):
    return max(float(np.abs(a.tensor(k) - b.tensor(k)).max() / np.abs(a.tensor(k)).max())
               for k in a.tensors())


class TestCollective(unittest.TestCase):
    def setUp(self):
        self.x, self.t, self.y = _support.make_data(rows=403, d=12, c=4, seed=3)
        self.train = mimic.Dataset(self.x, self.t, self.y)
        self.opts = dict(loss="l2", epochs=2, batch_size=40, standardize=True, dropout=0.1,
                         seed=5)

    def student(self, seed=2):
        return mimic.Student(12, 32, 4, bottleneck=5, seed=seed)

    def test_ranks_train_one_process_student(self):
        one = self.student()
        h1 = one.fit(self.train, **self.opts)
        for size in (1, 2, 3):
            def fit(rank, c):
                s = self.student(seed=2 + rank)  # every rank starts from rank 0's weights
                return s, s.fit(self.train, collective=c, **self.opts)
            results = run_ranks(size, fit)
            for r in results:
                self.assertNotIsInstance(r, BaseException, r)
            s0, h0 = results[0]
            for s, h in results[1:]:
                for k in s0.tensors():
                    np.testing.assert_array_equal(s.tensor(k), s0.tensor(k))
                self.assertEqual(h[-1]["train_loss"], h0[-1]["train_loss"])
            if size == 1:
                for k in one.tensors():
                    np.testing.assert_array_equal(s0.tensor(k), one.tensor(k))
            self.assertLess(max_relative(one, s0), 1e-5)
            self.assertAlmostEqual(h0[-1]["train_loss"], h1[-1]["train_loss"], delta=1e-6)

    def test_one_rank_stops_every_rank(self):
        def fit(rank, c):
            stop = (lambda rec: rec["epoch"] == 1) if rank == 1 else None
            return self.student().fit(self.train, collective=c, progress=stop, **self.opts)
        results = run_ranks(2, fit)
        for h in results:
            self.assertNotIsInstance(h, BaseException, h)
            self.assertTrue(h.cancelled)  # a stop on rank 1 is every rank's
            self.assertEqual(len(h), 1)

    def test_options_that_differ_are_named(self):
        def fit(rank, c):
            opts = dict(self.opts, epochs=2 + rank)
            return self.student().fit(self.train, collective=c, **opts)
        results = run_ranks(2, fit)
        for e in results:
            self.assertIsInstance(e, mimic.MimicError)
            self.assertEqual(e.status, mimic.Status.INVALID)
            self.assertIn("rank 1 of 2: the run differs from rank 0's: epochs is 3 here",
                          str(e))

    def test_allreduce_exception_is_reraised(self):
        world = ThreadWorld(2, fail_at=3)
        results = run_ranks(2, lambda r, c: self.student().fit(self.train, collective=c,
                                                               **self.opts), world)
        for e in results:
            self.assertIsInstance(e, ConnectionError)

    def test_agree(self):
        def agree(rank, c):
            return c.agree(5 if rank == 2 else 0, "x.npy: gone" if rank == 2 else None)
        for st, msg in run_ranks(3, agree):
            self.assertEqual((st, msg), (5, "rank 2 of 3: x.npy: gone"))
        for st, msg in run_ranks(2, lambda r, c: c.agree(0)):
            self.assertEqual((st, msg), (0, ""))

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            mimic.Collective(2, 2, lambda a: None)
        with self.assertRaises(TypeError):
            mimic.Collective(0, 1, "not callable")
        with self.assertRaisesRegex(TypeError, "collective: expected a mimic.Collective"):
            self.student().fit(self.train, collective=object(), epochs=1)
        with self.assertRaisesRegex(mimic.MimicError, "set collective or grad_reduce, not both"):
            self.student().fit(self.train, collective=mimic.Collective(0, 1, lambda a: None),
                               grad_reduce=lambda g: None, epochs=1)

    def test_torch_distributed_gloo(self):
        """Collective.from_torch over torch.distributed's gloo backend: 2 processes on
        loopback train the student one process trains."""
        try:
            import torch.distributed as dist
        except ImportError:
            self.skipTest("no torch")
        if not (dist.is_available() and dist.is_gloo_available()):
            self.skipTest("torch.distributed without gloo")
        script = textwrap.dedent("""
            import sys
            import numpy as np
            import torch.distributed as dist
            sys.path.insert(0, sys.argv[4])
            import _support
            import mimic
            rank, store, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
            dist.init_process_group("gloo", init_method="file://" + store, rank=rank,
                                    world_size=2)
            x, t, y = _support.make_data(rows=403, d=12, c=4, seed=3)
            s = mimic.Student(12, 32, 4, bottleneck=5, seed=2)
            h = s.fit(mimic.Dataset(x, t, y), collective=mimic.Collective.from_torch(),
                      loss="l2", epochs=2, batch_size=40, standardize=True, dropout=0.1, seed=5)
            if rank == 0:
                s.save(out)
            dist.destroy_process_group()
        """)
        here = os.path.dirname(os.path.abspath(__file__))
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "student.safetensors")
            store = os.path.join(tmp, "store")
            env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
                p for p in (os.path.dirname(os.path.dirname(mimic.__file__)),
                            os.environ.get("PYTHONPATH")) if p))
            env.setdefault("MIMIC_LIBRARY", mimic.library_path)
            procs = [subprocess.Popen([sys.executable, "-c", script, str(r), store, out, here],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                     for r in range(2)]
            logs = [p.communicate(timeout=300)[0].decode() for p in procs]
            for p, log in zip(procs, logs):
                self.assertEqual(p.returncode, 0, log)
            two = mimic.Student.load(out)
        one = self.student()
        one.fit(self.train, **self.opts)
        self.assertLess(max_relative(one, two), 1e-5)

    def test_struct_is_checked_with_the_others(self):
        # test_structs.py checks every struct in _lib.STRUCTS against the C compiler
        self.assertIs(_lib.STRUCTS["mimic_collective"], mimic.distributed.CollectiveStruct)


if __name__ == "__main__":
    unittest.main()
