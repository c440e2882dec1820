"""The ctypes structs mirror the C structs exactly: sizeof and every field's offset and
size, as a C compiler sees them through the public headers."""

import ctypes
import os
import shutil
import subprocess
import unittest

import _support
from mimic import _lib


def _c_program():
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <mimic.h>", "int main(void)",
             "{"]
    for cname, cls in _lib.STRUCTS.items():
        lines.append('    printf("%s %%zu\\n", sizeof(%s));' % (cname, cname))
        for field, _ in cls._fields_:
            lines.append('    printf("%s.%s %%zu %%zu\\n", offsetof(%s, %s), sizeof(((%s *)0)->%s));'
                         % (cname, field, cname, field, cname, field))
    lines += ["    return 0;", "}"]
    return "\n".join(lines) + "\n"


class TestStructLayout(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or \
            shutil.which("clang")
        if not cc:
            raise unittest.SkipTest("no C compiler (cc/gcc/clang) on PATH to check the layout")
        inc = _support.include_dir()
        if not os.path.exists(os.path.join(inc, "mimic.h")):
            raise unittest.SkipTest("mimic.h not found in %s (set MIMIC_INCLUDE)" % inc)
        cls.layout = {}
        with _support.TempDir() as tmp:
            src = os.path.join(tmp, "layout.c")
            exe = os.path.join(tmp, "layout")
            with open(src, "w") as f:
                f.write(_c_program())
            subprocess.run([cc, "-std=c11", "-I", inc, src, "-o", exe], check=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out = subprocess.run([exe], check=True, stdout=subprocess.PIPE).stdout.decode()
        for line in out.splitlines():
            parts = line.split()
            cls.layout[parts[0]] = tuple(int(p) for p in parts[1:])

    def test_sizeof(self):
        for cname, cls in _lib.STRUCTS.items():
            with self.subTest(struct=cname):
                self.assertEqual(ctypes.sizeof(cls), self.layout[cname][0])

    def test_fields(self):
        for cname, cls in _lib.STRUCTS.items():
            for field, _ in cls._fields_:
                with self.subTest(field=cname + "." + field):
                    desc = getattr(cls, field)
                    self.assertEqual((desc.offset, desc.size), self.layout[cname + "." + field])

    def test_no_field_missing(self):
        # The C side lists exactly the fields the ctypes side has: a field added to a C
        # struct grows sizeof, which test_sizeof catches; this pins the count as well.
        for cname, cls in _lib.STRUCTS.items():
            with self.subTest(struct=cname):
                last = cls._fields_[-1][0]
                off, size = self.layout[cname + "." + last]
                self.assertLessEqual(ctypes.sizeof(cls) - (off + size), 7)


class TestOptionsInit(unittest.TestCase):
    def test_defaults_from_library(self):
        o = _lib.TrainOptions()
        _lib.lib.mimic_train_options_init(ctypes.byref(o), ctypes.sizeof(o))
        self.assertEqual(o.struct_size, ctypes.sizeof(o))
        self.assertEqual(o.loss, _lib.LOSSES["l2"])
        self.assertEqual(o.schedule, _lib.SCHEDULES["cosine"])
        self.assertEqual(o.epochs, 10)
        self.assertEqual(o.batch_size, 128)
        self.assertAlmostEqual(o.momentum, 0.9)
        self.assertAlmostEqual(o.temperature, 4.0)
        s = _lib.StudentOptions()
        _lib.lib.mimic_student_options_init(ctypes.byref(s), ctypes.sizeof(s))
        self.assertEqual(s.struct_size, ctypes.sizeof(s))
        self.assertEqual(s.activation, _lib.ACTIVATIONS["relu"])


if __name__ == "__main__":
    unittest.main()
