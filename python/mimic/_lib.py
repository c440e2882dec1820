"""Low-level ctypes binding of libmimic: finding the shared library, the C structs and
the function prototypes. The public Python API lives in the other modules.

The options structs (mimic_train_options, mimic_student_options) are not written out here:
they are built at import time from the library's own description of their fields
(include/mimic/options.h: mimic_train_option_info and friends), ordered by offset, and
checked against the library (every field where the table says, no undescribed gaps, the
same total size as the library's struct). The output structs (metrics, progress, report,
option info) and the dataset description (mimic_dataset_memory) mirror include/mimic/*.h
by hand; the struct-layout test compares them with a C compiler's view of the headers.

Library search order (the first that exists wins; a failure to load an explicitly named
library is an error, never a silent fallback):
  1. the path in the environment variable MIMIC_LIBRARY;
  2. a libmimic.so* file next to this package (a wheel may bundle one);
  3. the system loader: ctypes.util.find_library("mimic"), then "libmimic.so.1".
"""

import collections
import ctypes
import ctypes.util
import glob
import math
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

# ---- status codes and dtypes (common.h, array.h) -----------------------------------------

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
ERR_INVALID = -1
ERR_VERSION = -7
ERR_CANCELLED = -9

DTYPE_F32 = 1
DTYPE_U8 = 2
DTYPE_I32 = 3
DTYPE_F64 = 4
DTYPE_I64 = 5
DTYPE_F16 = 6
DTYPE_I8 = 7
# A student's weight types (mimic_student_quantize), by the names the files and the CLI use.
WEIGHT_DTYPES = {"float32": DTYPE_F32, "float16": DTYPE_F16, "int8": DTYPE_I8}

# ---- option field types (options.h) -------------------------------------------------------

OPTION_BOOL = 1
OPTION_ENUM = 2
OPTION_INT32 = 3
OPTION_UINT64 = 4
OPTION_SIZE = 5
OPTION_DOUBLE = 6
OPTION_STRING = 7
OPTION_POINTER = 8

OPTION_TYPE_NAMES = {OPTION_BOOL: "BOOL", OPTION_ENUM: "ENUM", OPTION_INT32: "INT32",
                     OPTION_UINT64: "UINT64", OPTION_SIZE: "SIZE", OPTION_DOUBLE: "DOUBLE",
                     OPTION_STRING: "STRING", OPTION_POINTER: "POINTER"}

# The ctypes type of each field type. Callbacks (POINTER) are plain void pointers: a
# CFUNCTYPE object is assigned with ctypes.cast and kept alive by its owner.
OPTION_CTYPES = {OPTION_BOOL: c_int32, OPTION_ENUM: c_int32, OPTION_INT32: c_int32,
                 OPTION_UINT64: c_uint64, OPTION_SIZE: c_size_t, OPTION_DOUBLE: c_double,
                 OPTION_STRING: c_char_p, OPTION_POINTER: c_void_p}

# ---- hand-written structs (output structs, not option tables) ----------------------------


class OptionInfo(ctypes.Structure):
    """struct mimic_option_info (options.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("name", c_char_p),
        ("type", c_int32),
        ("since", c_int32),
        ("offset", c_size_t),
        ("size", c_size_t),
        ("default_value", c_double),
        ("min", c_double),
        ("max", c_double),
        ("min_exclusive", c_int32),
        ("max_exclusive", c_int32),
        ("shapes_run", c_int32),
        ("n_choices", c_size_t),
        ("cli_flag", c_char_p),
        ("metavar", c_char_p),
        ("help", c_char_p),
        ("default_text", c_char_p),
        ("group", c_char_p),
    ]


class Metrics(ctypes.Structure):
    """struct mimic_metrics (evaluate.h; frozen: it never grows)."""
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
        # since 1.3 (read only when struct_size covers them)
        ("validation_loss", c_double),
        ("best_validation_loss", c_double),
    ]


# int (*mimic_progress_fn)(const mimic_progress *, void *)
PROGRESS_FN = ctypes.CFUNCTYPE(c_int, P(Progress), c_void_p)
# int (*mimic_grad_reduce_fn)(float *grads, size_t n, void *)
GRAD_REDUCE_FN = ctypes.CFUNCTYPE(c_int, P(c_float), c_size_t, c_void_p)


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


class DatasetMemory(ctypes.Structure):
    """struct mimic_dataset_memory (dataset.h; versioned, since 1.3)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("inputs", c_void_p),
        ("input_dtype", c_int32),
        ("teacher_logits", c_void_p),
        ("logits_dtype", c_int32),
        ("labels", c_void_p),
        ("labels_dtype", c_int32),
        ("rows", c_size_t),
        ("n_inputs", c_size_t),
        ("n_classes", c_size_t),
    ]


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


