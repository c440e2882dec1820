"""mimic.NpyWriter and mimic.ManifestWriter: the library's streaming .npy writer and its
manifest writer (npy.h, dataset.h), for transfer sets written a batch at a time.

Both write to a temporary file beside the path and rename it over the path only when
close() succeeds: a crash, an exception or Ctrl-C never leaves a half-written file under
the final name. As context managers they close on a normal exit and abort (remove the
temporary file) when the block raises.
"""

import ctypes
import os
import weakref

import numpy as np

from . import _arrays, _lib
from ._errors import check

__all__ = ["NpyWriter", "ManifestWriter"]

#: The element types a .npy writer takes (MIMIC_DTYPE_*), native byte order.
NPY_DTYPES = tuple(np.dtype(t) for t in ("float32", "float16", "float64", "uint8", "int32",
                                         "int64"))


class _Writer:
    """A C writer handle: close() or abort() frees it; garbage collection of an open writer
    aborts it."""

    _ABORT = None  # the C abort function's name

    def _start(self, path, handle):
        self._path = path
        self._handle = handle
        self._finalizer = weakref.finalize(self, getattr(_lib.lib, self._ABORT), handle)

    @property
    def path(self):
        """The final path (what close() creates)."""
        return self._path

    @property
    def closed(self):
        """True after close() or abort()."""
        return self._handle is None

    def _open_handle(self, what):
        if self._handle is None:
            raise ValueError("%s: %s on a writer that is closed or aborted" % (self._path, what))
        return self._handle

    def _take(self):
        # The C close and abort free the handle in every case: forget it first.
        handle, self._handle = self._handle, None
        self._finalizer.detach()
        return handle

    def close(self):
        """Finish the file and rename it to `path` (only then does `path` exist or change);
        returns `path`. The writer is freed in every case: after a failure (MimicError),
        nothing was written under `path`. A second close() does nothing."""
        if self._handle is not None:
            name = self._CLOSE
            check(getattr(_lib.lib, name)(self._take()), name)
        return self._path

    def abort(self):
        """Remove the temporary file and free the writer; `path` is untouched. Does nothing
        on a closed writer."""
        if self._handle is not None:
            getattr(_lib.lib, self._ABORT)(self._take())

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


class NpyWriter(_Writer):
    """A .npy file written a batch of rows at a time (mimic_npy_writer):

        with mimic.NpyWriter("logits.npy", "float16", (10,)) as w:
            for batch in batches:
                w.append(teacher(batch).astype(np.float16))

    dtype: float32, float16, float64, uint8, int32 or int64 (a NumPy dtype or its name);
    row_shape: the shape of one row, a tuple of positive ints (an int is a 1-tuple; () writes
    a 1-D file such as labels; at most 7 dimensions). The file is format 1.0, C order,
    little-endian, read by numpy.load, Dataset.load_npy and manifests; its header gets the
    row count at close(). Used by one thread at a time.

    Raises TypeError (dtype), ValueError (row_shape), MimicError (the library: e.g. IO when
    the temporary file cannot be created, naming it)."""

    _CLOSE = "mimic_npy_writer_close"
    _ABORT = "mimic_npy_writer_abort"

    def __init__(self, path, dtype, row_shape=()):
        self._handle = None
        dt = np.dtype(dtype)
        if dt not in NPY_DTYPES or not dt.isnative:
            raise TypeError("dtype %s: a .npy writer writes %s (native byte order)"
                            % (dt.str, ", ".join(t.name for t in NPY_DTYPES)))
        if isinstance(row_shape, (int, np.integer)) and not isinstance(row_shape, bool):
            row_shape = (row_shape,)
        shape = tuple(row_shape)
        for i, n in enumerate(shape):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError("row_shape[%d] is %r: every dimension must be an int >= 1"
                                 % (i, n))
        shape = tuple(int(n) for n in shape)
        self.dtype = dt
        self.row_shape = shape
        dims = (ctypes.c_size_t * max(len(shape), 1))(*shape)
        handle = ctypes.c_void_p()
        check(_lib.lib.mimic_npy_writer_open(ctypes.byref(handle), _arrays.fspath(path),
                                             _arrays.dtype_code(dt), dims, len(shape)),
              "mimic_npy_writer_open")
        self._start(os.fspath(path), handle)

    @property
    def rows(self):
        """Rows appended so far (0 once closed)."""
        return _lib.lib.mimic_npy_writer_rows(self._handle) if self._handle is not None else 0

    def append(self, rows):
        """Append `rows`: an array of shape (n,) + row_shape, of the writer's dtype exactly
        (no conversion: a float32 array for a float16 file is a TypeError; convert with
        .astype first) and C-contiguous (else ValueError: np.ascontiguousarray). 0 rows do
        nothing. After a MimicError (e.g. a full disk) the writer only closes or aborts, and
        close() writes nothing."""
        handle = self._open_handle("append")
        a = np.asarray(rows)
        if a.dtype != self.dtype:
            raise TypeError("%s: append of a %s array to a %s file: convert it first "
                            "(a.astype(np.%s))" % (self._path, a.dtype, self.dtype.name,
                                                   self.dtype.name))
        if a.ndim != 1 + len(self.row_shape) or a.shape[1:] != self.row_shape:
            raise ValueError("%s: append of an array of shape %s: rows of shape %s need shape "
                             "(n,) + %s" % (self._path, a.shape, self.row_shape, self.row_shape))
        if not a.flags.c_contiguous:
            raise ValueError("%s: append of an array that is not C-contiguous: pass "
                             "np.ascontiguousarray(a)" % self._path)
        if a.shape[0]:
            check(_lib.lib.mimic_npy_writer_append(handle, _arrays.vptr(a), a.shape[0]),
                  "mimic_npy_writer_append")

    def __repr__(self):
        return "NpyWriter(%r, %s, row_shape=%s, rows=%d%s)" % (
            self._path, self.dtype.name, self.row_shape, self.rows,
            ", closed" if self.closed else "")


