"""The loss routines of libmimic (loss.h), on NumPy arrays.

Over N rows of student logits s, teacher logits t and labels y:
  logit_l2:    L = 1/(2N) sum_n ||s_n - t_n||^2             dL/ds = (s - t) / N
  softmax_ce:  L = T^2/N sum_n KL(softmax(t_n/T) || softmax(s_n/T))
                                                          dL/ds = T/N (softmax(s/T) - softmax(t/T))
  hard_ce:     L = 1/N sum_n -log softmax(s_n)[y_n]        dL/ds = (softmax(s) - onehot(y)) / N
Each returns (loss, grad): a Python float and a float32 array shaped like s.
Arrays are converted to C-contiguous float32 (labels to int32) when they are not already;
a 1-D array is one row. Non-finite logits raise MimicError (MIMIC_ERR_NUMERIC).
"""

import ctypes

import numpy as np

from . import _arrays, _lib
from ._errors import check

__all__ = ["logit_l2", "softmax_ce", "hard_ce", "softmax"]


def _rows(x, what):
    a = _arrays.as_float32(x, what)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2:
        raise ValueError("%s: expected a 1-D or 2-D array, got shape %s" % (what, a.shape))
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError("%s: empty array (shape %s)" % (what, a.shape))
    return a


def _pair(student_logits, teacher_logits):
    s = _rows(student_logits, "student_logits")
    t = _rows(teacher_logits, "teacher_logits")
    if s.shape != t.shape:
        raise ValueError("student_logits has shape %s, teacher_logits %s"
                         % (s.shape, t.shape))
    return s, t


def _result(loss, grad, like):
    return loss.value, grad.reshape(np.shape(like))


def logit_l2(student_logits, teacher_logits):
    """Ba & Caruana's logit regression loss and its gradient w.r.t. the student logits."""
    s, t = _pair(student_logits, teacher_logits)
    loss = ctypes.c_double()
    grad = np.empty_like(s)
    check(_lib.lib.mimic_loss_logit_l2(_arrays.fptr(s), _arrays.fptr(t), s.shape[0],
                                       s.shape[1], ctypes.byref(loss), _arrays.fptr(grad)),
          "mimic_loss_logit_l2")
    return _result(loss, grad, student_logits)


def softmax_ce(student_logits, teacher_logits, temperature=4.0):
    """Hinton's distillation loss at temperature T (reported as T^2 * KL) and its gradient."""
    s, t = _pair(student_logits, teacher_logits)
    loss = ctypes.c_double()
    grad = np.empty_like(s)
    check(_lib.lib.mimic_loss_softmax_ce(_arrays.fptr(s), _arrays.fptr(t), s.shape[0],
                                         s.shape[1], float(temperature), ctypes.byref(loss),
                                         _arrays.fptr(grad)),
          "mimic_loss_softmax_ce")
    return _result(loss, grad, student_logits)


def hard_ce(student_logits, labels):
    """Cross-entropy against integer labels in [0, classes) and its gradient."""
    s = _rows(student_logits, "student_logits")
    y = np.asarray(labels)
    if y.ndim == 0:
        y = y.reshape(1)
    y = _arrays.as_labels(y)
    if y.shape[0] != s.shape[0]:
        raise ValueError("labels has %d entries, student_logits %d rows" % (y.shape[0],
                                                                            s.shape[0]))
    loss = ctypes.c_double()
    grad = np.empty_like(s)
    check(_lib.lib.mimic_loss_hard_ce(_arrays.fptr(s), _arrays.iptr(y), s.shape[0], s.shape[1],
                                      ctypes.byref(loss), _arrays.fptr(grad)),
          "mimic_loss_hard_ce")
    return _result(loss, grad, student_logits)


def softmax(logits, temperature=1.0):
    """softmax(logits / temperature) along the last axis (float32, same shape)."""
    z = _rows(logits, "logits")
    out = np.empty_like(z)
    check(_lib.lib.mimic_softmax(_arrays.fptr(z), z.shape[0], z.shape[1], float(temperature),
                                 _arrays.fptr(out)),
          "mimic_softmax")
    return out.reshape(np.shape(logits))