def _bind(prototypes):
    missing = []
    for fname, (restype, argtypes) in prototypes.items():
        try:
            fn = getattr(lib, fname)
        except AttributeError:
            missing.append(fname)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise ImportError("mimic: %s lacks %s; is it an older libmimic?"
                          % (library_path, ", ".join(missing)))


def _check_version():
    number = lib.mimic_version_number()
    if number // 10000 != EXPECTED_MAJOR:
        raise ImportError("mimic: %s is libmimic %s (major %d); this package needs major %d"
                          % (library_path, lib.mimic_version_string().decode(), number // 10000,
                             EXPECTED_MAJOR))


lib, library_path = _load()

# ---- phase 1: what describing the options structs needs -------------------------------------

_VP = c_void_p  # opaque handles (mimic_dataset *, mimic_student *) and untyped struct pointers
_PF = P(c_float)
_PI32 = P(c_int32)
_PD = P(c_double)

INTROSPECTION_PROTOTYPES = {
    # common.h
    "mimic_status_str": (c_char_p, [c_int]),
    "mimic_last_error": (c_char_p, []),
    "mimic_version_string": (c_char_p, []),
    "mimic_version_number": (c_int, []),
    # options.h (the introspection calls; the setters are bound with the structs below)
    "mimic_train_option_count": (c_size_t, []),
    "mimic_train_option_info": (c_int, [c_size_t, P(OptionInfo)]),
    "mimic_train_option_choice": (c_int, [c_size_t, c_size_t, P(c_char_p), P(c_int32)]),
    "mimic_train_option_find": (c_int, [c_char_p, P(c_size_t)]),
    "mimic_student_option_count": (c_size_t, []),
    "mimic_student_option_info": (c_int, [c_size_t, P(OptionInfo)]),
    "mimic_student_option_choice": (c_int, [c_size_t, c_size_t, P(c_char_p), P(c_int32)]),
    "mimic_student_option_find": (c_int, [c_char_p, P(c_size_t)]),
}

_bind(INTROSPECTION_PROTOTYPES)
_check_version()

# ---- the options structs, from the library's option tables ----------------------------------

#: One field of an options struct as the library describes it (mimic_option_info), in
#: Python terms: strings decoded, default None where the library says NaN (strings,
#: pointers), choices a tuple of (name, value) pairs in the library's order.
Option = collections.namedtuple(
    "Option", "index name type since offset size default min max min_exclusive max_exclusive "
              "shapes_run choices cli_flag metavar help default_text group")


class OptionLayoutError(ImportError):
    """The library's description of an options struct cannot be turned into a ctypes
    struct that matches the library (a table/struct mismatch inside libmimic)."""


def _text(b):
    return b.decode("utf-8", "replace") if b is not None else None


def _last_error():
    return _text(lib.mimic_last_error()) or ""


