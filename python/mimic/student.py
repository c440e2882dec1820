"""mimic.Student: the factorized shallow student (student.h), its training (train.h) and
ONNX export (onnx.h)."""

import ctypes
import math
import threading
import weakref

import numpy as np

from . import _arrays, _lib, _options
from ._errors import MimicError, check
from .dataset import Dataset

__all__ = ["Student", "History", "default_learning_rate", "criterion"]

# Tensor names in file order (student.h). 1-D tensors (biases, input normalization) are
# returned as 1-D arrays; the library reports them as 1 x n.
TENSOR_NAMES = ("input.mean", "input.scale", "bottleneck.weight", "hidden.weight",
                "hidden.bias", "output.weight", "output.bias")
_VECTOR_TENSORS = {"input.mean", "input.scale", "hidden.bias", "output.bias"}
_ACT_NAMES = {v: k for k, v in _lib.ACTIVATIONS.items()}

# fit(standardize=True, std_floor=None) on uint8 inputs: like the CLI, scale the library's
# std_floor (meant for inputs in [0, 1]) to raw 0..255 values.
U8_STD_FLOOR_FACTOR = 255.0


def _free(handle):
    _lib.lib.mimic_student_free(handle)


def _nan_to_none(x):
    return None if math.isnan(x) else x


def _metrics_dict(m):
    return {
        "rows": int(m.rows),
        "logit_l2": _nan_to_none(m.logit_l2),
        "logit_rmse": _nan_to_none(m.logit_rmse),
        "kl": _nan_to_none(m.kl),
        "hard_ce": _nan_to_none(m.hard_ce),
        "accuracy": _nan_to_none(m.accuracy),
        "agreement": _nan_to_none(m.agreement),
    }


def _has_field(struct, name):
    """True when a versioned struct filled by the library includes field `name`."""
    field = getattr(type(struct), name)
    return struct.struct_size >= field.offset + field.size


def _progress_dict(p, eval_train):
    has_loss = _has_field(p, "best_validation_loss")
    rec = {
        "epoch": int(p.epoch),
        "step": int(p.step),
        "steps_per_epoch": int(p.steps_per_epoch),
        "epoch_end": bool(p.epoch_end),
        "train_loss": _nan_to_none(p.train_loss),
        "learning_rate": p.learning_rate,
        "elapsed_s": p.elapsed_s,
        "examples_per_s": _nan_to_none(p.examples_per_s),
        "validation": None,
        "train_metrics": None,
        "validation_loss": _nan_to_none(p.validation_loss) if has_loss else None,
        "best_validation_loss": _nan_to_none(p.best_validation_loss) if has_loss else None,
    }
    if p.has_validation and _has_field(p, "validation"):
        rec["validation"] = _metrics_dict(p.validation)
    if eval_train and _has_field(p, "train"):
        rec["train_metrics"] = _metrics_dict(p.train)
    return rec


def _report_dict(r):
    return {
        "epochs_run": int(r.epochs_run),
        "steps": int(r.steps),
        "best_epoch": int(r.best_epoch),
        "stopped_early": bool(r.stopped_early),
        "final_train_loss": _nan_to_none(r.final_train_loss),
        "best_validation_loss": _nan_to_none(r.best_validation_loss),
        "elapsed_s": _nan_to_none(r.elapsed_s),
        "examples_per_s": _nan_to_none(r.examples_per_s),
    }


def default_learning_rate(optimizer, loss):
    """The learning rate fit(learning_rate=None) uses for `optimizer` and `loss`, each by
    name (the choices of fit's optimizer= and loss=, listed in its docstring):
    mimic_train_default_learning_rate, e.g. default_learning_rate("sgd", "l2") == 0.001."""
    return float(_lib.lib.mimic_train_default_learning_rate(
        _enum(_lib.OPTIMIZERS, optimizer, "optimizer"), _enum(_lib.LOSSES, loss, "loss")))


def _criterion_of(code):
    name = _lib.lib.mimic_train_criterion(code)
    return name.decode() if name is not None else None


