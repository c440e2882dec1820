"""MimicError and the status codes."""

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
      message      the library's message (mimic_last_error), naming the file or argument
      function     the C function that failed, e.g. "mimic_dataset_load_npy"
    str(err) is "<function>: <status_text>: <message>".
    """

    def __init__(self, status, message, function=""):
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status = status
        self.status_name = _lib.STATUS_NAMES.get(int(status), "MIMIC_ERR_UNKNOWN(%d)" % status)
        self.status_text = _lib.lib.mimic_status_str(int(status)).decode("utf-8", "replace")
        self.message = message
        self.function = function
        text = "%s: %s" % (self.status_text, message) if message else self.status_text
        if function:
            text = "%s: %s" % (function, text)
        super().__init__(text)


def check(status, function):
    """Raise MimicError for a failed call. Must run right after the call, in the same
    thread: the message is the thread's last error."""
    if status != 0:
        raw = _lib.lib.mimic_last_error()
        message = raw.decode("utf-8", "replace") if raw else ""
        raise MimicError(status, message, function)
