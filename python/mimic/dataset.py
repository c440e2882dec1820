"""mimic.Dataset: inputs, teacher logits and optional labels (dataset.h)."""

import ctypes
import weakref

import numpy as np

from . import _arrays, _lib
from ._errors import check

__all__ = ["Dataset"]


def _free(handle, _keepalive):
    # _keepalive: the NumPy arrays (or parent datasets) the C handle borrows; holding them
    # here keeps them alive until the handle is gone.
    _lib.lib.mimic_dataset_free(handle)


class Dataset:
    """A training or evaluation set: `rows` examples of

      inputs          rows x n_inputs, float32 or uint8
      teacher_logits  rows x n_classes, float32 or float16 (None for a labels-only set)
      labels          rows integers in [0, n_classes), int32, int64 or uint8 (optional)

    Zero-copy by default: C-contiguous, aligned, native-endian float32 or uint8 inputs,
    float32 or float16 logits and int32, int64 or uint8 labels are borrowed
    (mimic_dataset_wrap_memory); the Dataset keeps the arrays alive. Do not modify them
    while the Dataset exists (validation happened once, at creation). float16 logits are
    used as stored and widened per batch while training (half the memory of float32; a
    logit is kept to about 1e-3 relative). Anything else is converted first, explicitly
    and documented: other real dtypes -> float32 (uint8 inputs stay uint8, float16 logits
    stay float16), other integer label dtypes -> int32 (checked for overflow),
    non-contiguous / misaligned / non-native-endian arrays -> a C-ordered copy. .zero_copy
    tells which happened: True only when the library reads the caller's own memory for
    every array given. copy=True makes the library copy the data
    (mimic_dataset_create_memory), so the arrays may change afterwards.

    n_classes is needed only for a labels-only set (teacher_logits None); when omitted it
    is max(labels) + 1 (at least 2).

    Raises TypeError (dtype), ValueError (shapes), MimicError (non-finite logits:
    MIMIC_ERR_NUMERIC; labels out of range: MIMIC_ERR_RANGE).
    """

    def __init__(self, inputs, teacher_logits, labels=None, copy=False, n_classes=None):
        x = _arrays.as_inputs(inputs)
        rows = x.shape[0]
        t = None
        y = None
        if teacher_logits is not None:
            t = _arrays.as_logits(teacher_logits)
            if t.shape[0] != rows:
                raise ValueError("teacher_logits has %d rows, inputs %d" % (t.shape[0], rows))
            if n_classes is not None and n_classes != t.shape[1]:
                raise ValueError("n_classes=%d, but teacher_logits has %d columns"
                                 % (n_classes, t.shape[1]))
            n_classes = t.shape[1]
        if labels is not None:
            y = _arrays.as_labels(labels, kept=_arrays.DATASET_LABELS)
            if y.shape[0] != rows:
                raise ValueError("labels has %d entries, inputs %d rows" % (y.shape[0], rows))
            if n_classes is None:
                n_classes = max(int(y.max()) + 1, 2) if y.size else 2
        if t is None and y is None:
            raise ValueError("a Dataset needs teacher_logits, labels or both")
        if rows == 0 or x.shape[1] == 0:
            raise ValueError("inputs: empty array (shape %s)" % (x.shape,))
        m = _lib.DatasetMemory()
        _lib.lib.mimic_dataset_memory_init(ctypes.byref(m), ctypes.sizeof(m))
        m.inputs = x.ctypes.data
        m.input_dtype = _arrays.dtype_code(x.dtype)
        if t is not None:
            m.teacher_logits = t.ctypes.data
            m.logits_dtype = _arrays.dtype_code(t.dtype)
        if y is not None:
            m.labels = y.ctypes.data
            m.labels_dtype = _arrays.dtype_code(y.dtype)
        m.rows, m.n_inputs, m.n_classes = rows, x.shape[1], int(n_classes)
        handle = ctypes.c_void_p()
        name = "mimic_dataset_create_memory" if copy else "mimic_dataset_wrap_memory"
        check(getattr(_lib.lib, name)(ctypes.byref(handle), ctypes.byref(m)), name)
        # Borrowed as given only when no array had to be converted first: a float64 array
        # wrapped as its float32 copy is not zero-copy.
        borrowed = not copy and all(_arrays.borrows(a, given) for a, given in
                                    ((x, inputs), (t, teacher_logits), (y, labels))
                                    if given is not None)
        self._init(handle, None if copy else (x, t, y), borrowed)

    def _init(self, handle, keepalive, zero_copy):
        self._handle = handle
        self._keepalive = keepalive
        self._zero_copy = zero_copy
        self._finalizer = weakref.finalize(self, _free, handle, keepalive)

    @classmethod
    def _from_handle(cls, handle, keepalive, zero_copy):
        self = cls.__new__(cls)
        self._init(handle, keepalive, zero_copy)
        return self

    @classmethod
    def load_npy(cls, inputs, teacher_logits, labels=None, n_classes=None):
        """Load from .npy files (paths) with mimic_dataset_load_npy: inputs '<f4' or '|u1'
        (memory-mapped, never copied), or '<f8' (converted); teacher logits '<f4' or '<f2'
        (memory-mapped; float16 is widened per batch) or '<f8' (converted); labels 1-D
        '<i4', '<i8' or '|u1'. An array of more than two dimensions is rows of the product
        of the others (N x H x W images: N rows of H*W; .image_shape keeps (H, W)). Raises
        MimicError (the message starts with the offending file's path).

        teacher_logits=None (a labels-only set, which the C loader does not take): the
        inputs are memory-mapped with np.load(mmap_mode="r") and the labels read with
        np.load, then wrapped as Dataset(inputs, None, labels, n_classes=n_classes)."""
        if teacher_logits is None:
            if labels is None:
                raise ValueError("load_npy: give teacher_logits, labels or both")
            x = np.load(inputs, mmap_mode="r", allow_pickle=False)
            y = np.load(labels, allow_pickle=False)
            self = cls(x, None, y, n_classes=n_classes)
            self._zero_copy = False  # the package's own views of the files, not the caller's
            return self
        handle = ctypes.c_void_p()
        check(_lib.lib.mimic_dataset_load_npy(
                  ctypes.byref(handle), _arrays.fspath(inputs), _arrays.fspath(teacher_logits),
                  _arrays.fspath(labels) if labels is not None else None),
              "mimic_dataset_load_npy")
        self = cls._from_handle(handle, None, False)
        if n_classes is not None and n_classes != self.n_classes:
            raise ValueError("n_classes=%d, but %s has %d columns"
                             % (n_classes, teacher_logits, self.n_classes))
        return self

    @classmethod
    def load_manifest(cls, path):
        """Load the shards a manifest lists (mimic_dataset_load_manifest): a JSON file
        written by mimic.label, mimic.ManifestWriter, mimic_manifest_writer or by hand (its
        format is in include/mimic/dataset.h). Every shard's files are memory-mapped and
        used in place as Dataset.load_npy uses one set of files; rows are numbered across
        the shards in order, and training shuffles them across shards. Raises MimicError
        (the message names the manifest, the shard and the file)."""
        handle = ctypes.c_void_p()
        check(_lib.lib.mimic_dataset_load_manifest(ctypes.byref(handle), _arrays.fspath(path)),
              "mimic_dataset_load_manifest")
        return cls._from_handle(handle, None, False)

    # ---- properties -----------------------------------------------------------------

    @property
    def handle(self):
        """The mimic_dataset * as a ctypes.c_void_p (valid while this object lives)."""
        return self._handle

    def __len__(self):
        return _lib.lib.mimic_dataset_rows(self._handle)

    @property
    def rows(self):
        return len(self)

    @property
    def n_inputs(self):
        return _lib.lib.mimic_dataset_n_inputs(self._handle)

    @property
    def n_classes(self):
        return _lib.lib.mimic_dataset_n_classes(self._handle)

    @property
    def has_labels(self):
        return bool(_lib.lib.mimic_dataset_has_labels(self._handle))

    @property
    def has_logits(self):
        return bool(_lib.lib.mimic_dataset_has_logits(self._handle))

    @property
    def input_dtype(self):
        """np.dtype('float32') or np.dtype('uint8')."""
        code = _lib.lib.mimic_dataset_input_dtype(self._handle)
        return np.dtype(np.uint8) if code == _lib.DTYPE_U8 else np.dtype(np.float32)

    @property
    def logits_dtype(self):
        """np.dtype('float32') or np.dtype('float16') (teacher logits as stored), or None
        for a labels-only set."""
        return _arrays.code_dtype(_lib.lib.mimic_dataset_logits_dtype(self._handle))

    @property
    def n_shards(self):
        """The number of shards: 1 unless loaded from a manifest (a slice counts the shards
        its rows touch)."""
        return _lib.lib.mimic_dataset_n_shards(self._handle)

    @property
    def image_shape(self):
        """(height, width) of the input images when the files say it (IDX images, .npy
        arrays of N x H x W or N x 1 x H x W; for a manifest, its first shard's), else
        None. It is what fit(image_shape=...) takes for flip and shift."""
        h, w = ctypes.c_size_t(), ctypes.c_size_t()
        _lib.lib.mimic_dataset_image_shape(self._handle, ctypes.byref(h), ctypes.byref(w))
        return (h.value, w.value) if h.value and w.value else None

    @property
    def zero_copy(self):
        """True when the library reads the caller's own arrays in place (mimic_dataset_wrap
        of arrays that needed no conversion, or a slice of such a dataset). False when any
        array was converted first (e.g. float64 -> float32, a transposed or strided view ->
        a C-ordered copy: the Dataset then borrows those copies), for copy=True and for
        .npy files."""
        return self._zero_copy

    # ---- rows, converted ------------------------------------------------------------

    def _get(self, name, start, stop, cols, dtype):
        first, last, _ = slice(start, stop).indices(len(self))
        n = max(last - first, 0)
        out = np.empty((n, cols) if cols else n, dtype=dtype)
        ptr = _arrays.fptr(out) if dtype == np.float32 else _arrays.iptr(out)
        if n:
            check(getattr(_lib.lib, name)(self._handle, first, n, ptr), name)
        return out

    def inputs(self, start=0, stop=None):
        """Rows [start, stop) of the inputs as a new float32 array (stop - start) x
        n_inputs (uint8 values become 0.0 .. 255.0), read with mimic_dataset_get_inputs
        across shards. Python slice rules for negative and too-large indices; an empty
        range gives an empty array."""
        return self._get("mimic_dataset_get_inputs", start, stop, self.n_inputs, np.float32)

    def logits(self, start=0, stop=None):
        """Rows [start, stop) of the teacher logits as a new float32 array (float16 logits
        widened exactly). MimicError (INVALID) for a labels-only set."""
        return self._get("mimic_dataset_get_logits", start, stop, self.n_classes, np.float32)

    def labels(self, start=0, stop=None):
        """Labels [start, stop) as a new 1-D int32 array. MimicError (INVALID) for a set
        without labels."""
        return self._get("mimic_dataset_get_labels", start, stop, 0, np.int32)

    # ---- views ----------------------------------------------------------------------

    def slice(self, start, stop=None):
        """A view of rows [start, stop) sharing this dataset's storage (no copy). Python
        slice rules for negative and too-large indices; an empty range is a ValueError."""
        first, last, _ = slice(start, stop).indices(len(self))
        if last <= first:
            raise ValueError("slice(%r, %r) of a dataset of %d rows is empty"
                             % (start, stop, len(self)))
        handle = ctypes.c_void_p()
        check(_lib.lib.mimic_dataset_slice(ctypes.byref(handle), self._handle, first,
                                           last - first),
              "mimic_dataset_slice")
        # A slice of a wrapped dataset borrows the same arrays: keep the parent alive.
        return Dataset._from_handle(handle, self if self._keepalive is not None else None,
                                    self._zero_copy)

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("Dataset indices must be slices (ds[a:b]), not %s"
                            % type(key).__name__)
        if key.step not in (None, 1):
            raise ValueError("Dataset slices must have step 1")
        return self.slice(key.start if key.start is not None else 0, key.stop)

    def __repr__(self):
        return ("Dataset(rows=%d, n_inputs=%d, n_classes=%d, input_dtype=%s, logits=%s, "
                "labels=%s, %s)" % (len(self), self.n_inputs, self.n_classes,
                                    self.input_dtype, self.logits_dtype, self.has_labels,
                                    "zero-copy" if self.zero_copy else
                                    "copied" if self._keepalive is not None
                                    else "owned"))
