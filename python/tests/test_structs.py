"""The ctypes structs mirror the C structs exactly: sizeof and every field's offset and
size, as a C compiler sees them through the public headers."""

import ctypes
import os
import shutil
import subprocess
import unittest

import numpy as np

import _support
from mimic import _arrays, _lib


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


class TestOptionsStructsFromTable(unittest.TestCase):
    """The options structs are built from the library's option tables; these checks need
    no C compiler."""

    TABLES = (("train", "mimic_train_options", "TrainOptions", "TRAIN_OPTIONS"),
              ("student", "mimic_student_options", "StudentOptions", "STUDENT_OPTIONS"))

    def test_fields_where_the_library_says(self):
        for kind, cname, cls_name, table_name in self.TABLES:
            cls, table = getattr(_lib, cls_name), getattr(_lib, table_name)
            self.assertEqual(cls._fields_[0][0], "struct_size")
            self.assertEqual(len(cls._fields_), len(table) + 1)
            for opt in table:
                with self.subTest(field=cname + "." + opt.name):
                    desc = getattr(cls, opt.name)
                    self.assertEqual((desc.offset, desc.size), (opt.offset, opt.size))
                    self.assertIs(dict(cls._fields_)[opt.name], _lib.OPTION_CTYPES[opt.type])

    def test_size_is_the_librarys(self):
        # the structs built from the tables are the library's size (mimic_*_options_size)
        for kind, cname, cls_name, table_name in self.TABLES:
            with self.subTest(struct=cname):
                self.assertEqual(_lib.library_sizeof(kind), ctypes.sizeof(getattr(_lib, cls_name)))
        # and the library agrees independently: a larger train options struct with a byte set
        # at that size is refused as from a newer version (MIMIC_ERR_VERSION), one byte less
        # (a field it knows) is not
        size = ctypes.sizeof(_lib.TrainOptions)
        for at, refused in ((size, True), (size - 1, False)):
            buf = (ctypes.c_uint8 * (size + 8))()
            opts = ctypes.cast(buf, ctypes.POINTER(_lib.TrainOptions))
            _lib.lib.mimic_train_options_init(opts, size + 8)
            buf[at] = 1
            status = _lib.lib.mimic_train_option_check_used(opts, b"loss")
            self.assertEqual(status == -7, refused, (at, status))

    def test_init_through_a_larger_buffer(self):
        # mimic_train_options_init on a caller's struct larger than the library's: the
        # defaults land at the table's offsets, struct_size is the caller's, the bytes
        # past the library's struct are zeroed
        size = ctypes.sizeof(_lib.TrainOptions)
        buf = (ctypes.c_uint8 * (size + 64))(*([0xAB] * (size + 64)))
        _lib.lib.mimic_train_options_init(ctypes.cast(buf, ctypes.POINTER(_lib.TrainOptions)),
                                          size + 64)
        o = _lib.TrainOptions.from_buffer(buf)
        self.assertEqual(o.struct_size, size + 64)
        self.assertEqual(bytes(buf[size:]), bytes(64))
        for opt in _lib.TRAIN_OPTIONS:
            if opt.default is not None:
                with self.subTest(field=opt.name):
                    self.assertEqual(getattr(o, opt.name), opt.default)

    def test_layout_checks(self):
        opts = _lib.TRAIN_OPTIONS
        build = _lib.build_options_struct
        ok = build("t", opts, ctypes.sizeof(_lib.TrainOptions))
        self.assertEqual(ctypes.sizeof(ok), ctypes.sizeof(_lib.TrainOptions))
        # a field left out of the table leaves a gap
        i = [o.name for o in opts].index("momentum")
        with self.assertRaises(_lib.OptionLayoutError) as cm:
            build("t", opts[:i] + opts[i + 1:])
        self.assertIn("weight_decay", str(cm.exception))
        self.assertIn("leaves out a field", str(cm.exception))
        self.assertIsInstance(cm.exception, ImportError)
        # a size that is not the type's
        bad = opts[i]._replace(size=4)
        with self.assertRaises(_lib.OptionLayoutError) as cm:
            build("t", opts[:i] + (bad,) + opts[i + 1:])
        self.assertIn("momentum", str(cm.exception))
        # overlapping fields
        bad = opts[i]._replace(offset=opts[i].offset - 8)
        with self.assertRaises(_lib.OptionLayoutError) as cm:
            build("t", opts[:i] + (bad,) + opts[i + 1:])
        self.assertIn("overlap", str(cm.exception))
        # a trailing field the table does not describe: the sizes differ
        with self.assertRaises(_lib.OptionLayoutError) as cm:
            build("t", opts, ctypes.sizeof(_lib.TrainOptions) + 8)
        self.assertIn("disagree", str(cm.exception))
        with self.assertRaises(_lib.OptionLayoutError):
            build("t", opts[:-1], ctypes.sizeof(_lib.TrainOptions))
        # a type this package does not know, a name twice
        with self.assertRaises(_lib.OptionLayoutError):
            build("t", opts[:i] + (opts[i]._replace(type=99),) + opts[i + 1:])
        with self.assertRaises(_lib.OptionLayoutError):
            build("t", opts + (opts[0]._replace(offset=ctypes.sizeof(_lib.TrainOptions)),))

    # The enum names of the releases so far and their values, which callers rely on: a
    # release may add names (a loss, optimizer, schedule, ...), never renumber or drop one.
    RELEASED = {
        ("train", "loss"): ("LOSSES", {"l2": 1, "kd": 2, "labels": 3}),
        ("train", "optimizer"): ("OPTIMIZERS", {"sgd": 1, "adam": 2, "adamw": 3}),
        ("train", "schedule"): ("SCHEDULES", {"constant": 1, "cosine": 2, "step": 3}),
        ("train", "target_norm"): ("TARGET_NORMS",
                                   {"none": 0, "center": 1, "standardize": 2, "auto": 3}),
        ("student", "activation"): ("ACTIVATIONS", {"relu": 1, "sigmoid": 2, "tanh": 3}),
        ("student", "init"): ("INITS", {"uniform": 1, "he": 2}),
    }

    @staticmethod
    def _table_choices(kind, field):
        """name -> value of an ENUM row, asked of the library directly."""
        index = ctypes.c_size_t()
        find = getattr(_lib.lib, "mimic_%s_option_find" % kind)
        choice = getattr(_lib.lib, "mimic_%s_option_choice" % kind)
        if find(field.encode(), ctypes.byref(index)) != 0:
            raise AssertionError("%s options: no row %r" % (kind, field))
        out, k = {}, 0
        name, value = ctypes.c_char_p(), ctypes.c_int32()
        while choice(index.value, k, ctypes.byref(name), ctypes.byref(value)) == 0:
            out[name.value.decode()] = value.value
            k += 1
        return out

    def test_enums_from_the_table(self):
        for (kind, field), (attr, released) in self.RELEASED.items():
            with self.subTest(field=field):
                exposed = getattr(_lib, attr)
                for name, value in released.items():
                    self.assertEqual(exposed.get(name), value,
                                     "_lib.%s[%r] is a released value" % (attr, name))
                # every name of the table, and nothing else, is exposed
                self.assertEqual(exposed, self._table_choices(kind, field))
                self.assertEqual(len(set(exposed.values())), len(exposed), exposed)

    def test_new_prototypes(self):
        crit = _lib.lib.mimic_train_criterion
        self.assertEqual(crit(_lib.LOSSES["l2"]), b"logit_l2")
        self.assertEqual(crit(_lib.LOSSES["kd"]), b"kl")
        self.assertIsNone(crit(99))
        # mimic_evaluate_logits: logits equal to the teacher's give logit_l2 0, agreement 1
        t = np.array([[1, 2, 3], [3, 1, 0]], dtype=np.float32)
        y = np.array([2, 1], dtype=np.int32)
        m = _lib.Metrics()
        _lib.lib.mimic_metrics_init(ctypes.byref(m), ctypes.sizeof(m))
        st = _lib.lib.mimic_evaluate_logits(_arrays.fptr(t), _arrays.fptr(t), _arrays.iptr(y),
                                            2, 3, 1.0, ctypes.byref(m))
        self.assertEqual(st, 0)
        self.assertEqual((m.rows, m.logit_l2, m.agreement, m.accuracy), (2, 0.0, 1.0, 0.5))
        index = ctypes.c_size_t()
        self.assertEqual(_lib.lib.mimic_train_option_find(b"--lr", ctypes.byref(index)), 0)
        # mimic_dataset_memory_init: float32 inputs and logits, int32 labels, our size
        mem = _lib.DatasetMemory()
        _lib.lib.mimic_dataset_memory_init(ctypes.byref(mem), ctypes.sizeof(mem))
        self.assertEqual((mem.struct_size, mem.input_dtype, mem.logits_dtype, mem.labels_dtype),
                         (ctypes.sizeof(mem), _lib.DTYPE_F32, _lib.DTYPE_F32, _lib.DTYPE_I32))
        self.assertEqual(_lib.TRAIN_OPTIONS[index.value].name, "learning_rate")


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
