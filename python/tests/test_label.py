"""mimic.label: shards and the manifest, resuming after an exception, Ctrl-C or a crash,
the checks of the teacher's output and of a rerun's parameters, teachers of each kind."""

import contextlib
import fcntl
import glob
import io
import os
import subprocess
import sys
import types
import unittest
import warnings
from unittest import mock

import numpy as np

import _support
import mimic
from mimic import _label

try:
    import torch
except ImportError:  # Debian: python3-torch
    torch = None

ROWS, SHARD, BATCH = 1000, 300, 64  # shards of 300, 300, 300, 100 rows; 5 batches a shard


def make_inputs(rows=ROWS, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (rows, 4, 5)).astype(np.uint8)


class Teacher:
    """A NumPy teacher (3 classes) that counts its calls and may raise at call `fail_at`."""

    def __init__(self, fail_at=None, exc=RuntimeError, classes=3):
        rng = np.random.default_rng(42)
        self.a = rng.normal(size=(20, 8))
        self.b = rng.normal(size=(8, classes)) * 3
        self.calls = 0
        self.rows = 0
        self.fail_at = fail_at
        self.exc = exc

    def __call__(self, batch):
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.exc("teacher failed at call %d" % self.calls)
        self.rows += len(batch)
        z = batch.reshape(len(batch), -1).astype(np.float64) / 255.0
        return np.tanh(z @ self.a) @ self.b


def run(out, inputs=None, teacher=None, **kw):
    kw.setdefault("batch_size", BATCH)
    kw.setdefault("shard_rows", SHARD)
    kw.setdefault("progress", False)
    return mimic.label(teacher or Teacher(), make_inputs() if inputs is None else inputs, out,
                       **kw)


def files(out):
    """name -> bytes of every file in out."""
    out_files = {}
    for name in sorted(os.listdir(out)):
        with open(os.path.join(out, name), "rb") as f:
            out_files[name] = f.read()
    return out_files


def assert_no_partial_shards(test, out):
    """Every shard has all its files under final names or none; no temporary files."""
    test.assertEqual(glob.glob(os.path.join(out, "*.tmp*")), [])
    names = set(os.listdir(out))
    for k in range(4):
        have = [r for r in ("inputs", "logits") if "shard-%05d.%s.npy" % (k, r) in names]
        test.assertIn(len(have), (0, 2), (k, sorted(names)))


