"""Data-parallel training over several processes: mimic.Collective, the ranks' collectives
that Student.fit(collective=...) and Trainer(collective=...) take (the library's
mimic_train_options.collective, include/mimic/collective.h). The library holds no
transport: a Collective is this process's rank, the number of ranks and an all-reduce you
supply, from mpi4py, torch.distributed or anything else that sums arrays across processes.

    from mpi4py import MPI
    import mimic
    c = mimic.Collective.from_mpi4py(MPI.COMM_WORLD)     # or Collective.from_torch()
    student.fit(train, collective=c, epochs=10)           # on every rank, same data and options

Every rank holds the whole training set and the same options; batch_size is the global
batch, and each rank reads its part of every batch; gradients, statistics and metrics are
summed over the ranks; every rank starts from rank 0's weights and returns the same result
or raises the same error. Rank 0 alone writes the checkpoint (write other outputs on rank 0
too). examples/python/distributed_mpi4py.py runs it.
"""

import ctypes
from ctypes import c_double, c_float, c_int, c_int32, c_size_t, c_void_p

import numpy as np

from . import _lib
from ._errors import MimicError, Status, last_error

__all__ = ["Collective"]

# int (*mimic_allreduce_f32_fn)(float *buf, size_t n, void *user_data), and f64
ALLREDUCE_F32_FN = ctypes.CFUNCTYPE(c_int, ctypes.POINTER(c_float), c_size_t, c_void_p)
ALLREDUCE_F64_FN = ctypes.CFUNCTYPE(c_int, ctypes.POINTER(c_double), c_size_t, c_void_p)


class CollectiveStruct(ctypes.Structure):
    """struct mimic_collective (collective.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("rank", c_int32),
        ("size", c_int32),
        ("allreduce_f32", ALLREDUCE_F32_FN),
        ("allreduce_f64", ALLREDUCE_F64_FN),
        ("user_data", c_void_p),
    ]


# The hand-mirrored structs are checked against the C compiler (python/tests/test_structs.py).
_lib.STRUCTS["mimic_collective"] = CollectiveStruct


def _function(name, restype, argtypes):
    """A library function of 1.3, or None with an older library (a Collective then raises)."""
    fn = getattr(_lib.lib, name, None)
    if fn is not None:
        fn.restype = restype
        fn.argtypes = argtypes
    return fn


_init = _function("mimic_collective_init", None, [ctypes.POINTER(CollectiveStruct), c_size_t])
_agree = _function("mimic_collective_agree", c_int,
                   [ctypes.POINTER(CollectiveStruct), c_int, ctypes.c_char_p])


class Collective:
    """Collective(rank, size, allreduce): this process is rank `rank` of `size`; allreduce(a)
    must replace the 1-D NumPy array `a` (float32 or float64) in place by its elementwise sum
    over the ranks, the same bits on every rank, each rank calling it with the same length
    in the same order (MPI's, NCCL's and Gloo's all-reduces do). An exception it raises
    stops training on this rank and is re-raised by fit/the Trainer call (MimicError
    otherwise): the transport must then stop the other ranks, as MPI does by default.

    Keep the object alive while training uses it (fit and Trainer do)."""

    def __init__(self, rank, size, allreduce):
        if _init is None:
            raise MimicError(Status.VERSION, "Collective needs libmimic 1.3 or newer; %s is %s"
                             % (_lib.library_path, _lib.lib.mimic_version_string().decode()),
                             "mimic_collective_init")
        rank, size = int(rank), int(size)
        if not 0 <= rank < size:
            raise ValueError("Collective: rank %d of size %d (need 0 <= rank < size)"
                             % (rank, size))
        if not callable(allreduce):
            raise TypeError("Collective: allreduce must be callable, got %s"
                            % type(allreduce).__name__)
        self.rank, self.size = rank, size
        self.error = None  # the exception the last failing allreduce raised
        self._allreduce = allreduce

        def reduce(ptr, n, dtype):
            try:
                # native dtype ("f", "d": ctypes' arrays say "<d", which mpi4py refuses)
                a = np.ctypeslib.as_array(ptr, shape=(n,)).view(dtype) if n else \
                    np.empty(0, dtype)
                self._allreduce(a)
                return 0
            except BaseException as e:  # noqa: B902 - re-raised after the C call returns
                self.error = e
                return 1

        self._f32 = ALLREDUCE_F32_FN(lambda p, n, _u: reduce(p, n, np.float32))
        self._f64 = ALLREDUCE_F64_FN(lambda p, n, _u: reduce(p, n, np.float64))
        s = CollectiveStruct()
        _init(ctypes.byref(s), ctypes.sizeof(s))
        s.rank, s.size = rank, size
        s.allreduce_f32, s.allreduce_f64 = self._f32, self._f64
        self.struct = s

    @property
    def address(self):
        """The struct's address, for mimic_train_options.collective."""
        return ctypes.addressof(self.struct)

    def reraise(self):
        """Re-raise (once) an exception the allreduce raised."""
        e, self.error = self.error, None
        if e is not None:
            raise e

    def agree(self, status, message=None):
        """mimic_collective_agree (collective: every rank calls it): `status` is 0 for
        success, anything else for this rank's failure (`message` says what). Returns
        (status, message): (0, "") when every rank passed 0, else the lowest failing rank's
        status and "rank R of N: <its message>", the same on every rank."""
        raw = None if message is None else str(message).encode("utf-8", "replace")
        st = _agree(ctypes.byref(self.struct), int(status), raw)
        self.reraise()
        return st, (last_error() if st != 0 else "")

    @classmethod
    def from_mpi4py(cls, comm=None):
        """The ranks of an mpi4py communicator (default MPI.COMM_WORLD): Allreduce with
        MPI.SUM, in place."""
        from mpi4py import MPI
        comm = MPI.COMM_WORLD if comm is None else comm

        def allreduce(a):
            comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)

        return cls(comm.Get_rank(), comm.Get_size(), allreduce)

    @classmethod
    def from_torch(cls, group=None):
        """The ranks of torch.distributed's process group (initialized, e.g. with the gloo
        backend): all_reduce with SUM on a tensor sharing the array's memory."""
        import torch
        import torch.distributed as dist

        def allreduce(a):
            dist.all_reduce(torch.from_numpy(a), op=dist.ReduceOp.SUM, group=group)

        return cls(dist.get_rank(group), dist.get_world_size(group), allreduce)

    def __repr__(self):
        return "Collective(rank=%d, size=%d)" % (self.rank, self.size)
