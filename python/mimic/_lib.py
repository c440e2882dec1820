"""Low-level ctypes binding of libmimic: finding the shared library, the C structs and
the function prototypes. Everything here mirrors include/mimic/*.h exactly; the public
Python API lives in the other modules.

Library search order (the first that exists wins; a failure to load an explicitly named
library is an error, never a silent fallback):
  1. the path in the environment variable MIMIC_LIBRARY;
  2. a libmimic.so* file next to this package (a wheel may bundle one);
  3. the system loader: ctypes.util.find_library("mimic"), then "libmimic.so.1".
"""

import ctypes
import ctypes.util
import glob
import os

# The C library major version this package is written against (MIMIC_VERSION_MAJOR).
EXPECTED_MAJOR = 1

c_size_t = ctypes.c_size_t
c_int = ctypes.c_int
c_int32 = ctypes.c_int32
c_uint64 = ctypes.c_uint64
c_double = ctypes.c_double
c_float = ctypes.c_float
c_void_p = ctypes.c_void_p
c_char_p = ctypes.c_char_p
P = ctypes.POINTER

# ---- enums (common.h, student.h, train.h) ------------------------------------------------

STATUS_NAMES = {
    0: "MIMIC_OK",
    -1: "MIMIC_ERR_INVALID",
    -2: "MIMIC_ERR_RANGE",
    -3: "MIMIC_ERR_SHAPE",
    -4: "MIMIC_ERR_NOMEM",
    -5: "MIMIC_ERR_IO",
    -6: "MIMIC_ERR_FORMAT",
    -7: "MIMIC_ERR_VERSION",
    -8: "MIMIC_ERR_NUMERIC",
    -9: "MIMIC_ERR_CANCELLED",
    -10: "MIMIC_ERR_UNSUPPORTED",
    -11: "MIMIC_ERR_MISUSE",
    -12: "MIMIC_ERR_INTERNAL",
}
ERR_CANCELLED = -9

DTYPE_F32 = 1
DTYPE_U8 = 2
DTYPE_I32 = 3

ACTIVATIONS = {"relu": 1, "sigmoid": 2, "tanh": 3}
INITS = {"uniform": 1, "he": 2}
LOSSES = {"l2": 1, "kd": 2, "labels": 3}
SCHEDULES = {"constant": 1, "cosine": 2, "step": 3}
OPTIMIZERS = {"sgd": 1, "adam": 2, "adamw": 3}
TARGET_NORMS = {"none": 0, "center": 1, "standardize": 2, "auto": 3}

# ---- structs ------------------------------------------------------------------------------


class StudentOptions(ctypes.Structure):
    """struct mimic_student_options (student.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("n_inputs", c_size_t),
        ("n_hidden", c_size_t),
        ("n_bottleneck", c_size_t),
        ("n_classes", c_size_t),
        ("activation", c_int32),
        ("seed", c_uint64),
        ("init", c_int32),
    ]


class Metrics(ctypes.Structure):
    """struct mimic_metrics (train.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("rows", c_size_t),
        ("logit_l2", c_double),
        ("logit_rmse", c_double),
        ("kl", c_double),
        ("hard_ce", c_double),
        ("accuracy", c_double),
        ("agreement", c_double),
    ]


