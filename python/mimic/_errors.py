"""MimicError, OptionError and the status codes."""

import enum

from . import _lib


class Status(enum.IntEnum):
    """libmimic status codes (common.h). A MimicError's .status is one of these."""
    OK = 0
    INVALID = -1
    RANGE = -2
    SHAPE = -3
    NOMEM = -4
    IO = -5
    FORMAT = -6
    VERSION = -7
    NUMERIC = -8
    CANCELLED = -9
    UNSUPPORTED = -10
    MISUSE = -11
    INTERNAL = -12


class MimicError(Exception):
    """A libmimic call failed.

    Attributes:
      status       the negative status code (a Status member when the code is known)
      status_name  the C constant's name, e.g. "MIMIC_ERR_SHAPE"
      status_text  mimic_status_str(status), e.g. "shape mismatch"
      message      the library's message (mimic_last_error), naming the file or argument;
                   options are named as the Python call spells them ("flip", "image_shape")
      library_message  the message as the library wrote it ("options.flip ...")
      function     the C function that failed, e.g. "mimic_dataset_load_npy"
    str(err) is "<function>: <status_text>: <message>".
    """

    def __init__(self, status, message, function="", library_message=None):
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status = status
        self.status_name = _lib.STATUS_NAMES.get(int(status), "MIMIC_ERR_UNKNOWN(%d)" % status)
        self.status_text = _lib.lib.mimic_status_str(int(status)).decode("utf-8", "replace")
        self.message = message
        self.library_message = message if library_message is None else library_message
        self.function = function
        text = "%s: %s" % (self.status_text, message) if message else self.status_text
        if function:
            text = "%s: %s" % (function, text)
        super().__init__(text)


class OptionError(MimicError, ValueError):
    """A keyword option that was refused: a value outside the library's bounds or choices,
    or a value the other options make meaningless (momentum with the Adam optimizer). Both
    a MimicError (status INVALID) and a ValueError; .arguments names the Python
    arguments at fault, and the message spells them the Python way."""

    def __init__(self, message, arguments, function="", library_message=None,
                 status=Status.INVALID):
        super().__init__(status, message, function, library_message)
        self.arguments = tuple(arguments)


def last_error():
    """The calling thread's last library message (mimic_last_error), decoded."""
    raw = _lib.lib.mimic_last_error()
    return raw.decode("utf-8", "replace") if raw else ""


def check(status, function, translate=None):
    """Raise MimicError for a failed call. Must run right after the call, in the same
    thread: the message is the thread's last error. translate(message) -> message, when
    given, rewrites the library's names of options ("options.flip") the Python way."""
    if status != 0:
        message = last_error()
        raise MimicError(status, translate(message) if translate else message, function,
                         message)
