"""mimic: compress a deep teacher into a shallow, wide student by regressing on the
teacher's logits (Ba & Caruana, "Do Deep Nets Really Need to be Deep?", 2014), with
Hinton's distillation and hard-label training beside it.

A pure-Python binding (ctypes + NumPy) over the libmimic shared library, found through
the environment variable MIMIC_LIBRARY, then a libmimic.so* next to this package, then
the system loader.

    import mimic
    train = mimic.Dataset(x_train, teacher_logits)          # zero-copy for float32/uint8
    student = mimic.Student(784, 1000, 10, bottleneck=64)
    history = student.fit(train, loss="l2", epochs=10, learning_rate=0.01, standardize=True)
    logits = student.forward(x_test)
    student.save("student.safetensors")
"""

from . import _lib, _options
from . import loss, transfer
from ._errors import MimicError, OptionError, Status
from .dataset import Dataset
from ._label import LabelResult, label
from .distributed import Collective
from .loss import softmax
from .student import TENSOR_NAMES, History, Student, criterion, default_learning_rate
from .trainer import Trainer
from .writers import ManifestWriter, NpyWriter

from ._version import __version__  # libmimic's, from include/mimic/common.h

#: The loaded library: its path (or the name the system loader resolved) and version.
library_path = _lib.library_path
library_version = _lib.lib.mimic_version_string().decode()
library_version_number = _lib.lib.mimic_version_number()

#: The keyword options Student.fit and Trainer take, from the library's option table.
fit_options = tuple(_options.TRAIN_KEYWORDS)

__all__ = ["Dataset", "Student", "Trainer", "History", "MimicError", "OptionError", "Status",
           "NpyWriter", "ManifestWriter", "label", "LabelResult", "transfer",
           "Collective",
           "loss", "softmax", "TENSOR_NAMES", "default_learning_rate", "criterion",
           "fit_options", "library_path", "library_version", "library_version_number",
           "__version__"]