def criterion(loss):
    """The metric early stopping minimizes with `loss` and that the records'
    validation_loss reports (mimic_train_criterion): the name of a metric of evaluate(),
    e.g. "logit_l2" for "l2", "kl" (at the run's temperature) for "kd"."""
    return _criterion_of(_enum(_lib.LOSSES, loss, "loss"))


class History(list):
    """What Student.fit returns: one dict per completed epoch (see Student.fit), plus

      .report     the run's mimic_train_report as a dict (epochs_run, steps, best_epoch,
                  stopped_early, final_train_loss, best_validation_loss, elapsed_s,
                  examples_per_s)
      .cancelled  True when the progress callback stopped training by returning True
      .criterion  the validation metric the records' validation_loss is and early
                  stopping minimizes (a metric's name such as "logit_l2": see criterion())
    """

    def __init__(self):
        super().__init__()
        self.report = None
        self.cancelled = False
        self.criterion = None


def _name_of(table, code):
    for name, value in table.items():
        if value == code:
            return name
    return None


def _enum(table, value, what):
    if isinstance(value, str) and value.lower() in table:
        return table[value.lower()]
    raise ValueError("%s=%r: expected one of %s" % (what, value, ", ".join(sorted(table))))


def _float(value, what):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError("%s: expected a number, got %r" % (what, value)) from None


