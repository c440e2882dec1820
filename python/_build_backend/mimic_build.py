"""The PEP 517 build backend of the `mimic` Python package (python/pyproject.toml).

Standard library only, and `requires = []`: `pip install ./python` works with pip's default
build isolation and no package index to download a build tool from.

build_wheel compiles libmimic with CMake (Release, the shared library alone: no tests, CLI,
examples or benchmarks) from the C sources -- the repository root (the parent of python/),
or the libmimic/ directory of an sdist -- in a temporary directory, installs it there and
writes a wheel holding:
  - the pure-Python package (python/mimic/);
  - the library as mimic/libmimic.so.<major> (the installed file, no symlink: its SONAME),
    where mimic/_lib.py looks when MIMIC_LIBRARY is not set;
  - mimic/_build_info.py with the version, which mimic/_version.py reads;
  - mimic-<version>.dist-info/ (METADATA 2.1 from pyproject.toml's [project] table with the
    description from python/README.md, WHEEL, top_level.txt, RECORD with sha256 hashes).
The version is libmimic's MIMIC_VERSION_MAJOR.MINOR.PATCH from include/mimic/common.h. The
tag is py3-none-<platform> (e.g. py3-none-linux_x86_64): the wheel holds a native library
but no CPython extension, so one wheel serves every Python 3 on that platform. The library
links the system's OpenBLAS (libopenblas0) dynamically, as a system install would.

build_sdist writes mimic-<version>.tar.gz: the package, pyproject.toml, README.md, this
backend, and under libmimic/ the C sources a wheel is built from (CMakeLists.txt,
mimic.pc.in, cmake/, include/, lib/), so `pip install mimic-<version>.tar.gz` builds where
the repository is not.

build_editable (`pip install -e ./python`) compiles the library the same way, copies it
into the source package directory (python/mimic/libmimic.so.<major>, ignored by git) and
installs a .pth file that puts python/ on sys.path: edits of the Python files take effect
at once, edits of the C sources after another `pip install -e ./python`.

Environment: MIMIC_CMAKE_ARGS, extra arguments for CMake's configure step in shell syntax
(e.g. "-DMIMIC_BLAS=Reference" for Debian's reference CBLAS); CMAKE_BUILD_PARALLEL_LEVEL,
the number of compile jobs (default: one per CPU); SOURCE_DATE_EPOCH, the time stamp of
the archives' entries (default: now).
"""

import ast
import base64
import csv
import hashlib
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import zipfile

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "mimic"
BACKEND_DIR = "_build_backend"
# What CMake needs to build the library alone; an sdist carries these under SDIST_C_DIR.
C_SOURCES = ("CMakeLists.txt", "mimic.pc.in", "cmake", "include", "lib")
SDIST_C_DIR = "libmimic"
HEADER = os.path.join("include", "mimic", "common.h")
BUILD_INFO = "_build_info.py"
APT_PACKAGES = "cmake gcc libopenblas-dev pkgconf"
# The [project] keys this backend turns into metadata; any other is refused, not dropped.
PROJECT_KEYS = ("name", "dynamic", "description", "readme", "requires-python",
                "dependencies", "optional-dependencies", "classifiers")


class BuildError(Exception):
    """The package cannot be built; the message says why and what to do."""


# ---- the PEP 517 / PEP 660 hooks ---------------------------------------------------------


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    project = Project()
    dist_info = os.path.join(metadata_directory, project.dist_info)
    os.makedirs(dist_info, exist_ok=True)
    for name, data in project.dist_info_files():
        with open(os.path.join(dist_info, name), "wb") as f:
            f.write(data)
    return project.dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = Project()
    with tempfile.TemporaryDirectory(prefix="mimic-build-") as tmp:
        library = build_library(project.c_source_dir, tmp, project.major)
        with open(library, "rb") as f:
            library_data = f.read()
    files = [("%s/%s" % (PACKAGE, name), read_file(path), False)
             for name, path in package_files(os.path.join(PYTHON_DIR, PACKAGE))]
    files.append(("%s/%s" % (PACKAGE, BUILD_INFO), project.build_info(), False))
    files.append(("%s/%s" % (PACKAGE, project.library_name), library_data, True))
    return write_wheel(wheel_directory, project, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    project = Project()
    target = os.path.join(PYTHON_DIR, PACKAGE, project.library_name)
    with tempfile.TemporaryDirectory(prefix="mimic-build-") as tmp:
        library = build_library(project.c_source_dir, tmp, project.major)
        # Replaced in one step: a running process keeps the file it mapped.
        shutil.copyfile(library, target + ".tmp")
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)
    pth = ("__editable__.%s.pth" % project.dist_name, (PYTHON_DIR + "\n").encode(), False)
    return write_wheel(wheel_directory, project, [pth])


