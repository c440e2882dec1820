"""The package's build backend (python/_build_backend/mimic_build.py) and mimic.__version__,
without compiling libmimic: the version comes from include/mimic/common.h, the wheel's
METADATA and RECORD, the sdist's C sources, the TOML reader for Pythons without tomllib, and
errors that say what to install. The real builds and installs are the `wheel` step of
scripts/test.sh (tests/wheel/run.sh)."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
import zipfile
from unittest import mock

import _support
import mimic

BACKEND = os.path.join(_support.PYTHON_DIR, "_build_backend", "mimic_build.py")
HEADER = os.path.join(_support.REPO, "include", "mimic", "common.h")
_loaded = []


def load_module(path):
    """The module at path, loaded afresh under a name of its own."""
    _loaded.append(path)
    spec = importlib.util.spec_from_file_location("mimic_test_module_%d" % len(_loaded), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_tree(root, version="7.8.9", c_sources=True):
    """The repository's python/ side under root (and, with c_sources, its CMake sources
    with a common.h that says version); root/python."""
    py = os.path.join(root, "python")
    ignore = shutil.ignore_patterns("__pycache__", "libmimic.so*", "_build_info.py")
    for sub in ("mimic", "_build_backend"):
        shutil.copytree(os.path.join(_support.PYTHON_DIR, sub), os.path.join(py, sub),
                        ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(_support.PYTHON_DIR, name), py)
    if c_sources:
        for name in ("CMakeLists.txt", "mimic.pc.in"):
            shutil.copy(os.path.join(_support.REPO, name), root)
        for name in ("cmake", "include", "lib"):
            shutil.copytree(os.path.join(_support.REPO, name), os.path.join(root, name))
        write_header_version(os.path.join(root, "include", "mimic", "common.h"), version)
    return py


def write_header_version(path, version):
    with open(path) as f:
        text = f.read()
    for part, number in zip(("MAJOR", "MINOR", "PATCH"), version.split(".")):
        text = re.sub(r"(?m)^(#define MIMIC_VERSION_%s) [0-9]+$" % part, r"\1 " + number, text)
    with open(path, "w") as f:
        f.write(text)


def fake_build_library(data):
    """A stand-in for build_library that 'builds' a file holding data."""
    def build(source_dir, tmp, major):
        path = os.path.join(tmp, "libmimic.so.%s.0.0" % major)
        with open(path, "wb") as f:
            f.write(data)
        return path
    return build


class TestBackend(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="mimic-backend-")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def backend_in(self, py):
        return load_module(os.path.join(py, "_build_backend", "mimic_build.py"))

    def test_metadata_version_is_the_headers(self):
        backend = self.backend_in(fake_tree(self.tmp, "7.8.9"))
        out = os.path.join(self.tmp, "meta")
        os.mkdir(out)
        self.assertEqual(backend.get_requires_for_build_wheel(), [])
        name = backend.prepare_metadata_for_build_wheel(out)
        self.assertEqual(name, "mimic-7.8.9.dist-info")
        with open(os.path.join(out, name, "METADATA"), encoding="utf-8") as f:
            head, body = f.read().split("\n\n", 1)
        lines = head.splitlines()
        for line in ("Metadata-Version: 2.1", "Name: mimic", "Version: 7.8.9",
                     "Requires-Python: >=3.8", "Requires-Dist: numpy>=1.17",
                     'Requires-Dist: pytest; extra == "test"'):
            self.assertIn(line, lines)
        with open(os.path.join(_support.PYTHON_DIR, "README.md"), encoding="utf-8") as f:
            self.assertEqual(body, f.read())

    def test_this_trees_version(self):
        backend = load_module(BACKEND)
        header = backend.load_version_module(_support.PYTHON_DIR).header_version(HEADER)
        self.assertEqual(backend.Project().version, header)
        self.assertEqual(mimic.__version__, header)

    def test_wheel(self):
        check = load_module(os.path.join(_support.REPO, "tests", "wheel", "check.py"))
        py = fake_tree(self.tmp, "7.8.9")
        backend = self.backend_in(py)
        # a library left in the source package (an editable install's) stays out
        with open(os.path.join(py, "mimic", "libmimic.so.7"), "wb") as f:
            f.write(b"\x7fELF stale")
        library = b"\x7fELF built library"
        backend.build_library = fake_build_library(library)
        out = os.path.join(self.tmp, "dist")
        os.mkdir(out)
        name = backend.build_wheel(out)
        check.check_wheel(os.path.join(out, name), "7.8.9")  # names, METADATA, WHEEL, RECORD
        with zipfile.ZipFile(os.path.join(out, name)) as whl:
            self.assertEqual(whl.read("mimic/libmimic.so.7"), library)
            self.assertIn(b'VERSION = "7.8.9"', whl.read("mimic/_build_info.py"))
            # a wrong RECORD is caught by the check this test relies on
            record = whl.read("mimic-7.8.9.dist-info/RECORD").decode()
        bad = os.path.join(self.tmp, "bad")
        os.mkdir(bad)
        bad_wheel = os.path.join(bad, name)
        with zipfile.ZipFile(os.path.join(out, name)) as src, \
                zipfile.ZipFile(bad_wheel, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename.endswith("RECORD"):
                    data = re.sub(r"(?m)^(mimic/libmimic\.so\.7,sha256=)[^,]*", r"\1AAAA", record)
                dst.writestr(info, data)
        with self.assertRaisesRegex(check.CheckFailed, "libmimic.so.7"):
            check.check_wheel(bad_wheel, "7.8.9")

    def test_sdist_carries_the_c_sources(self):
        backend = self.backend_in(fake_tree(os.path.join(self.tmp, "repo"), "7.8.9"))
        name = backend.build_sdist(self.tmp)
        self.assertEqual(name, "mimic-7.8.9.tar.gz")
        with tarfile.open(os.path.join(self.tmp, name)) as tar:
            names = set(tar.getnames())
            tar.extractall(self.tmp)
        base = "mimic-7.8.9/"
        for want in ("PKG-INFO", "pyproject.toml", "README.md", "mimic/__init__.py",
                     "mimic/_version.py", "_build_backend/mimic_build.py",
                     "libmimic/CMakeLists.txt", "libmimic/mimic.pc.in",
                     "libmimic/include/mimic/common.h", "libmimic/cmake/mimicConfig.cmake.in"):
            self.assertIn(base + want, names)
        for sub in os.listdir(os.path.join(_support.REPO, "lib")):
            self.assertTrue(any(n.startswith(base + "libmimic/lib/" + sub) for n in names), sub)
        self.assertFalse([n for n in names if "__pycache__" in n or "libmimic.so" in n])
        # built from the unpacked sdist, far from any repository: the sources it carries
        unpacked = os.path.join(self.tmp, "mimic-7.8.9")
        project = self.backend_in(unpacked).Project(unpacked)
        self.assertEqual(project.c_source_dir, os.path.join(unpacked, "libmimic"))
        self.assertEqual(project.version, "7.8.9")

    def test_no_c_sources(self):
        backend = self.backend_in(fake_tree(self.tmp, c_sources=False))
        with self.assertRaisesRegex(backend.BuildError, r"libmimic repository \(pip install"):
            backend.prepare_metadata_for_build_wheel(self.tmp)

    def test_pyproject_checks(self):
        py = fake_tree(self.tmp)
        backend = self.backend_in(py)
        path = os.path.join(py, "pyproject.toml")
        with open(path) as f:
            text = f.read()
        for added, message in (('license = "MIT"', "license"),
                               ('version = "1.0.0"', r'dynamic = \["version"\]')):
            with open(path, "w") as f:
                f.write(text.replace('name = "mimic"\n', 'name = "mimic"\n%s\n' % added))
            with self.assertRaisesRegex(backend.BuildError, message):
                backend.Project(py)

    def test_toml_subset(self):
        backend = load_module(BACKEND)
        with open(os.path.join(_support.PYTHON_DIR, "pyproject.toml")) as f:
            text = f.read()
        try:
            import tomllib
        except ModuleNotFoundError:
            tomllib = None
        if tomllib is not None:
            self.assertEqual(backend.parse_toml_subset(text, "p"), tomllib.loads(text))
        self.assertEqual(backend.parse_toml_subset('[a.b]\nk = [\n  "x",  # c\n  "y",\n]\n',
                                                   "p"), {"a": {"b": {"k": ["x", "y"]}}})
        for bad in ("[x]\nk = true\n", "[[x]]\n", "[x]\nk = [\"a\",\n"):
            with self.assertRaises(backend.BuildError):
                backend.parse_toml_subset(bad, "p")

    def test_cmake_args(self):
        backend = load_module(BACKEND)
        with mock.patch.dict(os.environ, {"MIMIC_CMAKE_ARGS": "-DMIMIC_BLAS=Reference "
                                                              "'-DCMAKE_C_FLAGS=-O2 -g'"}):
            command = backend.configure_command("cmake", "SRC", "BUILD")
        self.assertEqual(command[:5], ["cmake", "-S", "SRC", "-B", "BUILD"])
        self.assertIn("-DMIMIC_BUILD_TESTS=OFF", command)
        self.assertIn("-DMIMIC_WITH_MPI=OFF", command)  # the sdist has no mpi/
        self.assertEqual(command[-2:], ["-DMIMIC_BLAS=Reference", "-DCMAKE_C_FLAGS=-O2 -g"])

    def test_errors_name_what_to_install(self):
        backend = load_module(BACKEND)
        empty = os.path.join(self.tmp, "empty")
        os.mkdir(empty)
        with mock.patch.dict(os.environ, {"PATH": empty}):
            with self.assertRaisesRegex(backend.BuildError,
                                        "cmake is not on PATH.*apt-get install cmake gcc "
                                        "libopenblas-dev pkgconf"):
                backend.build_library(_support.REPO, self.tmp, "1")
        if shutil.which("cmake") is None:
            self.skipTest("no cmake: the configure failures need it")
        for env, message in (({"CC": os.path.join(empty, "cc")}, "install gcc"),
                             ({"PKG_CONFIG_LIBDIR": empty, "PKG_CONFIG_PATH": ""},
                              "apt-get install libopenblas-dev")):
            with mock.patch.dict(os.environ, env), \
                    tempfile.TemporaryDirectory(prefix="mimic-backend-") as tmp:
                with self.assertRaisesRegex(backend.BuildError,
                                            "CMake configure step(.|\n)*" + message):
                    backend.build_library(_support.REPO, tmp, "1")


class TestVersion(unittest.TestCase):
    """mimic.__version__: the wheel's _build_info.py, else the source tree's header, else
    the library's."""

    def test_sources(self):
        lib = os.path.realpath(mimic.library_path)
        if not os.path.isfile(lib):
            self.skipTest("the loaded library (%s) is not a file path" % mimic.library_path)
        with _support.TempDir() as tmp:
            py = fake_tree(tmp, "7.8.9", c_sources=False)
            header = os.path.join(tmp, "include", "mimic", "common.h")
            os.makedirs(os.path.dirname(header))
            shutil.copy(HEADER, header)
            write_header_version(header, "7.8.9")

            def version():
                env = dict(os.environ, MIMIC_LIBRARY=lib, PYTHONPATH=py)
                r = subprocess.run([sys.executable, "-c", "import mimic; print(mimic.__version__)"],
                                   env=env, cwd=tmp, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, universal_newlines=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                return r.stdout.strip()

            self.assertEqual(version(), "7.8.9")
            with open(os.path.join(py, "mimic", "_build_info.py"), "w") as f:
                f.write('VERSION = "9.9.9"\n')
            self.assertEqual(version(), "9.9.9")
            os.remove(os.path.join(py, "mimic", "_build_info.py"))
            os.remove(header)
            self.assertEqual(version(), mimic.library_version)


if __name__ == "__main__":
    unittest.main()