class Student:
    """A shallow student: logits = W_out f(W_hid (V n(x)) + b_hid) + b_out.

    Student(n_inputs, n_hidden, n_classes, bottleneck=0, activation="relu", seed=0, init="uniform")
      n_inputs D, n_hidden H, n_classes C (>= 2); bottleneck k = 0 means no linear
      bottleneck (W_hid is then H x D); activation "relu", "sigmoid" or "tanh"; init "uniform"
      (PyTorch's nn.Linear default) or "he" (He/Glorot normal, see mimic_init); seed makes
      the initialization deterministic. Types and choices come from the library's option
      table and mimic_student_create checks the bounds; errors name these arguments (a
      value of the wrong type: TypeError; an unknown choice or a negative size: OptionError,
      a ValueError; a size the library refuses: MimicError).

    Threads: forward, predict, evaluate, tensors, save and export_onnx may run in many
    threads at once on one student (the GIL is released inside the library). fit, quantize,
    the threads setter and the set_* methods need exclusive access; calling anything from
    another thread while fit runs raises RuntimeError (calls from inside fit's progress
    callback are allowed). `student.threads = n` gives forward/predict/evaluate n threads of
    the library's own (mimic_student_set_threads; bitwise the same results).
    """

    def __init__(self, n_inputs, n_hidden, n_classes, bottleneck=0, activation="relu", seed=0,
                 init="uniform"):
        opts = _options.student_options({
            "n_inputs": n_inputs, "n_hidden": n_hidden, "n_classes": n_classes,
            "n_bottleneck": bottleneck, "activation": activation, "seed": seed, "init": init})
        handle = ctypes.c_void_p()
        check(_lib.lib.mimic_student_create(ctypes.byref(handle), ctypes.byref(opts)),
              "mimic_student_create", _options.student_translate)
        self._init(handle)

    def _init(self, handle):
        self._handle = handle
        self._fit_thread = None
        self._fit_lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _free, handle)

    @classmethod
    def load(cls, path):
        """Load a student saved with save() (or a compatible .safetensors file)."""
        handle = ctypes.c_void_p()
        check(_lib.lib.mimic_student_load(ctypes.byref(handle), _arrays.fspath(path)),
              "mimic_student_load")
        self = cls.__new__(cls)
        self._init(handle)
        return self

    # ---- guards -------------------------------------------------------------------

    def _reading(self):
        t = self._fit_thread
        if t is not None and t != threading.get_ident():
            raise RuntimeError("this Student is being trained by fit() in another thread")
        return self._handle

    def _writing(self, what):
        if self._fit_thread is not None:
            raise RuntimeError("%s: this Student is being trained by fit()" % what)
        return self._handle

    # ---- architecture -------------------------------------------------------------

    @property
    def handle(self):
        """The mimic_student * as a ctypes.c_void_p (valid while this object lives)."""
        return self._handle

    def _options(self):
        opts = _lib.StudentOptions()
        _lib.lib.mimic_student_options_init(ctypes.byref(opts), ctypes.sizeof(opts))
        check(_lib.lib.mimic_student_get_options(self._handle, ctypes.byref(opts)),
              "mimic_student_get_options")
        return opts

    @property
    def options(self):
        """The architecture as a dict: n_inputs, n_hidden, bottleneck, n_classes,
        activation, seed."""
        o = self._options()
        return {"n_inputs": o.n_inputs, "n_hidden": o.n_hidden, "bottleneck": o.n_bottleneck,
                "n_classes": o.n_classes,
                "activation": _ACT_NAMES.get(o.activation, str(o.activation)), "seed": o.seed}

    @property
    def n_inputs(self):
        return self._options().n_inputs

    @property
    def n_hidden(self):
        return self._options().n_hidden

    @property
    def bottleneck(self):
        """k, the width of the linear bottleneck (0 = none)."""
        return self._options().n_bottleneck

    n_bottleneck = bottleneck

    @property
    def n_classes(self):
        return self._options().n_classes

    @property
    def activation(self):
        return self.options["activation"]

    @property
    def seed(self):
        return self._options().seed

    @property
    def n_params(self):
        """Trainable parameters (weights and biases, not the input normalization)."""
        return _lib.lib.mimic_student_num_params(self._handle)

    @property
    def threads(self):
        """Threads of the student's own for forward, predict and evaluate
        (mimic_student_set_threads): 1 by default, no thread started. Setting n > 1 starts
        n - 1 workers; calls of up to 4 rows split every layer between them, larger calls the
        rows of the output layer (the large products run in BLAS, whose thread count is the
        process's: OPENBLAS_NUM_THREADS). The results are bitwise the same for every n."""
        return int(_lib.lib.mimic_student_threads(self._reading()))

    @threads.setter
    def threads(self, n):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError("threads: expected an int >= 0, got %r" % (n,))
        check(_lib.lib.mimic_student_set_threads(self._writing("threads"), n),
              "mimic_student_set_threads")

    @property
    def weight_dtype(self):
        """The weights as stored: "float32", or "float16" / "int8" after quantize()."""
        code = _lib.lib.mimic_student_weight_dtype(self._reading())
        return _name_of(_lib.WEIGHT_DTYPES, code)

    def quantize(self, weight_dtype):
        """Convert the weight matrices to compact weights for inference, in place
        (mimic_student_quantize): "float16", or "int8" with one symmetric scale per output
        row (activations stay float32); "float32" turns them back into trainable float32
        weights (the dequantized values). Calls of up to 4 rows then stream the compact
        weights (faster: fewer bytes); tensors() returns the dequantized float32 weights;
        save() and export_onnx() write the compact weights. A compact student cannot be
        trained (fit raises MimicError, UNSUPPORTED) nor have its weight matrices set.
        Returns self."""
        code = _enum(_lib.WEIGHT_DTYPES, weight_dtype, "weight_dtype")
        check(_lib.lib.mimic_student_quantize(self._writing("quantize"), code),
              "mimic_student_quantize")
        return self

    @property
    def has_input_norm(self):
        return self._tensor_or_none("input.mean") is not None

    def __repr__(self):
        o = self.options
        return ("Student(n_inputs=%d, bottleneck=%d, n_hidden=%d, n_classes=%d, "
                "activation=%r, n_params=%d, input_norm=%s, weight_dtype=%r)"
                % (o["n_inputs"], o["bottleneck"], o["n_hidden"], o["n_classes"],
                   o["activation"], self.n_params, self.has_input_norm, self.weight_dtype))

    # ---- inference ----------------------------------------------------------------

    def _rows(self, X):
        x = _arrays.as_float32(X, "X")
        single = x.ndim == 1
        if single:
            x = x.reshape(1, -1)
        if x.ndim != 2:
            raise ValueError("X: expected a 1-D or 2-D array, got shape %s" % (x.shape,))
        d = self.n_inputs
        if x.shape[1] != d:
            raise ValueError("X has %d features per row, the student takes %d"
                             % (x.shape[1], d))
        return x, single

    def forward(self, X):
        """Logits (float32, rows x n_classes) for the rows of X (rows x n_inputs; a 1-D X is
        one row and gives 1-D logits). X that is not C-contiguous float32 (uint8, float64,
        a transposed view...) is converted to a float32 copy first."""
        handle = self._reading()
        x, single = self._rows(X)
        out = np.empty((x.shape[0], self.n_classes), dtype=np.float32)
        if x.shape[0]:
            check(_lib.lib.mimic_student_forward(handle, _arrays.fptr(x), x.shape[0],
                                                 _arrays.fptr(out)),
                  "mimic_student_forward")
        return out[0] if single else out

    __call__ = forward

    def predict(self, X):
        """Predicted classes (int32 argmax of the logits, lowest index on ties)."""
        handle = self._reading()
        x, single = self._rows(X)
        out = np.empty(x.shape[0], dtype=np.int32)
        if x.shape[0]:
            check(_lib.lib.mimic_student_predict(handle, _arrays.fptr(x), x.shape[0],
                                                 _arrays.iptr(out)),
                  "mimic_student_predict")
        return out[0] if single else out

    def evaluate(self, dataset, temperature=1.0):
        """Metrics on a Dataset: dict with rows, logit_l2, logit_rmse, kl (at
        `temperature`), hard_ce, accuracy, agreement; a metric the data cannot give (no
        labels, no logits) is None."""
        handle = self._reading()
        if not isinstance(dataset, Dataset):
            raise TypeError("dataset: expected a mimic.Dataset, got %s" % type(dataset).__name__)
        m = _lib.Metrics()
        _lib.lib.mimic_metrics_init(ctypes.byref(m), ctypes.sizeof(m))
        check(_lib.lib.mimic_evaluate(handle, dataset.handle, _float(temperature, "temperature"),
                                      ctypes.byref(m)),
              "mimic_evaluate")
        return _metrics_dict(m)

    # ---- tensors ------------------------------------------------------------------

    def _tensor_view(self, name):
        data = ctypes.POINTER(ctypes.c_float)()
        rows = ctypes.c_size_t()
        cols = ctypes.c_size_t()
        status = _lib.lib.mimic_student_tensor(self._reading(), name.encode(), ctypes.byref(data),
                                               ctypes.byref(rows), ctypes.byref(cols))
        return status, data, rows.value, cols.value

    def _tensor_or_none(self, name):
        status, data, rows, cols = self._tensor_view(name)
        if status != 0:
            return None
        a = np.ctypeslib.as_array(data, shape=(rows, cols)).copy()
        return a.reshape(-1) if name in _VECTOR_TENSORS else a

    def tensor(self, name):
        """A NumPy copy of one named tensor (see TENSOR_NAMES); 1-D for biases and the
        input normalization. MimicError (MIMIC_ERR_INVALID) for a tensor the student lacks."""
        if not isinstance(name, str):
            raise TypeError("name: expected a str, got %s" % type(name).__name__)
        status, data, rows, cols = self._tensor_view(name)
        check(status, "mimic_student_tensor")
        a = np.ctypeslib.as_array(data, shape=(rows, cols)).copy()
        return a.reshape(-1) if name in _VECTOR_TENSORS else a

    def tensors(self):
        """All tensors the student has, as a dict of NumPy copies (names as in PyTorch's
        nn.Linear: "bottleneck.weight" k x D, "hidden.weight", "hidden.bias",
        "output.weight", "output.bias", and "input.mean"/"input.scale" when set)."""
        out = {}
        for name in TENSOR_NAMES:
            a = self._tensor_or_none(name)
            if a is not None:
                out[name] = a
        return out

    def set_tensor(self, name, value):
        """Overwrite a named tensor (same shape; a 1-D array for 1 x n tensors), e.g. with
        weights trained in PyTorch. Converted to float32 if needed."""
        handle = self._writing("set_tensor")
        if not isinstance(name, str):
            raise TypeError("name: expected a str, got %s" % type(name).__name__)
        a = _arrays.as_float32(value, name)
        if a.ndim == 1:
            rows, cols = 1, a.shape[0]
        elif a.ndim == 2:
            rows, cols = a.shape
        else:
            raise ValueError("%s: expected a 1-D or 2-D array, got shape %s" % (name, a.shape))
        check(_lib.lib.mimic_student_set_tensor(handle, name.encode(), _arrays.fptr(a), rows,
                                                cols),
              "mimic_student_set_tensor")

    def set_input_norm(self, mean, scale):
        """Store the input normalization n(x) = (x - mean) * scale (n_inputs values each) in
        the model; set_input_norm(None, None) removes it."""
        handle = self._writing("set_input_norm")
        if mean is None and scale is None:
            check(_lib.lib.mimic_student_set_input_norm(handle, None, None),
                  "mimic_student_set_input_norm")
            return
        if mean is None or scale is None:
            raise ValueError("set_input_norm: give both mean and scale, or neither")
        d = self.n_inputs
        m = _arrays.as_float32(mean, "mean").reshape(-1)
        s = _arrays.as_float32(scale, "scale").reshape(-1)
        if m.shape[0] != d or s.shape[0] != d:
            raise ValueError("set_input_norm: mean has %d values, scale %d, the student takes %d"
                             % (m.shape[0], s.shape[0], d))
        m = np.ascontiguousarray(m)
        s = np.ascontiguousarray(s)
        check(_lib.lib.mimic_student_set_input_norm(handle, _arrays.fptr(m), _arrays.fptr(s)),
              "mimic_student_set_input_norm")

    # ---- files --------------------------------------------------------------------

    def save(self, path):
        """Save as .safetensors (atomically: an existing file is replaced whole or not at
        all). Loadable by Student.load, safetensors and PyTorch. Compact weights are saved
        as they are: float16, or int8 with "<matrix>.weight_scale" float32 tensors."""
        check(_lib.lib.mimic_student_save(self._reading(), _arrays.fspath(path)),
              "mimic_student_save")

    def export_onnx(self, path):
        """Write a self-contained ONNX model (opset 13): input "input" [batch, D], output
        "logits" [batch, C], including the input normalization; compact weights stay compact
        (Cast / DequantizeLinear before each Gemm)."""
        check(_lib.lib.mimic_student_export_onnx(self._reading(), _arrays.fspath(path)),
              "mimic_student_export_onnx")

    # ---- training -----------------------------------------------------------------

    def fit(self, dataset, *args, **options):
        """Train on `dataset` (mimic_train). Returns a History: one dict per epoch with

          epoch, step, steps_per_epoch, epoch_end, train_loss, learning_rate, elapsed_s,
          examples_per_s, validation (a metrics dict as evaluate() returns, or None),
          train_metrics (the same on the training set when eval_train=True, else None),
          validation_loss (the loss's criterion on the validation set, criterion(loss):
          e.g. its logit_l2 for "l2", kl at the temperature for "kd"; what early stopping
          minimizes; None without validation) and best_validation_loss (the lowest so far)

        and .report (the run's summary), .cancelled and .criterion (the metric's name).

        The keyword options are the library's (include/mimic/options.h): every field of
        mimic_train_options by its name, with its type, default and bounds, plus the
        Python spellings below. The first ones may also be given by position, in the order
        loss, epochs, batch_size, learning_rate, momentum, nesterov, weight_decay, schedule,
        temperature, hard_weight, validation, patience, standardize, seed, threads,
        progress. An option left out or given as None keeps the library's default. A value
        the library refuses raises OptionError (a ValueError and a MimicError) naming the
        argument; so does an option you give that the other options make meaningless
        (momentum= with the default Adam optimizer, temperature= with loss "l2"). An
        unknown keyword is a TypeError naming what you may have meant.

        loss, optimizer, schedule: one of the names the list below gives for each (the
          losses are defined by MIMIC_LOSS_* in include/mimic/train.h): e.g. loss "l2"
          (regression on the teacher logits, the default) or "kd" (softmax cross-entropy at
          `temperature`, mixed with labels by `hard_weight`); optimizer "sgd" (momentum,
          nesterov) or "adam" (adam_beta1/2, adam_eps); schedule "cosine" or "step"
          (step_gamma, step_epochs).
        learning_rate=None: the library's default for the optimizer and loss
          (default_learning_rate()): Adam/AdamW 0.001 with any loss; with SGD the loss's
          own, e.g. 0.05 for "kd", 0.001 for "l2". Logit regression with SGD needs the small
          rate: its gradient grows with the logit error, a softmax gradient is bounded.
        target_norm: "auto" (the default: the loss's own choice, e.g. "standardize" for
          "l2", "none" for "kd"), "none", or "center" or "standardize" for a loss that
          regresses on the teacher logits (such as "l2"; another loss refuses them);
        validation: a Dataset evaluated after each epoch; patience > 0 stops after that many
          epochs without improvement and restores the best weights;
        standardize: fit the input mean/scale on the data and store them in the model
          (scale = 1 / max(std, std_floor); std_floor=None is the library's 0.1, meant for
          inputs in [0, 1], times 255 for a uint8 dataset, as the CLI does);
        threads: threads of libmimic's own for the run (the training step's passes between
          the BLAS calls, validation and eval_train; None, 0 or 1 = none; the same
          student for every value); BLAS uses the process's setting
          (OPENBLAS_NUM_THREADS), which the library never changes;
        checkpoint (or checkpoint_path): a path written every checkpoint_every epochs;
          resume=True continues from it when it exists;
        grad_reduce: callable(grads) that may change the flat float32 gradient in place
          each step (deprecated: collective);
        collective: a mimic.Collective (mimic.distributed): this process is one rank of
          several training one student; every rank calls fit with the same data and
          options, batch_size is the global batch, and every rank returns the same result
          or raises the same error (naming the rank that failed);
        dropout: rate in [0, 1) of inverted dropout on the hidden units while training (the
          saved and evaluated student uses all units);
        image_shape, flip, shift: augmentation of image inputs. image_shape = (height, width)
          of the images each row holds (channel-first: channels x height x width values;
          or image_height= and image_width=); each training row is shifted by up to `shift`
          pixels in each direction (uncovered pixels 0) and then mirrored left-right with
          probability `flip`, keeping its teacher logits and label: for a teacher trained
          with such crops and flips it turns the transfer set into many more inputs with
          (nearly) the teacher's targets.

        progress: callable(record) called with each epoch's dict (and every
          progress_every_steps steps with epoch_end False). Returning True stops training:
          that is a normal end, fit returns the history so far with .cancelled = True and
          the student holds the last completed state. An exception raised in `progress` or
          `grad_reduce` (KeyboardInterrupt included; Ctrl-C during training surfaces at
          the next callback) stops the library cleanly and is re-raised here; the student
          stays usable.

        Raises MimicError on a library failure (bad option combination: MIMIC_ERR_INVALID
        naming the Python arguments; dataset/student shape mismatch: MIMIC_ERR_SHAPE;
        divergence: MIMIC_ERR_NUMERIC, the student keeps the last good weights). The error
        carries .history and .report of the run so far.

        Every keyword option, from the library's table:

%s
        """
        run = _Run("Student.fit", dataset, args, options)
        history = run.history
        report = _lib.TrainReport()
        _lib.lib.mimic_train_report_init(ctypes.byref(report), ctypes.sizeof(report))

        if not self._fit_lock.acquire(blocking=False):
            raise RuntimeError("fit: this Student is already being trained")
        self._fit_thread = threading.get_ident()
        try:
            # `dataset` and `validation` (and through them their NumPy arrays) stay
            # referenced by this frame until mimic_train returns, even if the caller drops
            # its references meanwhile (e.g. inside the progress callback).
            status = _lib.lib.mimic_train(self._handle, dataset.handle,
                                          ctypes.byref(run.options), ctypes.byref(report))
            message = _lib.lib.mimic_last_error() if status != 0 else b""
        finally:
            self._fit_thread = None
            self._fit_lock.release()
        history.report = _report_dict(report)
        run.reraise()
        if status == _lib.ERR_CANCELLED and run.stopped():
            history.cancelled = True
            return history
        if status != 0:
            raw = (message or b"").decode("utf-8", "replace")
            err = MimicError(status, run.translate(raw), "mimic_train", raw)
            err.history = history
            err.report = history.report
            raise err
        return history


