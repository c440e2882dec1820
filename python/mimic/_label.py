"""mimic.label: run a teacher over a transfer set and write its inputs and logits in shards
with the library's writers, the manifest last; a rerun resumes where a crash stopped."""

import errno
import fcntl
import glob
import hashlib
import json
import math
import os
import sys
import time
import warnings

import numpy as np

from . import _arrays
from ._errors import MimicError
from .dataset import Dataset
from .writers import ManifestWriter, NpyWriter

__all__ = ["label", "LabelResult"]

MANIFEST = "manifest.json"
STATE = "label-state.json"
STATE_FORMAT = "mimic-label-state"
STATE_VERSION = 1
ROLES = ("inputs", "logits", "labels")
LOGIT_DTYPES = {"float16": np.dtype(np.float16), "float32": np.dtype(np.float32)}
_F16_MAX = float(np.finfo(np.float16).max)

#: Seconds between progress lines (at most one a second).
PROGRESS_INTERVAL = 1.0
#: The clock of the progress lines (tests replace it).
_clock = time.monotonic


def _shard_file(k, role):
    return "shard-%05d.%s.npy" % (k, role)


class LabelResult:
    """What mimic.label returns: the manifest's path (os.fspath(result) is that path, so
    Dataset.load_manifest(result) works), `rows`, `n_shards`, `n_classes`, `kept_shards`
    (complete shards kept from an earlier run), `teacher_rows` (rows the teacher labelled
    in this call) and `seconds`."""

    def __init__(self, manifest, rows, n_shards, n_classes, kept_shards, teacher_rows,
                 seconds):
        self.manifest = manifest
        self.rows = rows
        self.n_shards = n_shards
        self.n_classes = n_classes
        self.kept_shards = kept_shards
        self.teacher_rows = teacher_rows
        self.seconds = seconds

    def __fspath__(self):
        return self.manifest

    def __repr__(self):
        return ("LabelResult(manifest=%r, rows=%d, n_shards=%d, n_classes=%d, kept_shards=%d, "
                "teacher_rows=%d, seconds=%.1f)"
                % (self.manifest, self.rows, self.n_shards, self.n_classes, self.kept_shards,
                   self.teacher_rows, self.seconds))


# ---- the teacher -----------------------------------------------------------------------------


def _to_numpy(out):
    """A teacher's output as a NumPy array: a torch tensor is detached and moved to the CPU
    (as float32 unless it is float32 or float64)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(out, torch.Tensor):
        out = out.detach().cpu()
        if out.dtype not in (torch.float32, torch.float64):
            out = out.float()
        return out.numpy()
    return np.asarray(out)


class _Teacher:
    """A function of a NumPy batch to a NumPy array, and a context (eval mode and no_grad
    for a torch module, restored afterwards)."""

    def __init__(self, teacher):
        torch = sys.modules.get("torch")  # a torch module implies torch is imported already
        self.torch = torch if torch is not None and isinstance(teacher, torch.nn.Module) \
            else None
        self.module = teacher if self.torch is not None else None
        if self.torch is not None:
            param = next(teacher.parameters(), None)
            self.device = param.device if param is not None and param.device.type != "cpu" \
                else None
            self.fn = self._torch_call
        elif callable(teacher):
            self.fn = teacher
        elif hasattr(teacher, "run") and hasattr(teacher, "get_inputs"):
            name = teacher.get_inputs()[0].name  # an ONNX Runtime InferenceSession
            self.fn = lambda batch: teacher.run(None, {name: batch})[0]
        else:
            raise TypeError("teacher: a torch.nn.Module, an ONNX Runtime InferenceSession or a "
                            "function of a NumPy batch, not %s" % type(teacher).__name__)

    def _torch_call(self, batch):
        x = self.torch.from_numpy(batch)
        if self.device is not None:
            x = x.to(self.device)
        return self.module(x)

    def __enter__(self):
        if self.torch is not None:
            self.was_training = self.module.training
            self.module.eval()
            self.no_grad = self.torch.no_grad()
            self.no_grad.__enter__()
            # read-only batches (np.memmap) are fine: the module does not write its input
            self.warnings = warnings.catch_warnings()
            self.warnings.__enter__()
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return self

    def __exit__(self, *exc):
        if self.torch is not None:
            self.warnings.__exit__(*exc)
            self.no_grad.__exit__(*exc)
            self.module.train(self.was_training)

    def __call__(self, batch):
        return _to_numpy(self.fn(batch))


def _logits(out, rows, first, classes, dtype):
    """The teacher's output for rows [first, first + rows) checked (rows x classes, the
    same classes as before, finite, within float16's range) and as C-contiguous `dtype`."""
    span = "rows %d to %d" % (first, first + rows - 1)
    if out.dtype.kind not in "fiu":
        raise TypeError("teacher: %s: the output's dtype is %s, not a real number type"
                        % (span, out.dtype))
    if out.ndim != 2 or out.shape[0] != rows:
        raise ValueError("teacher: %s: the output has shape %s; it must be (rows, classes) = "
                         "(%d, %s)" % (span, out.shape, rows, classes or "C"))
    if classes is not None and out.shape[1] != classes:
        raise ValueError("teacher: %s: the output has %d classes, earlier rows %d"
                         % (span, out.shape[1], classes))
    if out.shape[1] < 2:
        raise ValueError("teacher: %s: the output has %d column; logits need at least 2 "
                         "classes" % (span, out.shape[1]))
    bad = ~np.isfinite(out) if out.dtype.kind == "f" else None
    if bad is not None and bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError("teacher: %s: the logit of row %d, class %d is %s"
                         % (span, first + r, c, out[r, c]))
    with np.errstate(over="ignore"):
        z = np.ascontiguousarray(out, dtype=dtype)
    if dtype == np.float16 and not np.isfinite(z).all():
        r, c = np.argwhere(~np.isfinite(z))[0]
        raise ValueError("teacher: %s: the logit of row %d, class %d is %s, beyond float16's "
                         "range (+-%g): use dtype=\"float32\"" % (span, first + r, c, out[r, c],
                                                                 _F16_MAX))
    return z