def read_options(kind):
    """The option table of "train" (mimic_train_options) or "student"
    (mimic_student_options): a tuple of Option in the library's index order."""
    count = getattr(lib, "mimic_%s_option_count" % kind)
    info_fn = getattr(lib, "mimic_%s_option_info" % kind)
    choice_fn = getattr(lib, "mimic_%s_option_choice" % kind)
    out = []
    for i in range(count()):
        info = OptionInfo()
        info.struct_size = ctypes.sizeof(info)
        status = info_fn(i, ctypes.byref(info))
        if status != 0:
            raise OptionLayoutError("mimic: mimic_%s_option_info(%d) failed: %s"
                                    % (kind, i, _last_error()))
        choices = []
        for k in range(info.n_choices):
            name = c_char_p()
            value = c_int32()
            status = choice_fn(i, k, ctypes.byref(name), ctypes.byref(value))
            if status != 0:
                raise OptionLayoutError("mimic: mimic_%s_option_choice(%d, %d) failed: %s"
                                        % (kind, i, k, _last_error()))
            choices.append((_text(name.value), value.value))
        default = info.default_value
        out.append(Option(
            index=i, name=_text(info.name), type=info.type, since=info.since,
            offset=info.offset, size=info.size, default=None if math.isnan(default) else default,
            min=info.min, max=info.max, min_exclusive=bool(info.min_exclusive),
            max_exclusive=bool(info.max_exclusive), shapes_run=bool(info.shapes_run),
            choices=tuple(choices), cli_flag=_text(info.cli_flag), metavar=_text(info.metavar),
            help=_text(info.help), default_text=_text(info.default_text),
            group=_text(info.group)))
    return tuple(out)


def build_options_struct(cname, options, library_size=None):
    """A ctypes.Structure for the C struct `cname` from its option table: struct_size first,
    then every field in offset order with the ctypes type of its MIMIC_OPTION_* type.

    Checked: names are unique, each field's size is its type's, each offset is where C puts
    the field after the previous one (increasing, no gap that a field the table does not
    describe would fill), and, when `library_size` is given, the struct's size equals the
    library's. Raises OptionLayoutError (an ImportError) naming the field otherwise."""
    fields = [("struct_size", c_size_t)]
    end = ctypes.sizeof(c_size_t)
    prev = "struct_size"
    seen = set()
    for opt in sorted(options, key=lambda o: o.offset):
        where = "%s.%s" % (cname, opt.name)
        if opt.name in seen or opt.name == "struct_size" or not opt.name.isidentifier():
            raise OptionLayoutError("mimic: the option table of %s lists field %r twice or "
                                    "names it badly" % (cname, opt.name))
        seen.add(opt.name)
        ctype = OPTION_CTYPES.get(opt.type)
        if ctype is None:
            raise OptionLayoutError("mimic: %s has option type %d, which this package does not "
                                    "know; is the library newer than the package?"
                                    % (where, opt.type))
        if ctypes.sizeof(ctype) != opt.size:
            raise OptionLayoutError("mimic: %s is a %s of %d bytes, but a %s is %d bytes here"
                                    % (where, OPTION_TYPE_NAMES[opt.type], opt.size,
                                       ctype.__name__, ctypes.sizeof(ctype)))
        align = ctypes.alignment(ctype)
        expected = (end + align - 1) // align * align
        if opt.offset != expected:
            raise OptionLayoutError(
                "mimic: %s is at offset %d, but after %s (which ends at byte %d) C puts a %s "
                "at offset %d: %s" % (where, opt.offset, prev, end, ctype.__name__, expected,
                                      "the fields overlap" if opt.offset < expected else
                                      "the option table leaves out a field before it"))
        fields.append((opt.name, ctype))
        end = opt.offset + opt.size
        prev = opt.name
    cls = type(cname, (ctypes.Structure,), {
        "_fields_": fields,
        "__doc__": "struct %s, built from the library's option table (options.h)." % cname})
    for opt in options:  # what ctypes made of it agrees with the table
        desc = getattr(cls, opt.name)
        if (desc.offset, desc.size) != (opt.offset, opt.size):
            raise OptionLayoutError("mimic: ctypes put %s.%s at offset %d (size %d), the library "
                                    "at %d (size %d)" % (cname, opt.name, desc.offset, desc.size,
                                                         opt.offset, opt.size))
    if library_size is not None and ctypes.sizeof(cls) != library_size:
        raise OptionLayoutError(
            "mimic: the library's %s is %s bytes, but the fields its option table describes "
            "make a struct of %d bytes (last field: %s): the table and the struct disagree "
            "inside libmimic" % (cname, library_size if library_size else "more than 64 KiB",
                                 ctypes.sizeof(cls), prev))
    return cls