# fit's signature and the list of options in its docstring come from the library's table.
Student.fit.__signature__ = _options.fit_signature()
Student.fit.__doc__ = Student.fit.__doc__ % _options.keyword_doc("          ")


class _Run:
    """The options struct of one training run plus everything the library borrows from it
    (datasets, ctypes callbacks, the checkpoint path): alive as long as this object is.
    Callbacks store an exception raised by user code in .state["exc"].

    function: the caller's name for messages ("Student.fit", "Trainer"); args: positional
    options (Student.fit's order); kwargs: keyword options. See _options for how they are
    built from the library's option table."""

    def __init__(self, function, dataset, args=(), kwargs=None):
        if not isinstance(dataset, Dataset):
            raise TypeError("dataset: expected a mimic.Dataset, got %s" % type(dataset).__name__)
        given = _options.collect(function, args, kwargs or {})
        for name, value in given.items():
            if _options.TRAIN_KEYWORDS[name].kind == "pointer":
                _options.check_pointer(name, value)
        translate = _options.Translator(given)

        o = _lib.TrainOptions()
        _lib.lib.mimic_train_options_init(ctypes.byref(o), ctypes.sizeof(o))
        texts = _options.set_train_options(o, given, translate)
        if "std_floor" not in given and dataset.input_dtype == np.uint8:
            o.std_floor = o.std_floor * U8_STD_FLOOR_FACTOR
        validation = given.get("validation")
        progress = given.get("progress")
        grad_reduce = given.get("grad_reduce")
        collective = given.get("collective")
        if validation is not None:
            o.validation = validation.handle.value
        if collective is not None:
            o.collective = collective.address

        history = History()
        history.criterion = _criterion_of(o.loss)
        state = {"exc": None, "stop": False}
        eval_train = bool(o.eval_train)

        def on_progress(p_ptr, _user_data):
            try:
                rec = _progress_dict(p_ptr.contents, eval_train)
                if rec["epoch_end"]:
                    history.append(rec)
                if progress is not None and progress(rec):
                    state["stop"] = True
                    return 1
                return 0
            except BaseException as e:  # noqa: B902 - re-raised after the C call returns
                state["exc"] = e
                return 1

        def on_grads(g_ptr, n, _user_data):
            try:
                grad_reduce(np.ctypeslib.as_array(g_ptr, shape=(n,)))
                return 0
            except BaseException as e:  # noqa: B902
                state["exc"] = e
                return 1

        # The library borrows these until the call / the trainer ends: keep them here. The
        # struct holds plain pointers to the CFUNCTYPE objects.
        progress_fn = _lib.PROGRESS_FN(on_progress)
        o.progress = ctypes.cast(progress_fn, ctypes.c_void_p).value
        grad_fn = None
        if grad_reduce is not None:
            grad_fn = _lib.GRAD_REDUCE_FN(on_grads)
            o.grad_reduce = ctypes.cast(grad_fn, ctypes.c_void_p).value

        # Options the caller gave that the others make meaningless are mistakes.
        _options.check_used(o, given, translate)

        self.options = o
        self.history = history
        self.state = state
        self.eval_train = eval_train
        self.translate = translate
        self._keep = (dataset, validation, progress_fn, grad_fn, texts, collective)
        self.collective = collective

    def stopped(self):
        """Did a progress callback stop the run (MIMIC_ERR_CANCELLED)? This one, or with a
        collective any rank's: the library has no other reason to cancel then."""
        return self.state["stop"] or self.collective is not None

    def reraise(self):
        """Re-raise an exception caught in a callback or the collective's allreduce (once)."""
        exc = self.state["exc"]
        if exc is not None:
            self.state["exc"] = None
            raise exc
        if self.collective is not None:
            self.collective.reraise()