class TestLabel(unittest.TestCase):
    def setUp(self):
        self._tmp = _support.TempDir()
        self.tmp = self._tmp.__enter__()
        self.addCleanup(self._tmp.__exit__, None, None, None)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_shards_and_manifest(self):
        x = make_inputs()
        y = (np.arange(ROWS) % 3).astype(np.uint8)
        teacher = Teacher()
        result = run(self.path("set"), x, teacher, labels=y)
        self.assertEqual(os.fspath(result), self.path("set/manifest.json"))
        self.assertEqual((result.rows, result.n_shards, result.n_classes, result.kept_shards,
                          result.teacher_rows), (ROWS, 4, 3, 0, ROWS))
        self.assertIn("rows=1000", repr(result))
        self.assertEqual(teacher.calls, 3 * 5 + 2)  # batches end at shard ends
        self.assertEqual(sorted(os.listdir(self.path("set"))),
                         sorted(["manifest.json", "label-state.json"] +
                                ["shard-%05d.%s.npy" % (k, r) for k in range(4)
                                 for r in ("inputs", "logits", "labels")]))
        # inputs as given (N x H x W), float16 logits, int32 labels
        first = np.load(self.path("set/shard-00000.inputs.npy"))
        self.assertEqual((first.dtype, first.shape), (np.uint8, (SHARD, 4, 5)))
        np.testing.assert_array_equal(first, x[:SHARD])
        z = np.load(self.path("set/shard-00003.logits.npy"))
        self.assertEqual((z.dtype, z.shape), (np.float16, (100, 3)))
        np.testing.assert_array_equal(z, Teacher()(x[900:]).astype(np.float16))
        self.assertEqual(np.load(self.path("set/shard-00001.labels.npy")).dtype, np.int32)
        ds = mimic.Dataset.load_manifest(result)
        self.assertEqual((len(ds), ds.n_shards, ds.image_shape, ds.logits_dtype),
                         (ROWS, 4, (4, 5), np.float16))
        np.testing.assert_array_equal(ds.inputs(), x.reshape(ROWS, 20).astype(np.float32))
        np.testing.assert_array_equal(ds.labels(), y)
        np.testing.assert_array_equal(ds.logits(),
                                      Teacher()(x).astype(np.float16).astype(np.float32))

    def test_dtypes(self):
        x = make_inputs().astype(np.float64)
        result = run(self.path("f32"), x, dtype="float32", shard_rows=1000, batch_size=1000)
        ds = mimic.Dataset.load_manifest(result)
        self.assertEqual((ds.input_dtype, ds.logits_dtype, ds.n_shards),
                         (np.float32, np.float32, 1))
        np.testing.assert_array_equal(ds.logits(), Teacher()(x).astype(np.float32))
        self.assertEqual(np.load(self.path("f32/shard-00000.inputs.npy")).dtype, np.float32)
        # np.float16 as a dtype is float16; a memmap is an array
        np.save(self.path("x.npy"), make_inputs())
        mm = np.load(self.path("x.npy"), mmap_mode="r")
        run(self.path("mm"), mm, dtype=np.float16)
        run(self.path("ref"), make_inputs())
        self.assertEqual(files(self.path("mm")), files(self.path("ref")))

    def test_resume_after_exception_is_byte_identical(self):
        run(self.path("ref"))
        # the teacher fails in the middle of shard 2 (its 13th call: shard 2's 3rd batch)
        with self.assertRaises(RuntimeError):
            run(self.path("b"), teacher=Teacher(fail_at=13))
        assert_no_partial_shards(self, self.path("b"))
        self.assertEqual(sorted(n for n in os.listdir(self.path("b")) if "shard" in n),
                         ["shard-0000%d.%s.npy" % (k, r) for k in (0, 1)
                          for r in ("inputs", "logits")])
        self.assertFalse(os.path.exists(self.path("b/manifest.json")))
        # the rerun calls the teacher for shards 2 and 3 only
        teacher = Teacher()
        result = run(self.path("b"), teacher=teacher)
        self.assertEqual((teacher.calls, teacher.rows), (5 + 2, 400))
        self.assertEqual((result.kept_shards, result.teacher_rows), (2, 400))
        self.assertEqual(files(self.path("b")), files(self.path("ref")))
        # and a rerun of a finished job calls it not at all
        teacher = Teacher()
        run(self.path("b"), teacher=teacher)
        self.assertEqual(teacher.calls, 0)
        self.assertEqual(files(self.path("b")), files(self.path("ref")))

    def test_keyboard_interrupt_leaves_no_partial_files(self):
        with self.assertRaises(KeyboardInterrupt):
            run(self.path("b"), teacher=Teacher(fail_at=8, exc=KeyboardInterrupt))
        assert_no_partial_shards(self, self.path("b"))
        self.assertFalse(os.path.exists(self.path("b/manifest.json")))
        # Ctrl-C between the closes of a shard's files: the ones already renamed go too
        close = mimic.NpyWriter.close

        def interrupted(writer):
            if writer.path.endswith("shard-00001.logits.npy"):
                writer.abort()
                raise KeyboardInterrupt
            return close(writer)

        with mock.patch.object(mimic.NpyWriter, "close", interrupted):
            with self.assertRaises(KeyboardInterrupt):
                run(self.path("c"))
        assert_no_partial_shards(self, self.path("c"))
        self.assertFalse(os.path.exists(self.path("c/shard-00001.inputs.npy")))
        self.assertTrue(os.path.exists(self.path("c/shard-00000.logits.npy")))
        run(self.path("ref"))
        run(self.path("c"))
        self.assertEqual(files(self.path("c")), files(self.path("ref")))

    def test_crash_leftovers_are_redone(self):
        run(self.path("ref"))
        run(self.path("b"))
        # a crash: a temporary file, a shard missing its logits, a truncated logits file
        with open(self.path("b/shard-00002.logits.npy.tmp.Ab12Cd"), "wb") as f:
            f.write(b"\x93NUMPY")
        os.remove(self.path("b/shard-00002.logits.npy"))
        with open(self.path("b/shard-00001.logits.npy"), "r+b") as f:
            f.truncate(200)
        teacher = Teacher()
        result = run(self.path("b"), teacher=teacher)
        self.assertEqual((teacher.calls, result.kept_shards), (10, 2))
        self.assertEqual(files(self.path("b")), files(self.path("ref")))

    def test_iterable_inputs(self):
        x = make_inputs()
        run(self.path("ref"), x)
        cuts = [0, 1, 100, 137, 400, 401, 950, ROWS]

        def batches():
            for a, b in zip(cuts[:-1], cuts[1:]):
                yield x[a:b]
                yield x[b:b]  # an empty batch is skipped

        teacher = Teacher()
        result = run(self.path("it"), batches(), teacher)
        self.assertEqual((result.rows, teacher.calls), (ROWS, 17))
        self.assertEqual(files(self.path("it")), files(self.path("ref")))
        # resumed from a fresh iterator: the rows of complete shards are read, not labelled
        with self.assertRaises(RuntimeError):
            run(self.path("it2"), batches(), Teacher(fail_at=16))
        teacher = Teacher()
        run(self.path("it2"), batches(), teacher)
        self.assertEqual(teacher.calls, 2)
        self.assertEqual(files(self.path("it2")), files(self.path("ref")))
        # an iterable that says how many rows it gives, and one that gives fewer
        class Sized:
            def __init__(self, n_rows):
                self.n_rows = n_rows

            def __iter__(self):
                return batches()

        sized = Sized(ROWS)
        self.assertEqual(run(self.path("sized"), sized).rows, ROWS)
        sized.n_rows = ROWS + 1
        with self.assertRaises(ValueError) as cm:
            run(self.path("short"), sized)
        self.assertIn("1001", str(cm.exception))
        # batches of other rows or dtypes, no rows at all
        for bad, exc in (([x[:10], x[:10, :2]], ValueError),
                         ([x[:10], x[:10].astype(np.float32)], TypeError),
                         ([x[:0]], ValueError), ([], ValueError), ([x[0, 0]], ValueError)):
            with self.subTest(bad=[b.shape for b in bad]), self.assertRaises(exc):
                run(self.path("bad"), iter(bad), overwrite=True)

    def test_rerun_with_other_parameters_or_inputs(self):
        x = make_inputs()
        run(self.path("b"), x)
        changed = x.copy()
        changed[SHARD] += 1  # the first row of shard 1
        longer = np.concatenate([x, x[:5]])
        cases = [("shard_rows", dict(shard_rows=200)), ("dtype", dict(dtype="float32")),
                 ("first row", dict(inputs=x[::-1].copy())), ("rows", dict(inputs=longer)),
                 ("labels", dict(labels=np.zeros(ROWS, np.int64))),
                 ("shard-00001.inputs.npy", dict(inputs=changed)),
                 ("row shape", dict(inputs=x.reshape(ROWS, 20))),
                 ("dtype", dict(inputs=x.astype(np.float32)))]
        for what, kw in cases:
            with self.subTest(what=what):
                teacher = Teacher()
                with self.assertRaises(ValueError) as cm:
                    run(self.path("b"), teacher=teacher, **kw)
                self.assertIn(what, str(cm.exception))
                self.assertIn("overwrite=True", str(cm.exception))
                self.assertEqual(teacher.calls, 0)
        # an iterable that goes on past the earlier run's last shard
        with self.assertRaises(ValueError) as cm:
            run(self.path("b"), iter([longer]))
        self.assertIn("shard-00003", str(cm.exception))
        # overwrite=True starts over
        run(self.path("b"), changed, overwrite=True)
        run(self.path("ref"), changed)
        self.assertEqual(files(self.path("b")), files(self.path("ref")))
        # shard files without a state file are not ours to mix with
        os.remove(self.path("b/label-state.json"))
        with self.assertRaises(ValueError) as cm:
            run(self.path("b"), changed)
        self.assertIn("label-state.json", str(cm.exception))
        # a second job on the same directory at the same time
        fd = os.open(self.path("ref"), os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self.assertRaises(RuntimeError):
                run(self.path("ref"), changed)
        finally:
            os.close(fd)

    def test_teacher_output_checks(self):
        x = make_inputs()

        def with_bad_rows(value, at=70):
            done = [0]

            def teacher(b):
                z = Teacher()(b)
                if done[0] <= at < done[0] + len(b):
                    z[at - done[0], 1] = value
                done[0] += len(b)
                return z
            return teacher

        def classes_change():
            calls = []

            def teacher(b):
                calls.append(1)
                return np.zeros((len(b), 3 if len(calls) < 3 else 4))
            return teacher

        cases = [(lambda b: np.zeros(len(b)), ValueError, "shape (64,)"),
                 (classes_change(), ValueError, "4 classes, earlier rows 3"),
                 (with_bad_rows(np.nan), ValueError, "row 70, class 1 is nan"),
                 (with_bad_rows(-np.inf), ValueError, "row 70, class 1 is -inf"),
                 (with_bad_rows(1e5), ValueError, "float32"),
                 (lambda b: np.zeros((len(b), 1)), ValueError, "at least 2 classes"),
                 (lambda b: np.zeros((len(b), 3), bool), TypeError, "bool"),
                 (lambda b: np.zeros((len(b) - 1, 3)), ValueError, "rows 0 to 63")]
        for teacher, exc, text in cases:
            with self.subTest(text=text):
                with self.assertRaises(exc) as cm:
                    run(self.path("b"), x, teacher, overwrite=True)
                self.assertIn(text, str(cm.exception))
                assert_no_partial_shards(self, self.path("b"))
        # float32 keeps what float16 cannot
        result = run(self.path("f32"), x, with_bad_rows(1e5), dtype="float32")
        self.assertEqual(mimic.Dataset.load_manifest(result).logits(70, 71)[0, 1], 1e5)
        # labels: range, length, type
        with self.assertRaises(ValueError) as cm:
            run(self.path("c"), x, labels=np.r_[np.zeros(500, int), 3, np.zeros(499, int)])
        self.assertIn("row 500 is 3", str(cm.exception))
        with self.assertRaises(ValueError):
            run(self.path("c"), x, labels=np.zeros(ROWS - 1, int), overwrite=True)
        with self.assertRaises(TypeError):
            run(self.path("c"), x, labels=np.zeros(ROWS), overwrite=True)

    def test_argument_checks(self):
        x = make_inputs()
        for kw, exc in ((dict(batch_size=0), ValueError), (dict(batch_size=2.0), ValueError),
                        (dict(shard_rows=0), ValueError), (dict(dtype="int8"), ValueError),
                        (dict(dtype="bfloat16"), ValueError), (dict(transform=3), TypeError),
                        (dict(teacher=object()), TypeError), (dict(inputs=x[0, 0]), ValueError),
                        (dict(inputs=x[:0]), ValueError), (dict(inputs="x.npy"), TypeError),
                        (dict(inputs=x.astype(complex)), TypeError),
                        (dict(labels=5), TypeError)):
            with self.subTest(kw=sorted(kw)), self.assertRaises(exc):
                run(self.path("b"), **dict(dict(inputs=x), **kw))
        self.assertFalse(os.path.exists(self.path("b")))

    def test_transform_and_session(self):
        x = make_inputs()
        seen = []

        class Session:  # what ONNX Runtime's InferenceSession looks like
            def get_inputs(self):
                return [types.SimpleNamespace(name="input")]

            def run(self, outputs, feeds):
                self.test.assertIsNone(outputs)
                (name, batch), = feeds.items()
                seen.append(batch)
                return [Teacher()(batch * 255.0)]

        sess = Session()
        sess.test = self
        result = run(self.path("b"), x, sess, transform=lambda b: b.astype(np.float32) / 255)
        self.assertEqual(seen[0].dtype, np.float32)
        self.assertLessEqual(float(seen[0].max()), 1.0)
        ds = mimic.Dataset.load_manifest(result)
        self.assertEqual(ds.input_dtype, np.uint8)  # the rows as given, untransformed
        np.testing.assert_allclose(ds.logits(), Teacher()(x), rtol=2e-3, atol=2e-3)

    def test_progress(self):
        x = make_inputs()
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            run(self.path("quiet"), x, progress=False)
        self.assertEqual(err.getvalue(), "")
        # a clock that moves 0.25 s a reading: a line at most every second, then the last
        ticks = iter(np.arange(0, 100, 0.25))
        err = io.StringIO()
        with mock.patch.object(_label, "_clock", lambda: float(next(ticks))), \
                contextlib.redirect_stderr(err):
            run(self.path("loud"), x, progress=True)
        lines = err.getvalue().splitlines()
        # 17 batches, a reading each: a line at t = 1, 2, 3 and 4 s, and the last line
        self.assertEqual(len(lines), 5)
        self.assertIn("ETA 0:00:", lines[0])
        self.assertIn("rows/s", lines[0])
        self.assertRegex(lines[0], r"^mimic\.label: \d+/1000 rows \(\d+\.\d%\), \d+ rows/s")
        self.assertTrue(lines[-1].startswith("mimic.label: 1000 rows in 4 shards -> "))
        self.assertIn("manifest.json", lines[-1])
        # without a row count: no ETA
        ticks = iter(np.arange(0, 100, 1.0))
        err = io.StringIO()
        with mock.patch.object(_label, "_clock", lambda: float(next(ticks))), \
                contextlib.redirect_stderr(err):
            run(self.path("iter"), iter([x]), progress=True)
        self.assertNotIn("ETA", err.getvalue())
        self.assertIn(" rows, ", err.getvalue().splitlines()[0])

    def test_torch_not_imported_for_other_teachers(self):
        code = ("import sys, numpy as np, mimic\n"
                "mimic.label(lambda b: np.ones((len(b), 2)), np.zeros((5, 3)), sys.argv[1],"
                " progress=False)\n"
                "assert 'torch' not in sys.modules, 'torch imported'\n")
        env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(mimic.__file__)))
        r = subprocess.run([sys.executable, "-c", code, self.path("b")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(self.path("b/manifest.json")))


@unittest.skipIf(torch is None, "needs torch (Debian: python3-torch)")
class TestLabelTorch(unittest.TestCase):
    def test_module_in_eval_mode_without_grad(self):
        torch.manual_seed(0)
        grads = []

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 16),
                                                torch.nn.Dropout(0.5), torch.nn.ReLU(),
                                                torch.nn.Linear(16, 3))

            def forward(self, x):
                grads.append(torch.is_grad_enabled())
                return self.body(x.float() / 255)

        net = Net()
        x = make_inputs()
        x.setflags(write=False)  # read-only batches are fine, without a warning
        with _support.TempDir() as tmp:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                result = mimic.label(net, x, tmp, progress=False, dtype="float32")
            self.assertTrue(net.training)  # restored
            self.assertEqual(grads, [False] * 4)  # no_grad around every batch of 256
            ds = mimic.Dataset.load_manifest(result)
            net.eval()
            with torch.no_grad():
                want = net(torch.from_numpy(x.copy())).numpy()
            # dropout was off: the eval-mode outputs (up to the batches' summation order)
            np.testing.assert_allclose(ds.logits(), want, rtol=1e-5, atol=1e-6)

    def test_tensor_outputs(self):
        x = make_inputs(100)
        w = torch.randn(20, 3, requires_grad=True)

        def teacher(b):  # a function returning a tensor that requires grad, in float64
            return (torch.from_numpy(b.reshape(len(b), -1).astype(np.float64)) @ w.double())

        with _support.TempDir() as tmp:
            result = mimic.label(teacher, x, tmp, progress=False, dtype="float32")
            ds = mimic.Dataset.load_manifest(result)
            want = (x.reshape(100, -1).astype(np.float64) @ w.detach().double().numpy())
            np.testing.assert_array_equal(ds.logits(), want.astype(np.float32))


if __name__ == "__main__":
    unittest.main()