class Progress(ctypes.Structure):
    """struct mimic_progress (train.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("epoch", c_uint64),
        ("step", c_uint64),
        ("steps_per_epoch", c_uint64),
        ("epoch_end", c_int32),
        ("has_validation", c_int32),
        ("train_loss", c_double),
        ("learning_rate", c_double),
        ("elapsed_s", c_double),
        ("examples_per_s", c_double),
        ("validation", Metrics),
        ("train", Metrics),
        ("validation_loss", c_double),
        ("best_validation_loss", c_double),
    ]


# int (*mimic_progress_fn)(const mimic_progress *, void *)
PROGRESS_FN = ctypes.CFUNCTYPE(c_int, P(Progress), c_void_p)
# int (*mimic_grad_reduce_fn)(float *grads, size_t n, void *)
GRAD_REDUCE_FN = ctypes.CFUNCTYPE(c_int, P(c_float), c_size_t, c_void_p)


class TrainOptions(ctypes.Structure):
    """struct mimic_train_options (train.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("loss", c_int32),
        ("optimizer", c_int32),
        ("schedule", c_int32),
        ("nesterov", c_int32),
        ("standardize", c_int32),
        ("target_norm", c_int32),
        ("threads", c_int32),
        ("eval_train", c_int32),
        ("epochs", c_uint64),
        ("batch_size", c_uint64),
        ("learning_rate", c_double),
        ("momentum", c_double),
        ("weight_decay", c_double),
        ("temperature", c_double),
        ("hard_weight", c_double),
        ("clip_norm", c_double),
        ("warmup_epochs", c_double),
        ("step_gamma", c_double),
        ("step_epochs", c_uint64),
        ("adam_beta1", c_double),
        ("adam_beta2", c_double),
        ("adam_eps", c_double),
        ("std_floor", c_double),
        ("seed", c_uint64),
        ("validation", c_void_p),
        ("patience", c_uint64),
        ("progress", PROGRESS_FN),
        ("progress_user_data", c_void_p),
        ("progress_every_steps", c_uint64),
        ("checkpoint_path", c_char_p),
        ("checkpoint_every", c_uint64),
        ("resume", c_int32),
        ("grad_reduce", GRAD_REDUCE_FN),
        ("grad_reduce_user_data", c_void_p),
        ("dropout", c_double),
        ("image_height", c_uint64),
        ("image_width", c_uint64),
        ("flip", c_double),
        ("shift", c_uint64),
    ]


