"""NumPy <-> C buffer conversions. Every conversion is explicit: an array that is not
already C-contiguous, aligned, native-endian and of the dtype the C call reads is copied
into one that is (np.ascontiguousarray / astype); memory is never reinterpreted."""

import ctypes
import os

import numpy as np

from . import _lib

_F32 = np.dtype(np.float32)
_F16 = np.dtype(np.float16)
_U8 = np.dtype(np.uint8)
_I32 = np.dtype(np.int32)
_I64 = np.dtype(np.int64)


def _ready(a, dtype):
    """True when `a` can be handed to C as-is as an array of `dtype`."""
    return (a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned
            and a.dtype.isnative)


def _convert(a, dtype):
    """`a` itself when ready for C as `dtype`, else a fresh C-ordered aligned copy."""
    if _ready(a, dtype):
        return a
    return np.array(a, dtype=dtype, order="C", copy=True)


def _as_numeric(x, what):
    a = np.asarray(x)
    k = a.dtype.kind
    if k not in "fiu":
        raise TypeError("%s: dtype %s is not a real number type (need float or integer)"
                        % (what, a.dtype))
    return a


def as_float32(x, what, ndim=None):
    """A C-contiguous float32 view of x, or a converted copy. float64/integer arrays are
    converted (astype); non-contiguous or misaligned ones are copied."""
    a = _as_numeric(x, what)
    if ndim is not None and a.ndim != ndim:
        raise ValueError("%s: expected a %d-D array, got shape %s" % (what, ndim, a.shape))
    return _convert(a, _F32)


def _kept(a, kept, default):
    """The dtype `a` is handed to C as: its own (native byte order) when that is one of
    `kept`, else `default`."""
    native = a.dtype.newbyteorder("=")
    return native if native in kept else default


def as_inputs(x, what="inputs"):
    """Dataset inputs: C-contiguous float32 or uint8 as-is; other dtypes and layouts
    converted (uint8 stays uint8 when only the layout is wrong, everything else -> float32)."""
    a = _as_numeric(x, what)
    if a.ndim != 2:
        raise ValueError("%s: expected a 2-D array (rows x features), got shape %s"
                         % (what, a.shape))
    return _convert(a, _kept(a, (_U8,), _F32))


def as_logits(t, what="teacher_logits"):
    """Teacher logits: C-contiguous float32 or float16 as-is; float16 in another byte order
    or layout stays float16 (a copy), every other real dtype becomes float32."""
    a = _as_numeric(t, what)
    if a.ndim != 2:
        raise ValueError("%s: expected a 2-D array (rows x classes), got shape %s"
                         % (what, a.shape))
    return _convert(a, _kept(a, (_F16,), _F32))


def as_labels(y, what="labels", kept=(_I32,)):
    """Labels as C-contiguous integers: arrays of a dtype in `kept` as-is (or copied into C
    order), other integer dtypes converted to int32, but only when every value survives the
    conversion (no silent wrap-around); int64 labels kept as int64 must fit int32 too."""
    a = np.asarray(y)
    if a.dtype.kind not in "iu":
        raise TypeError("%s: dtype %s is not an integer type" % (what, a.dtype))
    if a.ndim != 1:
        raise ValueError("%s: expected a 1-D array, got shape %s" % (what, a.shape))
    dtype = _kept(a, kept, _I32)
    out = _convert(a, dtype)
    if dtype == _I32 and out is not a:
        fits = np.array_equal(out, a)
    elif dtype == _I64 and a.size:
        fits = -2 ** 31 <= int(out.min()) and int(out.max()) < 2 ** 31
    else:
        fits = True
    if not fits:
        raise ValueError("%s: values outside the int32 range" % what)
    return out


#: The dtypes a Dataset keeps for its labels (the library reads them in place).
DATASET_LABELS = (_I32, _I64, _U8)


#: NumPy dtype <-> MIMIC_DTYPE_* (common.h).
_CODES = {np.dtype(np.float32): _lib.DTYPE_F32, np.dtype(np.uint8): _lib.DTYPE_U8,
          np.dtype(np.int32): _lib.DTYPE_I32, np.dtype(np.float64): _lib.DTYPE_F64,
          np.dtype(np.int64): _lib.DTYPE_I64, np.dtype(np.float16): _lib.DTYPE_F16}
_DTYPES = {code: dtype for dtype, code in _CODES.items()}


def dtype_code(dtype):
    """The MIMIC_DTYPE_* of a native NumPy dtype (KeyError for one the library lacks)."""
    return _CODES[np.dtype(dtype)]


def code_dtype(code):
    """The NumPy dtype of a MIMIC_DTYPE_* code, None for 0 (none) or an unknown code."""
    return _DTYPES.get(code)


def borrows(a, original):
    """True when `a`, the array handed to C, is the caller's `original` memory: the object
    itself or a view of it (np.asarray of an ndarray subclass or of a buffer), not a
    converted copy."""
    if a is original:
        return True
    if isinstance(original, (list, tuple)):
        return False
    try:
        return bool(np.may_share_memory(a, original))
    except (TypeError, ValueError):
        return False


def fptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def iptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))


def vptr(a):
    return ctypes.c_void_p(a.ctypes.data)


def fspath(path):
    """bytes for a char* path argument."""
    return os.fsencode(os.fspath(path))