# ---- the inputs ------------------------------------------------------------------------------


def _stored_dtype(dtype, what):
    """uint8 and float32 are stored as they are, every other real type as float32."""
    if dtype.kind not in "fiu":
        raise TypeError("%s: dtype %s is not a real number type" % (what, dtype))
    return dtype if dtype in (np.dtype(np.uint8), np.dtype(np.float32)) else np.dtype(np.float32)


class _ArraySource:
    """Rows of an array (or np.memmap, or anything with .shape and slicing, such as
    mimic.transfer.images), read in order from any row."""

    def __init__(self, a):
        shape = tuple(a.shape)
        if len(shape) < 2:
            raise ValueError("inputs: shape %s; need rows x features (2-D or more)" % (shape,))
        self.a = a
        self.n_rows = shape[0]
        self.row_shape = shape[1:]
        self.dtype = _stored_dtype(np.dtype(a.dtype), "inputs")
        self.pos = 0
        if self.n_rows == 0:
            raise ValueError("inputs: no rows")

    def _rows(self, a, b):
        return np.ascontiguousarray(self.a[a:b], dtype=self.dtype)

    def first_row(self):
        return self._rows(0, 1)

    def last_row(self):
        return self._rows(self.n_rows - 1, self.n_rows)

    def read(self, n):
        rows = self._rows(self.pos, min(self.pos + n, self.n_rows))
        self.pos += len(rows)
        return rows

    def skip(self, n):
        """(first row, last row, rows skipped) of the next n rows."""
        n = min(n, self.n_rows - self.pos)
        a, self.pos = self.pos, self.pos + n
        return self._rows(a, a + 1), self._rows(a + n - 1, a + n), n

    def exhausted(self):
        return self.pos >= self.n_rows