class ManifestWriter(_Writer):
    """A manifest of shards (mimic_manifest_writer), written after the shards' files are
    complete:

        with mimic.ManifestWriter("set/manifest.json") as m:
            m.add("s0.inputs.npy", "s0.logits.npy")
            m.add("s1.inputs.npy", "s1.logits.npy")
        ds = mimic.Dataset.load_manifest("set/manifest.json")

    add() takes a shard's files as they are to appear in the manifest: a relative path is
    relative to the manifest's directory. close() writes the manifest atomically (so it is
    the last file a labelling job writes). Raises MimicError from the library, naming the
    manifest, the shard and the file."""

    _CLOSE = "mimic_manifest_writer_close"
    _ABORT = "mimic_manifest_writer_abort"

    def __init__(self, path):
        self._handle = None
        handle = ctypes.c_void_p()
        check(_lib.lib.mimic_manifest_writer_open(ctypes.byref(handle), _arrays.fspath(path)),
              "mimic_manifest_writer_open")
        self._start(os.fspath(path), handle)
        self._shards = 0

    @property
    def rows(self):
        """Rows of the shards added so far (0 once closed)."""
        return (_lib.lib.mimic_manifest_writer_rows(self._handle)
                if self._handle is not None else 0)

    @property
    def n_shards(self):
        """Shards added so far."""
        return self._shards

    def add(self, inputs, logits=None, labels=None):
        """Add a shard: its inputs file and at least one of logits and labels (.npy or IDX
        paths). The files' headers are read and checked as Dataset.load_manifest will check
        them (row counts agree; columns and element types equal to the first shard's).
        Returns the shard's row count. A failed add (MimicError) adds nothing, and the
        writer may go on."""
        handle = self._open_handle("add")
        if logits is None and labels is None:
            raise ValueError("%s: add needs logits, labels or both for a shard" % self._path)
        before = self.rows
        check(_lib.lib.mimic_manifest_writer_add(
                  handle, _arrays.fspath(inputs),
                  _arrays.fspath(logits) if logits is not None else None,
                  _arrays.fspath(labels) if labels is not None else None),
              "mimic_manifest_writer_add")
        self._shards += 1
        return self.rows - before

    def __repr__(self):
        return "ManifestWriter(%r, shards=%d, rows=%d%s)" % (
            self._path, self._shards, self.rows, ", closed" if self.closed else "")