def build_sdist(sdist_directory, config_settings=None):
    project = Project()
    base = "%s-%s" % (project.dist_name, project.version)
    members = [("PKG-INFO", project.metadata())]
    for name in ("pyproject.toml", "README.md"):
        members.append((name, read_file(os.path.join(PYTHON_DIR, name))))
    for sub in (PACKAGE, BACKEND_DIR):
        members += [("%s/%s" % (sub, name), read_file(path))
                    for name, path in package_files(os.path.join(PYTHON_DIR, sub))]
    for entry in C_SOURCES:
        path = os.path.join(project.c_source_dir, entry)
        if os.path.isdir(path):
            members += [("%s/%s/%s" % (SDIST_C_DIR, entry, name), read_file(p))
                        for name, p in tree_files(path)]
        else:
            members.append(("%s/%s" % (SDIST_C_DIR, entry), read_file(path)))
    filename = base + ".tar.gz"
    mtime = int(timestamp())
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz",
                      format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo("%s/%s" % (base, name))
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            tar.addfile(info, io.BytesIO(data))
    return filename


# ---- the project: metadata from pyproject.toml, version from the header -------------------


class Project:
    """pyproject.toml's [project] table, the C sources and the version they give."""

    def __init__(self, python_dir=PYTHON_DIR):
        self.python_dir = python_dir
        path = os.path.join(python_dir, "pyproject.toml")
        self.table = read_pyproject(path).get("project", {})
        if self.table.get("dynamic") != ["version"] or "version" in self.table:
            raise BuildError('%s: [project] must say dynamic = ["version"] and give no version:'
                             " the version is libmimic's, from %s" % (path, HEADER))
        unknown = sorted(set(self.table) - set(PROJECT_KEYS))
        if unknown:
            raise BuildError("%s: [project] %s: not supported by %s, which reads only %s"
                             % (path, ", ".join(unknown), __file__, ", ".join(PROJECT_KEYS)))
        self.name = self.table["name"]
        self.dist_name = re.sub(r"[-_.]+", "_", self.name).lower()
        self.c_source_dir = find_c_sources(python_dir)
        self.version = load_version_module(python_dir).header_version(
            os.path.join(self.c_source_dir, HEADER))
        self.major = self.version.split(".")[0]
        self.library_name = "libmimic.so.%s" % self.major
        self.dist_info = "%s-%s.dist-info" % (self.dist_name, self.version)
        self.tag = "py3-none-" + re.sub(r"[^A-Za-z0-9]", "_", sysconfig.get_platform())

    def metadata(self):
        t = self.table
        fields = [("Metadata-Version", "2.1"), ("Name", self.name), ("Version", self.version),
                  ("Summary", t["description"])]
        if "requires-python" in t:
            fields.append(("Requires-Python", t["requires-python"]))
        fields += [("Classifier", c) for c in t.get("classifiers", [])]
        fields += [("Requires-Dist", d) for d in t.get("dependencies", [])]
        for extra, deps in t.get("optional-dependencies", {}).items():
            fields.append(("Provides-Extra", extra))
            for dep in deps:
                req, _, marker = dep.partition(";")
                marker = "(%s) and " % marker.strip() if marker.strip() else ""
                fields.append(("Requires-Dist", '%s; %sextra == "%s"'
                               % (req.strip(), marker, extra)))
        body = ""
        if "readme" in t:
            readme = t["readme"]
            kind = "text/markdown" if readme.endswith(".md") else "text/plain"
            fields.append(("Description-Content-Type", kind))
            body = read_file(os.path.join(self.python_dir, readme)).decode("utf-8")
        head = "".join("%s: %s\n" % (k, v) for k, v in fields)
        return (head + "\n" + body).encode("utf-8")

    def dist_info_files(self):
        wheel = ("Wheel-Version: 1.0\nGenerator: %s (%s)\nRoot-Is-Purelib: false\nTag: %s\n"
                 % (os.path.basename(__file__), self.name, self.tag))
        return [("METADATA", self.metadata()), ("WHEEL", wheel.encode()),
                ("top_level.txt", (PACKAGE + "\n").encode())]

    def build_info(self):
        return ("# Written by python/%s/%s when this wheel was built, from %s.\n"
                'VERSION = "%s"\n' % (BACKEND_DIR, os.path.basename(__file__), HEADER,
                                      self.version)).encode()


