"""Minimal ctypes view of libmimic for the ONNX checks and the latency benchmark.

Only what these scripts need (the full binding lives in python/). Loads the shared library
named by MIMIC_LIBRARY.
"""
import ctypes
import os

import numpy as np

ACTIVATIONS = {"relu": 1, "sigmoid": 2, "tanh": 3}
WEIGHT_DTYPES = {"float32": 1, "float16": 6, "int8": 7}  # MIMIC_DTYPE_*


class StudentOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("n_inputs", ctypes.c_size_t),
        ("n_hidden", ctypes.c_size_t),
        ("n_bottleneck", ctypes.c_size_t),
        ("n_classes", ctypes.c_size_t),
        ("activation", ctypes.c_int32),
        ("seed", ctypes.c_uint64),
    ]


_F32P = ctypes.POINTER(ctypes.c_float)


def load(path=None):
    path = path or os.environ.get("MIMIC_LIBRARY")
    if not path:
        raise SystemExit("MIMIC_LIBRARY is not set (path to libmimic.so)")
    lib = ctypes.CDLL(path)
    lib.mimic_last_error.restype = ctypes.c_char_p
    lib.mimic_version_string.restype = ctypes.c_char_p
    lib.mimic_student_options_init.argtypes = [ctypes.POINTER(StudentOptions), ctypes.c_size_t]
    lib.mimic_student_options_init.restype = None
    lib.mimic_student_create.argtypes = [ctypes.POINTER(ctypes.c_void_p),
                                         ctypes.POINTER(StudentOptions)]
    lib.mimic_student_free.argtypes = [ctypes.c_void_p]
    lib.mimic_student_free.restype = None
    lib.mimic_student_forward.argtypes = [ctypes.c_void_p, _F32P, ctypes.c_size_t, _F32P]
    lib.mimic_student_set_input_norm.argtypes = [ctypes.c_void_p, _F32P, _F32P]
    lib.mimic_student_set_tensor.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _F32P,
                                             ctypes.c_size_t, ctypes.c_size_t]
    lib.mimic_student_tensor.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                         ctypes.POINTER(_F32P),
                                         ctypes.POINTER(ctypes.c_size_t),
                                         ctypes.POINTER(ctypes.c_size_t)]
    lib.mimic_student_export_onnx.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.mimic_student_quantize.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    return lib


def check(lib, rc, what):
    if rc != 0:
        raise RuntimeError(f"{what}: status {rc}: {lib.mimic_last_error().decode()}")


def _ptr(a):
    return a.ctypes.data_as(_F32P)


class Student:
    """A student with reproducible random weights, biases and (optionally) normalization."""

    def __init__(self, lib, D, k, H, C, activation, norm, seed):
        self.lib, self.D, self.C = lib, D, C
        o = StudentOptions()
        lib.mimic_student_options_init(ctypes.byref(o), ctypes.sizeof(o))
        o.n_inputs, o.n_bottleneck, o.n_hidden, o.n_classes = D, k, H, C
        o.activation, o.seed = ACTIVATIONS[activation], seed
        self.h = ctypes.c_void_p()
        check(lib, lib.mimic_student_create(ctypes.byref(self.h), ctypes.byref(o)), "create")
        rng = np.random.default_rng(seed)
        # Non-zero biases so that the Add/Gemm bias path is exercised.
        for name, n in (("hidden.bias", H), ("output.bias", C)):
            b = rng.normal(0, 0.5, n).astype(np.float32)
            check(lib, lib.mimic_student_set_tensor(self.h, name.encode(), _ptr(b), 1, n), name)
        if norm:
            self.mean = rng.normal(0.5, 1.0, D).astype(np.float32)
            self.scale = rng.uniform(0.5, 2.0, D).astype(np.float32)
            check(lib, lib.mimic_student_set_input_norm(self.h, _ptr(self.mean),
                                                        _ptr(self.scale)), "set_input_norm")

    def forward(self, x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty((x.shape[0], self.C), dtype=np.float32)
        check(self.lib, self.lib.mimic_student_forward(self.h, _ptr(x), x.shape[0], _ptr(out)),
              "forward")
        return out

    def quantize(self, weight_dtype):
        check(self.lib, self.lib.mimic_student_quantize(self.h, WEIGHT_DTYPES[weight_dtype]),
              f"quantize {weight_dtype}")

    def export(self, path):
        check(self.lib, self.lib.mimic_student_export_onnx(self.h, str(path).encode()),
              f"export {path}")

    def free(self):
        self.lib.mimic_student_free(self.h)
        self.h = None
