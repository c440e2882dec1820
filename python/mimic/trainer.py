"""mimic.Trainer: the step-wise trainer (mimic_trainer_*) for users who run their own loop."""

import ctypes
import threading
import weakref

from . import _arrays, _lib
from ._errors import check
from .student import Student, _progress_dict, _Run, _report_dict

__all__ = ["Trainer"]


def _free(handle, student):
    _lib.lib.mimic_trainer_free(handle)
    student._fit_thread = None
    student._fit_lock.release()


class Trainer:
    """Trainer(student, dataset, **options): a training run you drive yourself.

    Takes the same keyword options as Student.fit (loss, epochs, learning_rate,
    validation, progress, checkpoint, ...: the library's option table), checked the same
    way: unknown names are a TypeError, refused values and options the others make
    meaningless an OptionError naming the argument. Creating it fits `standardize` and the
    target statistics and allocates every workspace; then

      step()          one optimizer step on the next minibatch -> its loss (float)
      epoch()         the rest of the current epoch, then validation, early stopping,
                      checkpoint and the progress callback -> the epoch's record (the dict
                      fit's history holds)
      save_checkpoint(path) / load_checkpoint(path)   bitwise-resumable state
      report          what was done so far (as History.report)
      close()         release the trainer (also on `with`-exit and garbage collection)

    The student belongs to the trainer until close(): reading it (forward, evaluate,
    tensors...) from the thread that created the trainer is fine; other threads and fit()
    get RuntimeError. The trainer keeps the student, datasets and callbacks alive. An
    exception raised in `progress`/`grad_reduce` is re-raised by the step()/epoch() call
    that ran it; a progress callback returning True makes epoch() return normally with
    record["cancelled"] = True.
    """

    def __init__(self, student, dataset, **options):
        if not isinstance(student, Student):
            raise TypeError("student: expected a mimic.Student, got %s" % type(student).__name__)
        self._run = _Run("Trainer", dataset, (), options)
        if not student._fit_lock.acquire(blocking=False):
            raise RuntimeError("Trainer: this Student is already being trained")
        handle = ctypes.c_void_p()
        try:
            check(_lib.lib.mimic_trainer_create(ctypes.byref(handle), student.handle,
                                                dataset.handle, ctypes.byref(self._run.options)),
                  "mimic_trainer_create", self._run.translate)
        except BaseException:
            student._fit_lock.release()
            raise
        student._fit_thread = threading.get_ident()
        self._handle = handle
        self.student = student
        self.dataset = dataset
        self._finalizer = weakref.finalize(self, _free, handle, student)

    def _live(self):
        if not self._finalizer.alive:
            raise ValueError("this Trainer is closed")
        return self._handle

    def step(self):
        """One optimizer step; returns its loss. MimicError (MIMIC_ERR_MISUSE) once all
        epochs are done."""
        loss = ctypes.c_double()
        status = _lib.lib.mimic_trainer_step(self._live(), ctypes.byref(loss))
        self._run.reraise()
        check(status, "mimic_trainer_step", self._run.translate)
        return loss.value

    def epoch(self):
        """Finish the current epoch (validation, early stopping, checkpoint, callback);
        returns its record, with "cancelled": True when the progress callback asked to
        stop."""
        p = _lib.Progress()
        p.struct_size = ctypes.sizeof(p)
        self._run.state["stop"] = False
        status = _lib.lib.mimic_trainer_epoch(self._live(), ctypes.byref(p))
        self._run.reraise()
        cancelled = status == _lib.ERR_CANCELLED and self._run.stopped()
        if not cancelled:
            check(status, "mimic_trainer_epoch", self._run.translate)
        rec = _progress_dict(p, self._run.eval_train)
        rec["cancelled"] = cancelled
        return rec

    def save_checkpoint(self, path):
        check(_lib.lib.mimic_trainer_save_checkpoint(self._live(), _arrays.fspath(path)),
              "mimic_trainer_save_checkpoint")

    def load_checkpoint(self, path):
        """Restore a checkpoint of the same run (options, architecture, data); a failed
        load leaves the trainer as it was."""
        check(_lib.lib.mimic_trainer_load_checkpoint(self._live(), _arrays.fspath(path)),
              "mimic_trainer_load_checkpoint")

    @property
    def report(self):
        r = _lib.TrainReport()
        _lib.lib.mimic_train_report_init(ctypes.byref(r), ctypes.sizeof(r))
        check(_lib.lib.mimic_trainer_get_report(self._live(), ctypes.byref(r)),
              "mimic_trainer_get_report")
        return _report_dict(r)

    @property
    def closed(self):
        return not self._finalizer.alive

    def close(self):
        """Free the trainer and hand the student back (idempotent)."""
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "Trainer(%r, %r%s)" % (self.student, self.dataset,
                                      ", closed" if self.closed else "")