class _IterSource:
    """Rows of an iterable of batches (each rows x ...; any sizes), read in order; the row
    count is the iterable's n_rows attribute when it has one, else known at the end."""

    def __init__(self, iterable):
        self.it = iter(iterable)
        self.n_rows = getattr(iterable, "n_rows", None)
        self.batches = 0
        self.ended = False
        first = next(self.it, None)
        if first is None:
            raise ValueError("inputs: the iterable gave no batches")
        a = np.asarray(first)
        if a.ndim < 2:
            raise ValueError("inputs: batch 0 has shape %s; a batch is rows x features (2-D or "
                             "more)" % (a.shape,))
        self.row_shape = a.shape[1:]
        self.dtype = _stored_dtype(a.dtype, "inputs: batch 0")
        self._last = None
        self.pending = self._check(a)
        if not self._fill():
            raise ValueError("inputs: the iterable gave no rows")
        self._first = self.pending[:1].copy()

    def _check(self, a):
        index = self.batches
        self.batches += 1
        if a.ndim < 2 or a.shape[1:] != self.row_shape:
            raise ValueError("inputs: batch %d has shape %s, but batch 0's rows are %s"
                             % (index, a.shape, self.row_shape))
        if _stored_dtype(a.dtype, "inputs: batch %d" % index) != self.dtype:
            raise TypeError("inputs: batch %d is %s, but batch 0 is %s"
                            % (index, a.dtype, self.dtype))
        a = np.ascontiguousarray(a, dtype=self.dtype)
        if len(a):
            self._last = a[-1:]
        return a

    def _fill(self):
        """True when a row is pending, reading batches as needed."""
        while not len(self.pending) and not self.ended:
            nxt = next(self.it, None)
            if nxt is None:
                self.ended = True
            else:
                self.pending = self._check(np.asarray(nxt))
        return len(self.pending) > 0

    def exhausted(self):
        return not self._fill()

    def first_row(self):
        return self._first

    def last_row(self):
        """The last row, once every row has been read (None before)."""
        return self._last.copy() if self.exhausted() else None

    def _pieces(self, n):
        while n > 0 and self._fill():
            k = min(n, len(self.pending))
            yield self.pending[:k]
            self.pending = self.pending[k:]
            n -= k

    def read(self, n):
        parts = list(self._pieces(n))
        if not parts:
            return np.empty((0,) + self.row_shape, self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def skip(self, n):
        first = last = None
        count = 0
        for part in self._pieces(n):
            first = part[:1] if first is None else first
            last = part[-1:]
            count += len(part)
        return first, last, count


def _source(inputs):
    if hasattr(inputs, "shape") and hasattr(inputs, "__getitem__"):
        return _ArraySource(inputs)
    if isinstance(inputs, (str, bytes)) or not hasattr(inputs, "__iter__"):
        raise TypeError("inputs: an array, a np.memmap or an iterable of batches, not %s"
                        % type(inputs).__name__)
    return _IterSource(inputs)


def _fingerprint(row):
    return hashlib.blake2b(np.ascontiguousarray(row).tobytes(), digest_size=16).hexdigest()


# ---- progress --------------------------------------------------------------------------------


class _Progress:
    """Lines on stderr: rows done, rows/s, ETA when the total is known; at most one every
    PROGRESS_INTERVAL seconds ('\\r'-updated on a terminal), then a final line."""

    def __init__(self, enabled, total):
        self.enabled = enabled
        self.total = total
        self.done = 0
        self.labelled = 0
        self.t0 = _clock()
        self.shown = self.t0
        self.tty = enabled and sys.stderr.isatty()

    def _line(self, now):
        rate = self.labelled / (now - self.t0) if now > self.t0 else 0.0
        text = "mimic.label: %d" % self.done
        if self.total:
            text += "/%d rows (%.1f%%)" % (self.total, 100.0 * self.done / self.total)
        else:
            text += " rows"
        text += ", %.0f rows/s" % rate
        if self.total and rate > 0:
            eta = int(math.ceil((self.total - self.done) / rate))
            text += ", ETA %d:%02d:%02d" % (eta // 3600, eta // 60 % 60, eta % 60)
        return text

    def _show(self, text, end):
        sys.stderr.write(("\r%-78s" % text if self.tty else text) + end)
        sys.stderr.flush()

    def add(self, kept=0, labelled=0):
        self.done += kept + labelled
        self.labelled += labelled
        if self.enabled:
            now = _clock()
            if now - self.shown >= PROGRESS_INTERVAL:
                self.shown = now
                self._show(self._line(now), "" if self.tty else "\n")

    def finish(self, result):
        if self.enabled:
            self._show("mimic.label: %d rows in %d shard%s -> %s (the teacher labelled %d rows, "
                       "%.0f rows/s, in %.1f s; %d kept from an earlier run)"
                       % (result.rows, result.n_shards, "s" if result.n_shards != 1 else "",
                          result.manifest, result.teacher_rows,
                          result.teacher_rows / result.seconds if result.seconds > 0 else 0.0,
                          result.seconds, result.kept_shards), "\n")


# ---- the output directory --------------------------------------------------------------------


def _lock(out_dir):
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise RuntimeError("%s: another mimic.label is writing to this directory"
                               % out_dir) from None
        raise
    return fd


def _ours(out_dir, temporary_only=False):
    """Files of a labelling job in out_dir: temporary files of the writers, and unless
    temporary_only the shards, the manifest and the state file."""
    patterns = ["shard-*.npy.tmp.*", MANIFEST + ".tmp.*", STATE + ".tmp"]
    if not temporary_only:
        patterns += ["shard-*.npy", MANIFEST, STATE]
    return sorted(set(p for pat in patterns for p in glob.glob(os.path.join(out_dir, pat))))


def _remove(paths):
    for p in paths:
        try:
            os.remove(p)
        except FileNotFoundError:
            pass


def _write_state(out_dir, state):
    path = os.path.join(out_dir, STATE)
    with open(path + ".tmp", "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


#: The state keys that must agree with an earlier run's, and their argument names.
_STATE_ARGS = (("shard_rows", "shard_rows"), ("dtype", "dtype"),
               ("input_dtype", "the inputs' dtype"), ("row_shape", "the inputs' row shape"),
               ("labels", "labels given"), ("rows", "the inputs' rows"),
               ("first_row", "the inputs' first row"), ("last_row", "the inputs' last row"))
#: The keys an iterable's run knows only at its end.
_LATER = ("rows", "last_row")


def _different(out_dir, what):
    return ValueError("%s holds a labelling job of other inputs or parameters (%s): pass "
                      "overwrite=True to start over, or use another out_dir"
                      % (out_dir, what))


def _check_state(out_dir, old, new):
    """Raise when the job recorded in out_dir is not this one; keys either side does not
    know yet (rows and last row of an iterable) are compared later."""
    if old.get("format") != STATE_FORMAT or old.get("version") != STATE_VERSION:
        raise _different(out_dir, "%s is not a version %d %s file"
                         % (STATE, STATE_VERSION, STATE_FORMAT))
    diffs = []
    for key, name in _STATE_ARGS:
        there, here = old.get(key), new[key]
        if key in _LATER and (there is None or here is None):
            continue
        if there != here:
            diffs.append("%s: %s there, %s here" % (name, _show(there), _show(here)))
    if diffs:
        raise _different(out_dir, "; ".join(diffs))


def _show(value):
    return "%s..." % value[:8] if isinstance(value, str) and len(value) == 32 else str(value)


# ---- shards ----------------------------------------------------------------------------------


def _kept_shard(out_dir, k, roles, input_dtype, n_inputs, dtype):
    """The complete shard k of an earlier run as a Dataset (the library checks that its
    files agree: rows, finite logits, labels), or None when any file is missing, unreadable
    or of other types."""
    paths = [os.path.join(out_dir, _shard_file(k, r)) for r in roles]
    if not all(os.path.exists(p) for p in paths):
        return None
    try:
        ds = Dataset.load_npy(paths[0], paths[1], paths[2] if len(paths) > 2 else None)
    except MimicError:
        return None
    if (ds.input_dtype, ds.n_inputs, ds.logits_dtype) != (input_dtype, n_inputs, dtype):
        return None
    return ds


def _label_rows(labels, first, n, classes):
    """labels[first:first + n] as int32, checked: integers in [0, classes), one per row."""
    y = _arrays.as_labels(labels[first:first + n], "labels")
    if len(y) != n:
        raise ValueError("labels: %d entries, but the inputs have more rows (row %d)"
                         % (first + len(y), first + len(y)))
    if n and (int(y.min()) < 0 or int(y.max()) >= classes):
        r = int(np.argmax((y < 0) | (y >= classes)))
        raise ValueError("labels: row %d is %d, not in [0, %d) (the teacher's classes)"
                         % (first + r, y[r], classes))
    return y


def _write_shard(out_dir, k, job, src, first, classes):
    """Label shard k (rows from `first`, at most shard_rows; there is at least one) into its
    files; returns (rows, classes). A shard ends complete under its final names or, on any
    exception, not at all."""
    teacher, batch_size, shard_rows, dtype, labels, transform, progress = job
    paths = {r: os.path.join(out_dir, _shard_file(k, r)) for r in ROLES}
    writers = {"inputs": NpyWriter(paths["inputs"], src.dtype, src.row_shape)}
    closed = []
    try:
        done = 0
        while done < shard_rows:
            x = src.read(min(batch_size, shard_rows - done))
            if not len(x):
                break
            writers["inputs"].append(x)
            z = _logits(teacher(transform(x) if transform is not None else x), len(x),
                        first + done, classes, dtype)
            if classes is None:
                classes = z.shape[1]
            if "logits" not in writers:
                writers["logits"] = NpyWriter(paths["logits"], dtype, (classes,))
                if labels is not None:
                    writers["labels"] = NpyWriter(paths["labels"], np.int32, ())
            writers["logits"].append(z)
            if labels is not None:
                writers["labels"].append(_label_rows(labels, first + done, len(x), classes))
            done += len(x)
            progress.add(labelled=len(x))
        for role in ("inputs", "labels", "logits"):
            if role in writers:
                writers[role].close()
                closed.append(paths[role])
        return done, classes
    except BaseException:
        for w in writers.values():
            w.abort()
        _remove(closed)
        raise


def label(teacher, inputs, out_dir, batch_size=256, dtype="float16", shard_rows=65536,
          progress=True, labels=None, overwrite=False, transform=None):
    """Run `teacher` over `inputs` and write a transfer set to `out_dir`: shards
    shard-00000.inputs.npy, shard-00000.logits.npy (+ shard-00000.labels.npy with `labels`),
    ..., then out_dir/manifest.json, last. Returns a LabelResult (os.fspath of it is the
    manifest: Dataset.load_manifest(mimic.label(...)) works).

    teacher: a torch.nn.Module (run in eval mode under torch.no_grad() on
      torch.from_numpy(batch), moved to the module's device; its training mode is restored
      afterwards), an ONNX Runtime InferenceSession (its first input gets the batch), or
      any function of a NumPy batch returning rows x classes logits (NumPy, or a tensor:
      e.g. lambda b: sess.run(None, {"x": b})[0]). It gets the rows as they are stored.
    inputs: an array or np.memmap (rows x ..., any number of dimensions: N x H x W images
      stay N x H x W in the shards, so Dataset.image_shape knows them), anything with
      .shape and slicing (mimic.transfer.images), or an iterable of batches (rows x ..., any
      sizes; the row count is its n_rows attribute when it has one, else known at the end).
      uint8 and float32 rows are stored as they are, other real types as float32.
    batch_size: rows per teacher call (a shard's last batch may be smaller).
    dtype: "float16" (default: half the bytes; a logit keeps about 1e-3 relative; values
      beyond +-65504 are an error) or "float32".
    shard_rows: rows per shard file (the last shard may have fewer).
    progress: lines on stderr (rows, rows/s, ETA when the row count is known), at most one a
      second; False: none.
    labels: optional integers, one per input row (an array; stored as int32), in
      [0, classes).
    overwrite: remove an earlier job's files from out_dir first.
    transform: optional function of a stored batch giving what the teacher gets (e.g.
      lambda b: b.astype(np.float32) / 255); the shards keep the untransformed rows.

    Resuming: rerun the same call after a crash, an exception or Ctrl-C. Complete shards
    (every file under its final name, rows as expected, first and last input rows equal to
    the inputs') are kept and the teacher is not called for their rows; an incomplete shard
    is discarded and redone, so the files end byte-identical to an uninterrupted run's (with
    the same batch_size: the teacher sees the same batches).
    out_dir/label-state.json records the job (shard_rows, dtype, the inputs' dtype, row
    shape and row count, a fingerprint of their first and last rows, whether labels were
    given): a rerun with other parameters or inputs is a ValueError naming what differs
    (overwrite=True starts over). batch_size, progress and transform may change. One job
    writes to a directory at a time (a second gets RuntimeError).

    Raises ValueError for a teacher output that is not rows x classes with the same classes
    every batch, or holds NaN or Inf (naming the rows), TypeError for bad argument types,
    MimicError from the library's writers (e.g. a full disk: IO).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
            batch_size < 1:
        raise ValueError("batch_size: must be an int >= 1, not %r" % (batch_size,))
    if isinstance(shard_rows, bool) or not isinstance(shard_rows, (int, np.integer)) or \
            shard_rows < 1:
        raise ValueError("shard_rows: must be an int >= 1, not %r" % (shard_rows,))
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = repr(dtype)
    if name not in LOGIT_DTYPES:
        raise ValueError("dtype: \"float16\" or \"float32\", not %s" % name)
    dtype = LOGIT_DTYPES[name]
    if transform is not None and not callable(transform):
        raise TypeError("transform: a function of a batch, not %s" % type(transform).__name__)
    if labels is not None and not hasattr(labels, "__getitem__"):
        raise TypeError("labels: an array of integers, not %s" % type(labels).__name__)
    teacher = _Teacher(teacher)
    src = _source(inputs)
    if labels is not None and src.n_rows is not None and len(labels) != src.n_rows:
        raise ValueError("labels: %d entries, inputs %d rows" % (len(labels), src.n_rows))
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    roles = ROLES if labels is not None else ROLES[:2]
    last = src.last_row() if src.n_rows is not None else None
    state = {"format": STATE_FORMAT, "version": STATE_VERSION, "shard_rows": int(shard_rows),
             "dtype": dtype.name, "input_dtype": src.dtype.name,
             "row_shape": list(src.row_shape), "labels": labels is not None,
             "rows": src.n_rows, "first_row": _fingerprint(src.first_row()),
             "last_row": _fingerprint(last) if last is not None else None}
    lock = _lock(out_dir)
    try:
        _remove(_ours(out_dir, temporary_only=not overwrite))
        state_path = os.path.join(out_dir, STATE)
        if os.path.exists(state_path):
            with open(state_path) as f:
                try:
                    old = json.load(f)
                except ValueError:
                    old = {}
            _check_state(out_dir, old, state)
            state = {k: state[k] if state[k] is not None else old.get(k) for k in state}
        elif _ours(out_dir):
            raise _different(out_dir, "shard files or a manifest, and no %s" % STATE)
        _write_state(out_dir, state)
        return _run(out_dir, state, teacher, src, roles, batch_size, shard_rows, dtype, labels,
                    transform, progress)
    finally:
        os.close(lock)


def _run(out_dir, state, teacher, src, roles, batch_size, shard_rows, dtype, labels, transform,
         show):
    progress = _Progress(bool(show), state["rows"])
    n_inputs = int(np.prod(src.row_shape))
    classes = None
    shards = []  # (rows, kept) per shard
    first = 0
    manifest = os.path.join(out_dir, MANIFEST)
    with teacher:
        while not src.exhausted():
            k = len(shards)
            kept = _kept_shard(out_dir, k, roles, src.dtype, n_inputs, dtype)
            if kept is not None and (classes is None or kept.n_classes == classes) and \
                    _keep(kept, src, first, shard_rows, labels, out_dir, k):
                classes = kept.n_classes
                shards.append((len(kept), True))
                first += len(kept)
                progress.add(kept=len(kept))
                continue
            _remove(os.path.join(out_dir, _shard_file(k, r)) for r in ROLES)
            _remove([manifest])
            rows, classes = _write_shard(
                out_dir, k, (teacher, batch_size, shard_rows, dtype, labels, transform, progress),
                src, first, classes)
            shards.append((rows, False))
            first += rows
    _finish_state(out_dir, state, src, first, labels)
    with ManifestWriter(manifest) as m:
        for k in range(len(shards)):
            m.add(*[_shard_file(k, r) for r in roles])
    result = LabelResult(manifest, first, len(shards), classes,
                         sum(1 for _, kept in shards if kept),
                         sum(rows for rows, kept in shards if not kept),
                         _clock() - progress.t0)
    progress.finish(result)
    return result


def _keep(kept, src, first, shard_rows, labels, out_dir, k):
    """True when the earlier run's shard k holds the next rows of `src` (its rows are
    skipped then); a full shard, or the last one. Its first and last input rows (and its
    labels) must equal the inputs': otherwise the inputs changed, a ValueError."""
    n = len(kept)
    if n > shard_rows or (n < shard_rows and src.n_rows is not None
                          and first + n != src.n_rows):
        return False
    a, b, got = src.skip(n)
    same = got == n and np.array_equal(kept.inputs(0, 1), a.reshape(1, -1)) and \
        np.array_equal(kept.inputs(n - 1, n), b.reshape(1, -1))
    if same and labels is not None:
        same = np.array_equal(kept.labels(), np.asarray(labels[first:first + n]))
    if not same:
        raise _different(out_dir, "%s holds other rows than the inputs' rows %d to %d"
                         % (_shard_file(k, "inputs"), first, first + n - 1))
    if n < shard_rows and not src.exhausted():
        raise _different(out_dir, "%s ends the set at row %d, the inputs go on"
                         % (_shard_file(k, "inputs"), first + n))
    return True


def _finish_state(out_dir, state, src, rows, labels):
    """Check the row count against an iterable's n_rows and an earlier run's, and record it
    with the last row's fingerprint."""
    if isinstance(src, _IterSource) and src.n_rows is not None and src.n_rows != rows:
        raise ValueError("inputs: n_rows is %d, but the iterable gave %d rows"
                         % (src.n_rows, rows))
    if labels is not None and len(labels) != rows:
        raise ValueError("labels: %d entries, inputs %d rows" % (len(labels), rows))
    last = _fingerprint(src.last_row())
    done = dict(state, rows=rows, last_row=last)
    _check_state(out_dir, state, done)
    if done != state:
        _write_state(out_dir, done)
