"""How the package finds libmimic: MIMIC_LIBRARY, then a libmimic.so* in the package
directory, then the system loader; version checks. Runs fresh interpreters."""

import os
import shutil
import subprocess
import sys
import unittest

import _support
import mimic


def run_python(code, env_updates, cwd):
    env = dict(os.environ)
    env.pop("MIMIC_LIBRARY", None)
    env.pop("PYTHONPATH", None)
    env.update(env_updates)
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


class TestLoading(unittest.TestCase):
    def test_version(self):
        self.assertEqual(mimic.library_version_number // 10000, 1)
        self.assertEqual(mimic.library_version.split(".")[0], "1")
        self.assertEqual(mimic.__version__.split(".")[0], "1")

    def test_mimic_library_must_load(self):
        with _support.TempDir() as tmp:
            r = run_python("import mimic", {"MIMIC_LIBRARY": os.path.join(tmp, "nope.so"),
                                            "PYTHONPATH": os.path.dirname(
                                                os.path.dirname(mimic.__file__))}, tmp)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ImportError", r.stderr)
        self.assertIn("MIMIC_LIBRARY", r.stderr)
        self.assertIn("nope.so", r.stderr)

    def test_library_next_to_package(self):
        lib = os.path.realpath(mimic.library_path)
        if not os.path.isfile(lib):
            self.skipTest("the loaded library (%s) is not a file path" % mimic.library_path)
        with _support.TempDir() as tmp:
            pkg = os.path.join(tmp, "mimic")
            shutil.copytree(os.path.dirname(mimic.__file__), pkg,
                            ignore=shutil.ignore_patterns("__pycache__", "libmimic.so*"))
            shutil.copy(lib, os.path.join(pkg, "libmimic.so.1"))
            r = run_python("import mimic; print(mimic.library_path)", {"PYTHONPATH": tmp}, tmp)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), os.path.join(pkg, "libmimic.so.1"))
            # MIMIC_LIBRARY still wins over the bundled copy
            r = run_python("import mimic; print(mimic.library_path)",
                           {"PYTHONPATH": tmp, "MIMIC_LIBRARY": lib}, tmp)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), lib)

    def test_system_loader(self):
        lib = os.path.realpath(mimic.library_path)
        if not os.path.isfile(lib):
            self.skipTest("the loaded library (%s) is not a file path" % mimic.library_path)
        with _support.TempDir() as tmp:
            pkg = os.path.join(tmp, "mimic")
            shutil.copytree(os.path.dirname(mimic.__file__), pkg,
                            ignore=shutil.ignore_patterns("__pycache__", "libmimic.so*"))
            libdir = os.path.join(tmp, "lib")
            os.mkdir(libdir)
            shutil.copy(lib, os.path.join(libdir, "libmimic.so.1"))
            ld = libdir + (":" + os.environ["LD_LIBRARY_PATH"]
                           if os.environ.get("LD_LIBRARY_PATH") else "")
            r = run_python("import mimic; print(mimic.library_path, mimic.library_version)",
                           {"PYTHONPATH": tmp, "LD_LIBRARY_PATH": ld}, tmp)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(mimic.library_version, r.stdout)
            # nothing anywhere: a clear ImportError naming the ways to fix it
            r = run_python("import mimic", {"PYTHONPATH": tmp, "LD_LIBRARY_PATH": ""}, tmp)
            if r.returncode == 0:
                self.skipTest("a system-wide libmimic is installed")
            self.assertIn("MIMIC_LIBRARY", r.stderr)


if __name__ == "__main__":
    unittest.main()