def library_sizeof(kind):
    """sizeof(mimic_<kind>_options) inside the loaded library."""
    fn = lib["mimic_%s_options_size" % kind]
    fn.restype = c_size_t
    fn.argtypes = []
    return fn()


TRAIN_OPTIONS = read_options("train")
STUDENT_OPTIONS = read_options("student")
if not TRAIN_OPTIONS or not STUDENT_OPTIONS:
    raise OptionLayoutError("mimic: %s describes no options" % library_path)
TRAIN_OPTIONS_SIZE = library_sizeof("train")
STUDENT_OPTIONS_SIZE = library_sizeof("student")
TrainOptions = build_options_struct("mimic_train_options", TRAIN_OPTIONS, TRAIN_OPTIONS_SIZE)
StudentOptions = build_options_struct("mimic_student_options", STUDENT_OPTIONS,
                                      STUDENT_OPTIONS_SIZE)


def _choices(options, field):
    for opt in options:
        if opt.name == field and opt.type == OPTION_ENUM:
            return dict(opt.choices)
    raise OptionLayoutError("mimic: %s has no ENUM option %r" % (library_path, field))


# name -> value of the enums, from the tables (e.g. LOSSES["kd"] == MIMIC_LOSS_KD)
LOSSES = _choices(TRAIN_OPTIONS, "loss")
OPTIMIZERS = _choices(TRAIN_OPTIONS, "optimizer")
SCHEDULES = _choices(TRAIN_OPTIONS, "schedule")
TARGET_NORMS = _choices(TRAIN_OPTIONS, "target_norm")
ACTIVATIONS = _choices(STUDENT_OPTIONS, "activation")
INITS = _choices(STUDENT_OPTIONS, "init")

STRUCTS = {
    "mimic_option_info": OptionInfo,
    "mimic_student_options": StudentOptions,
    "mimic_metrics": Metrics,
    "mimic_progress": Progress,
    "mimic_train_options": TrainOptions,
    "mimic_train_report": TrainReport,
    "mimic_dataset_memory": DatasetMemory,
}

# ---- phase 2: every other prototype ---------------------------------------------------------