class TrainReport(ctypes.Structure):
    """struct mimic_train_report (train.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("epochs_run", c_uint64),
        ("steps", c_uint64),
        ("best_epoch", c_uint64),
        ("stopped_early", c_int32),
        ("final_train_loss", c_double),
        ("best_validation_loss", c_double),
        ("elapsed_s", c_double),
        ("examples_per_s", c_double),
    ]


STRUCTS = {
    "mimic_student_options": StudentOptions,
    "mimic_metrics": Metrics,
    "mimic_progress": Progress,
    "mimic_train_options": TrainOptions,
    "mimic_train_report": TrainReport,
}

# ---- prototypes ---------------------------------------------------------------------------

_VP = c_void_p  # opaque handles (mimic_dataset *, mimic_student *)
_PF = P(c_float)
_PI32 = P(c_int32)
_PD = P(c_double)

PROTOTYPES = {
    # common.h
    "mimic_status_str": (c_char_p, [c_int]),
    "mimic_last_error": (c_char_p, []),
    "mimic_version_string": (c_char_p, []),
    "mimic_version_number": (c_int, []),
    # dataset.h
    "mimic_dataset_create": (c_int, [P(_VP), c_void_p, c_int32, _PF, _PI32, c_size_t, c_size_t,
                                     c_size_t]),
    "mimic_dataset_wrap": (c_int, [P(_VP), c_void_p, c_int32, _PF, _PI32, c_size_t, c_size_t,
                                   c_size_t]),
    "mimic_dataset_load_npy": (c_int, [P(_VP), c_char_p, c_char_p, c_char_p]),
    "mimic_dataset_slice": (c_int, [P(_VP), _VP, c_size_t, c_size_t]),
    "mimic_dataset_rows": (c_size_t, [_VP]),
    "mimic_dataset_n_inputs": (c_size_t, [_VP]),
    "mimic_dataset_n_classes": (c_size_t, [_VP]),
    "mimic_dataset_has_labels": (c_int, [_VP]),
    "mimic_dataset_has_logits": (c_int, [_VP]),
    "mimic_dataset_input_dtype": (c_int32, [_VP]),
    "mimic_dataset_free": (None, [_VP]),
    # npy.h
    "mimic_npy_save": (c_int, [c_char_p, c_void_p, c_int32, c_size_t, c_size_t]),
    # student.h
    "mimic_student_options_init": (None, [P(StudentOptions), c_size_t]),
    "mimic_student_create": (c_int, [P(_VP), P(StudentOptions)]),
    "mimic_student_forward": (c_int, [_VP, _PF, c_size_t, _PF]),
    "mimic_student_predict": (c_int, [_VP, _PF, c_size_t, _PI32]),
    "mimic_student_set_input_norm": (c_int, [_VP, _PF, _PF]),
    "mimic_student_save": (c_int, [_VP, c_char_p]),
    "mimic_student_load": (c_int, [P(_VP), c_char_p]),
    "mimic_student_num_params": (c_size_t, [_VP]),
    "mimic_student_get_options": (c_int, [_VP, P(StudentOptions)]),
    "mimic_student_tensor": (c_int, [_VP, c_char_p, P(_PF), P(c_size_t), P(c_size_t)]),
    "mimic_student_set_tensor": (c_int, [_VP, c_char_p, _PF, c_size_t, c_size_t]),
    "mimic_student_free": (None, [_VP]),
    # onnx.h
    "mimic_student_export_onnx": (c_int, [_VP, c_char_p]),
    # loss.h
    "mimic_loss_logit_l2": (c_int, [_PF, _PF, c_size_t, c_size_t, _PD, _PF]),
    "mimic_loss_softmax_ce": (c_int, [_PF, _PF, c_size_t, c_size_t, c_double, _PD, _PF]),
    "mimic_loss_hard_ce": (c_int, [_PF, _PI32, c_size_t, c_size_t, _PD, _PF]),
    "mimic_softmax": (c_int, [_PF, c_size_t, c_size_t, c_double, _PF]),
    # train.h
    "mimic_train_options_init": (None, [P(TrainOptions), c_size_t]),
    "mimic_train_default_learning_rate": (c_double, [c_int32, c_int32]),
    "mimic_metrics_init": (None, [P(Metrics), c_size_t]),
    "mimic_train_report_init": (None, [P(TrainReport), c_size_t]),
    "mimic_train": (c_int, [_VP, _VP, P(TrainOptions), P(TrainReport)]),
    "mimic_evaluate": (c_int, [_VP, _VP, c_double, P(Metrics)]),
    "mimic_trainer_create": (c_int, [P(_VP), _VP, _VP, P(TrainOptions)]),
    "mimic_trainer_step": (c_int, [_VP, _PD]),
    "mimic_trainer_epoch": (c_int, [_VP, P(Progress)]),
    "mimic_trainer_save_checkpoint": (c_int, [_VP, c_char_p]),
    "mimic_trainer_load_checkpoint": (c_int, [_VP, c_char_p]),
    "mimic_trainer_get_report": (c_int, [_VP, P(TrainReport)]),
    "mimic_trainer_free": (None, [_VP]),
}


# ---- loading ------------------------------------------------------------------------------


def _candidates():
    """(description, path-or-name, explicit) in search order."""
    env = os.environ.get("MIMIC_LIBRARY")
    if env:
        return [("MIMIC_LIBRARY", env, True)]
    out = []
    here = os.path.dirname(os.path.abspath(__file__))
    bundled = sorted(glob.glob(os.path.join(here, "libmimic.so*")), key=len)
    for path in bundled:
        out.append(("package directory", path, False))
    found = ctypes.util.find_library("mimic")
    if found:
        out.append(("ctypes.util.find_library('mimic')", found, False))
    out.append(("system loader", "libmimic.so.%d" % EXPECTED_MAJOR, False))
    return out


def _load():
    tried = []
    for where, name, explicit in _candidates():
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            if explicit:
                raise ImportError("mimic: cannot load the library named by MIMIC_LIBRARY=%r: %s"
                                  % (name, e)) from None
            tried.append("%s (%s): %s" % (name, where, e))
            continue
        return lib, name
    raise ImportError(
        "mimic: libmimic was not found. Set MIMIC_LIBRARY to the path of libmimic.so, put a "
        "libmimic.so* file in %s, or install libmimic where the system loader finds it. "
        "Tried: %s" % (os.path.dirname(os.path.abspath(__file__)), "; ".join(tried)))


def _bind(lib, path):
    missing = []
    for fname, (restype, argtypes) in PROTOTYPES.items():
        try:
            fn = getattr(lib, fname)
        except AttributeError:
            missing.append(fname)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise ImportError("mimic: %s lacks %s; is it an older libmimic?"
                          % (path, ", ".join(missing)))
    number = lib.mimic_version_number()
    if number // 10000 != EXPECTED_MAJOR:
        raise ImportError("mimic: %s is libmimic %s (major %d); this package needs major %d"
                          % (path, lib.mimic_version_string().decode(), number // 10000,
                             EXPECTED_MAJOR))


lib, library_path = _load()
_bind(lib, library_path)
