"""mimic.__version__: libmimic's version, MIMIC_VERSION_MAJOR.MINOR.PATCH of
include/mimic/common.h, the one place it is written (CMake, scripts/test.sh, the build
backend and this module all read it there).

Where it comes from, first found:
  1. mimic/_build_info.py, which the build backend (python/_build_backend/mimic_build.py)
     writes into every wheel it builds: the header is not installed with the package;
  2. the header of the source tree this package sits in (python/../include/mimic/common.h),
     for PYTHONPATH=python and editable installs;
  3. the loaded library's version (a package directory copied out of the tree).

This module imports nothing of the package when loaded: the build backend loads this file
alone, for header_version. The version is computed on first access.
"""

import os
import re

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(os.path.dirname(os.path.dirname(_PACKAGE_DIR)), "include", "mimic",
                      "common.h")


def header_version(path):
    """'MAJOR.MINOR.PATCH' from the MIMIC_VERSION_* defines of the common.h at path."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"^#define MIMIC_VERSION_%s ([0-9]+)[ \t]*$" % part, text, re.M)
        if m is None:
            raise ValueError("%s: no '#define MIMIC_VERSION_%s <number>' line" % (path, part))
        parts.append(m.group(1))
    return ".".join(parts)


def package_version():
    """The package's version: the wheel's, else the source tree's header's, else the
    loaded library's."""
    try:
        from ._build_info import VERSION
        return VERSION
    except ModuleNotFoundError as e:
        if e.name != __package__ + "._build_info":
            raise
    if os.path.isfile(HEADER):
        return header_version(HEADER)
    from . import _lib
    return _lib.lib.mimic_version_string().decode()


def __getattr__(name):
    # `from ._version import __version__` (PEP 562): computed when the package asks for it.
    if name == "__version__":
        return package_version()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