PROTOTYPES = {
    # dataset.h
    "mimic_dataset_create": (c_int, [P(_VP), c_void_p, c_int32, _PF, _PI32, c_size_t, c_size_t,
                                     c_size_t]),
    "mimic_dataset_wrap": (c_int, [P(_VP), c_void_p, c_int32, _PF, _PI32, c_size_t, c_size_t,
                                   c_size_t]),
    "mimic_dataset_load_npy": (c_int, [P(_VP), c_char_p, c_char_p, c_char_p]),
    "mimic_dataset_memory_init": (None, [P(DatasetMemory), c_size_t]),
    "mimic_dataset_create_memory": (c_int, [P(_VP), P(DatasetMemory)]),
    "mimic_dataset_wrap_memory": (c_int, [P(_VP), P(DatasetMemory)]),
    "mimic_dataset_load_manifest": (c_int, [P(_VP), c_char_p]),
    "mimic_manifest_writer_open": (c_int, [P(_VP), c_char_p]),
    "mimic_manifest_writer_add": (c_int, [_VP, c_char_p, c_char_p, c_char_p]),
    "mimic_manifest_writer_rows": (c_uint64, [_VP]),
    "mimic_manifest_writer_close": (c_int, [_VP]),
    "mimic_manifest_writer_abort": (None, [_VP]),
    "mimic_dataset_slice": (c_int, [P(_VP), _VP, c_size_t, c_size_t]),
    "mimic_dataset_rows": (c_size_t, [_VP]),
    "mimic_dataset_n_inputs": (c_size_t, [_VP]),
    "mimic_dataset_n_classes": (c_size_t, [_VP]),
    "mimic_dataset_has_labels": (c_int, [_VP]),
    "mimic_dataset_has_logits": (c_int, [_VP]),
    "mimic_dataset_input_dtype": (c_int32, [_VP]),
    "mimic_dataset_logits_dtype": (c_int32, [_VP]),
    "mimic_dataset_n_shards": (c_size_t, [_VP]),
    "mimic_dataset_image_shape": (None, [_VP, P(c_size_t), P(c_size_t)]),
    "mimic_dataset_get_inputs": (c_int, [_VP, c_size_t, c_size_t, _PF]),
    "mimic_dataset_get_logits": (c_int, [_VP, c_size_t, c_size_t, _PF]),
    "mimic_dataset_get_labels": (c_int, [_VP, c_size_t, c_size_t, _PI32]),
    "mimic_dataset_free": (None, [_VP]),
    # npy.h
    "mimic_npy_save": (c_int, [c_char_p, c_void_p, c_int32, c_size_t, c_size_t]),
    "mimic_npy_writer_open": (c_int, [P(_VP), c_char_p, c_int32, P(c_size_t), c_size_t]),
    "mimic_npy_writer_append": (c_int, [_VP, c_void_p, c_size_t]),
    "mimic_npy_writer_rows": (c_uint64, [_VP]),
    "mimic_npy_writer_close": (c_int, [_VP]),
    "mimic_npy_writer_abort": (None, [_VP]),
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
    "mimic_student_set_threads": (c_int, [_VP, c_size_t]),
    "mimic_student_threads": (c_size_t, [_VP]),
    "mimic_student_quantize": (c_int, [_VP, c_int32]),
    "mimic_student_weight_dtype": (c_int32, [_VP]),
    # onnx.h
    "mimic_student_export_onnx": (c_int, [_VP, c_char_p]),
    # loss.h
    "mimic_loss_logit_l2": (c_int, [_PF, _PF, c_size_t, c_size_t, _PD, _PF]),
    "mimic_loss_softmax_ce": (c_int, [_PF, _PF, c_size_t, c_size_t, c_double, _PD, _PF]),
    "mimic_loss_hard_ce": (c_int, [_PF, _PI32, c_size_t, c_size_t, _PD, _PF]),
    "mimic_softmax": (c_int, [_PF, c_size_t, c_size_t, c_double, _PF]),
    # evaluate.h
    "mimic_metrics_init": (None, [P(Metrics), c_size_t]),
    "mimic_evaluate": (c_int, [_VP, _VP, c_double, P(Metrics)]),
    "mimic_evaluate_logits": (c_int, [_PF, _PF, _PI32, c_size_t, c_size_t, c_double,
                                      P(Metrics)]),
    # train.h
    "mimic_train_options_init": (None, [P(TrainOptions), c_size_t]),
    "mimic_train_default_learning_rate": (c_double, [c_int32, c_int32]),
    "mimic_train_criterion": (c_char_p, [c_int32]),
    "mimic_train_report_init": (None, [P(TrainReport), c_size_t]),
    "mimic_train": (c_int, [_VP, _VP, P(TrainOptions), P(TrainReport)]),
    "mimic_trainer_create": (c_int, [P(_VP), _VP, _VP, P(TrainOptions)]),
    "mimic_trainer_step": (c_int, [_VP, _PD]),
    "mimic_trainer_epoch": (c_int, [_VP, P(Progress)]),
    "mimic_trainer_save_checkpoint": (c_int, [_VP, c_char_p]),
    "mimic_trainer_load_checkpoint": (c_int, [_VP, c_char_p]),
    "mimic_trainer_get_report": (c_int, [_VP, P(TrainReport)]),
    "mimic_trainer_free": (None, [_VP]),
    # options.h (setters and the "has it an effect" check, on the structs built above)
    "mimic_train_option_set": (c_int, [P(TrainOptions), c_char_p, c_char_p]),
    "mimic_train_option_check_used": (c_int, [P(TrainOptions), c_char_p]),
    "mimic_student_option_set": (c_int, [P(StudentOptions), c_char_p, c_char_p]),
}

_bind(PROTOTYPES)