def find_c_sources(python_dir):
    """The directory holding libmimic's C sources: an sdist's libmimic/, else the repository
    root (python/..)."""
    roots = (os.path.join(python_dir, SDIST_C_DIR), os.path.dirname(python_dir))
    for root in roots:
        if all(os.path.exists(os.path.join(root, e)) for e in C_SOURCES):
            return root
    raise BuildError(
        "libmimic's C sources (%s) are in neither %s. The package is built with its C "
        "library: build it from the libmimic repository (pip install ./python) or from an "
        "sdist made there, which carries them under %s/."
        % (", ".join(C_SOURCES), " nor ".join(roots), SDIST_C_DIR))


def load_version_module(python_dir):
    """mimic/_version.py, loaded alone (importing the package would load the library)."""
    path = os.path.join(python_dir, PACKAGE, "_version.py")
    spec = importlib.util.spec_from_file_location("_mimic_build_version", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_pyproject(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        return parse_toml_subset(text, path)
    return tomllib.loads(text)


def parse_toml_subset(text, path):
    """The TOML pyproject.toml is written in, for Pythons without tomllib: [dotted.tables],
    bare keys, and values that are basic strings or arrays of them (over several lines if
    need be); comments. Anything else is a BuildError, never a guess."""
    root, key, pending, start = {}, None, "", 0
    table = root
    for number, line in enumerate(text.splitlines(), 1):
        if key is None:
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            header = re.fullmatch(r"\[([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\]", stripped)
            if header:
                table = root
                for part in header.group(1).split("."):
                    table = table.setdefault(part, {})
                continue
            m = re.fullmatch(r"([A-Za-z0-9_-]+)\s*=\s*(.*)", stripped)
            if m is None:
                raise BuildError("%s:%d: not TOML this backend reads without tomllib: %s"
                                 % (path, number, stripped))
            key, pending, start = m.group(1), m.group(2), number
        else:
            pending += "\n" + line
        try:
            value = ast.literal_eval(pending)
        except (SyntaxError, ValueError):
            if pending.count("[") > pending.count("]"):
                continue  # an array going on over the next lines
            raise BuildError("%s:%d: not TOML this backend reads without tomllib: %s"
                             % (path, start, pending)) from None
        if not (isinstance(value, str) or (isinstance(value, list)
                                           and all(isinstance(v, str) for v in value))):
            raise BuildError("%s:%d: only strings and arrays of strings are read without "
                             "tomllib: %s" % (path, start, pending))
        table[key] = value
        key = None
    if key is not None:
        raise BuildError("%s:%d: unterminated value of %s" % (path, start, key))
    return root


# ---- building the library ------------------------------------------------------------------


def build_library(source_dir, tmp, major):
    """Configure, build and install libmimic from source_dir under tmp; the path of the
    installed shared object (the real file libmimic.so.<major> points to)."""
    cmake = shutil.which("cmake")
    if cmake is None:
        raise BuildError("cmake is not on PATH: building the mimic package compiles libmimic "
                         "with CMake >= 3.18 and a C compiler against OpenBLAS (Debian/Ubuntu: "
                         "apt-get install %s)" % APT_PACKAGES)
    build, prefix = os.path.join(tmp, "build"), os.path.join(tmp, "prefix")
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
    for what, command in (("configure", configure_command(cmake, source_dir, build)),
                          ("compile", [cmake, "--build", build, "--parallel", jobs]),
                          ("install", [cmake, "--install", build, "--prefix", prefix])):
        run_step(what, command)
    link = os.path.join(prefix, "lib", "libmimic.so.%s" % major)
    if not os.path.exists(link):
        raise BuildError("the CMake build installed no %s (under %s)" % (link, prefix))
    return os.path.realpath(link)


def configure_command(cmake, source_dir, build):
    """CMake's configure command line: Release, the shared library only (no MPI adapter: the
    sdist carries no mpi/, and mimic.Collective takes any all-reduce), lib/ under the prefix;
    MIMIC_CMAKE_ARGS last, so they override."""
    return ([cmake, "-S", source_dir, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
             "-DMIMIC_BUILD_SHARED=ON", "-DMIMIC_BUILD_STATIC=OFF", "-DMIMIC_BUILD_TESTS=OFF",
             "-DMIMIC_BUILD_CLI=OFF", "-DMIMIC_BUILD_EXAMPLES=OFF", "-DMIMIC_BUILD_BENCH=OFF",
             "-DMIMIC_WITH_MPI=OFF", "-DMIMIC_INSTALL=ON", "-DCMAKE_INSTALL_LIBDIR=lib"]
            + shlex.split(os.environ.get("MIMIC_CMAKE_ARGS", "")))


# What a failed CMake run's output means, and what to install (Debian package names).
FAILURE_HINTS = (
    (r"CMAKE_C_COMPILER not set|No CMAKE_C_COMPILER could be found|"
     r"is not a full path to an existing compiler|The C compiler\b.*\bis not able to compile",
     "no working C compiler: install gcc (apt-get install gcc) or set CC to one"),
    (r"Could NOT find PkgConfig",
     "pkg-config is missing: it finds OpenBLAS (apt-get install pkgconf)"),
    (r"No package 'openblas' found|Package 'openblas'.* not found|cblas\.h: No such file",
     "OpenBLAS's CBLAS is missing (apt-get install libopenblas-dev; or Debian's reference "
     "CBLAS: apt-get install libblas-dev and MIMIC_CMAKE_ARGS=-DMIMIC_BLAS=Reference)"),
    (r"CMake ([0-9.]+) or higher is required",
     "this CMake is too old: libmimic needs CMake >= 3.18"),
)


def run_step(what, command):
    """Run one CMake command, its output passed on (pip shows it with -v, or on failure); a
    failure is a BuildError saying, when the output tells, what to install."""
    shown = " ".join(shlex.quote(c) for c in command)
    print("mimic_build: %s: %s" % (what, shown), flush=True)
    output = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, universal_newlines=True,
                          errors="replace") as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            output.append(line)
    sys.stdout.flush()
    if proc.returncode == 0:
        return
    text = "".join(output)
    hints = [hint for pattern, hint in FAILURE_HINTS if re.search(pattern, text)]
    raise BuildError(
        "building libmimic failed at the CMake %s step (exit status %d; its output is above):"
        "\n  %s\n%sThe mimic package compiles libmimic: it needs CMake, a C compiler, "
        "pkg-config and OpenBLAS (Debian/Ubuntu: apt-get install %s)."
        % (what, proc.returncode, shown, "".join("-> %s\n" % h for h in hints), APT_PACKAGES))


# ---- files and archives --------------------------------------------------------------------


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def tree_files(root):
    """(name relative to root with '/', path) of every file under root, sorted; hidden files
    and Python caches left out."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(dirpath, name)
            out.append((os.path.relpath(path, root).replace(os.sep, "/"), path))
    return sorted(out)


def package_files(root):
    """tree_files of a package directory without what builds put there: a copy of the
    library (an editable install's) and the wheel's _build_info.py."""
    return [(name, path) for name, path in tree_files(root)
            if not re.fullmatch(r"(.*/)?libmimic\.so.*|" + re.escape(BUILD_INFO), name)]


def timestamp():
    """SOURCE_DATE_EPOCH if set, else now; never before 1980 (zip's epoch)."""
    return max(float(os.environ.get("SOURCE_DATE_EPOCH") or time.time()), 315532800.0)


def record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def write_wheel(wheel_directory, project, files):
    """Write the wheel of files ((name, bytes, executable)) plus the .dist-info; its name."""
    filename = "%s-%s-%s.whl" % (project.dist_name, project.version, project.tag)
    files = list(files) + [("%s/%s" % (project.dist_info, name), data, False)
                           for name, data in project.dist_info_files()]
    record_name = "%s/RECORD" % project.dist_info
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    date_time = time.gmtime(timestamp())[:6]

    def add(name, data, executable):
        info = zipfile.ZipInfo(name, date_time)
        info.external_attr = (0o100755 if executable else 0o100644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        whl.writestr(info, data)

    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as whl:
        for name, data, executable in files:
            add(name, data, executable)
            writer.writerow([name, record_hash(data), len(data)])
        writer.writerow([record_name, "", ""])
        add(record_name, record.getvalue(), False)
    return filename
