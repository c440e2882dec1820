"""mimic.Student outside training: architecture, forward/predict against NumPy, tensors,
input normalization, save/load, ONNX export, errors."""

import os
import threading
import unittest

import numpy as np

import _support
import mimic


def n_params(d, h, c, k):
    kin = k if k else d
    return k * d + h * kin + h + c * h + c


class TestStudent(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(3)
        self.x = rng.normal(size=(33, 10)).astype(np.float32) * 2

    def test_architecture(self):
        s = mimic.Student(10, 20, 4, bottleneck=3, activation="tanh", seed=7)
        self.assertEqual((s.n_inputs, s.n_hidden, s.n_classes, s.bottleneck), (10, 20, 4, 3))
        self.assertEqual(s.n_bottleneck, 3)
        self.assertEqual(s.activation, "tanh")
        self.assertEqual(s.seed, 7)
        self.assertEqual(s.n_params, n_params(10, 20, 4, 3))
        self.assertEqual(s.options, {"n_inputs": 10, "n_hidden": 20, "bottleneck": 3,
                                     "n_classes": 4, "activation": "tanh", "seed": 7})
        r = repr(s)
        for part in ("n_inputs=10", "bottleneck=3", "n_hidden=20", "n_classes=4", "'tanh'",
                     "n_params=%d" % s.n_params):
            self.assertIn(part, r)
        self.assertEqual(mimic.Student(10, 20, 4).n_params, n_params(10, 20, 4, 0))

    def test_forward_matches_numpy(self):
        for act in ("relu", "sigmoid", "tanh"):
            for k in (0, 4):
                with self.subTest(activation=act, bottleneck=k):
                    s = mimic.Student(10, 24, 5, bottleneck=k, activation=act, seed=11)
                    tensors = s.tensors()
                    self.assertEqual("bottleneck.weight" in tensors, k > 0)
                    want = _support.reference_forward(tensors, self.x, act)
                    got = s.forward(self.x)
                    self.assertEqual(got.dtype, np.float32)
                    self.assertEqual(got.shape, (33, 5))
                    _support.assert_close_rel(self, got, want)
                    np.testing.assert_array_equal(s.predict(self.x), np.argmax(got, axis=1))
                    self.assertEqual(s.predict(self.x).dtype, np.int32)

    def test_tensors(self):
        s = mimic.Student(10, 24, 5, bottleneck=4)
        t = s.tensors()
        self.assertEqual(set(t), {"bottleneck.weight", "hidden.weight", "hidden.bias",
                                  "output.weight", "output.bias"})
        self.assertEqual(t["bottleneck.weight"].shape, (4, 10))
        self.assertEqual(t["hidden.weight"].shape, (24, 4))
        self.assertEqual(t["hidden.bias"].shape, (24,))
        self.assertEqual(t["output.weight"].shape, (5, 24))
        self.assertEqual(t["output.bias"].shape, (5,))
        # copies: changing them leaves the student alone
        before = s.forward(self.x)
        t["output.bias"][:] = 100
        np.testing.assert_array_equal(s.forward(self.x), before)
        with self.assertRaises(mimic.MimicError) as cm:
            s.tensor("input.mean")
        self.assertEqual(cm.exception.status, mimic.Status.INVALID)
        with self.assertRaises(mimic.MimicError):
            s.tensor("no.such.tensor")

    def test_set_tensor_and_input_norm(self):
        s = mimic.Student(10, 24, 5, seed=2)
        rng = np.random.default_rng(5)
        s.set_tensor("output.bias", np.arange(5, dtype=np.float64))
        np.testing.assert_array_equal(s.tensor("output.bias"), np.arange(5, dtype=np.float32))
        mean = rng.normal(size=10).astype(np.float32)
        scale = rng.uniform(0.5, 2, size=10).astype(np.float32)
        s.set_input_norm(mean, scale)
        self.assertTrue(s.has_input_norm)
        t = s.tensors()
        np.testing.assert_array_equal(t["input.mean"], mean)
        np.testing.assert_array_equal(t["input.scale"], scale)
        _support.assert_close_rel(self, s.forward(self.x), _support.reference_forward(t, self.x))
        s.set_input_norm(None, None)
        self.assertFalse(s.has_input_norm)
        with self.assertRaises(ValueError):
            s.set_input_norm(mean, None)
        with self.assertRaises(ValueError):
            s.set_input_norm(mean[:3], scale[:3])
        with self.assertRaises(mimic.MimicError) as cm:
            s.set_tensor("hidden.weight", np.zeros((3, 3), np.float32))
        self.assertEqual(cm.exception.status, mimic.Status.SHAPE)
        bad = np.zeros(5, np.float32)
        bad[2] = np.nan
        with self.assertRaises(mimic.MimicError) as cm:
            s.set_tensor("output.bias", bad)
        self.assertEqual(cm.exception.status, mimic.Status.NUMERIC)

    def test_input_conversions(self):
        s = mimic.Student(10, 16, 3, seed=4)
        want = s.forward(self.x)
        # transposed (Fortran-ordered) view, strided view, float64: converted, same result
        np.testing.assert_array_equal(s.forward(np.asfortranarray(self.x)), want)
        np.testing.assert_array_equal(s.forward(np.ascontiguousarray(self.x.T).T), want)
        wide = np.repeat(self.x, 3, axis=1)[:, ::3]
        self.assertFalse(wide.flags.c_contiguous)
        np.testing.assert_array_equal(s.forward(wide), want)
        np.testing.assert_array_equal(s.forward(self.x.astype(np.float64)), want)
        # (row order may change BLAS blocking: equal to float32 rounding)
        _support.assert_close_rel(self, s.forward(self.x[::-1])[::-1], want)
        # uint8 rows are converted to float32 values 0..255
        x8 = np.arange(33 * 10, dtype=np.int64).reshape(33, 10).astype(np.uint8)
        np.testing.assert_array_equal(s.forward(x8), s.forward(x8.astype(np.float32)))
        # a 1-D row gives 1-D logits; zero rows give an empty result
        _support.assert_close_rel(self, s.forward(self.x[4]), want[4])
        self.assertEqual(int(s.predict(self.x[4])), int(np.argmax(want[4])))
        self.assertEqual(s.forward(np.zeros((0, 10), np.float32)).shape, (0, 3))
        np.testing.assert_array_equal(s(self.x), want)

    def test_forward_errors(self):
        s = mimic.Student(10, 16, 3)
        with self.assertRaises(ValueError):
            s.forward(np.zeros((4, 9), np.float32))
        with self.assertRaises(ValueError):
            s.forward(np.zeros((2, 2, 10), np.float32))
        with self.assertRaises(TypeError):
            s.forward(np.zeros((4, 10), dtype=np.complex64))
        with self.assertRaises(TypeError):
            s.forward([["a"] * 10])
        with self.assertRaises(TypeError):
            s.evaluate("not a dataset")

    def test_create_errors(self):
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.Student(10, 16, 1)
        self.assertEqual(cm.exception.status, mimic.Status.INVALID)
        self.assertTrue(cm.exception.message)
        self.assertEqual(cm.exception.function, "mimic_student_create")
        with self.assertRaises(mimic.MimicError):
            mimic.Student(0, 16, 3)
        with self.assertRaises(ValueError):
            mimic.Student(10, 16, 3, activation="gelu")
        with self.assertRaises(ValueError):
            mimic.Student(-1, 16, 3)
        with self.assertRaises(TypeError):
            mimic.Student(10.5, 16, 3)

    def test_evaluate_shape_mismatch(self):
        s = mimic.Student(10, 16, 3)
        x, t, y = _support.make_data(rows=20, d=10, c=4)
        with self.assertRaises(mimic.MimicError) as cm:
            s.evaluate(mimic.Dataset(x, t, y))
        self.assertEqual(cm.exception.status, mimic.Status.SHAPE)

    def test_save_load_roundtrip(self):
        s = mimic.Student(10, 24, 5, bottleneck=4, activation="sigmoid", seed=9)
        s.set_input_norm(np.full(10, 0.5, np.float32), np.full(10, 2.0, np.float32))
        with _support.TempDir() as tmp:
            path = os.path.join(tmp, "student.safetensors")
            s.save(path)
            r = mimic.Student.load(path)
            self.assertEqual(r.options, s.options)
            self.assertTrue(r.has_input_norm)
            np.testing.assert_array_equal(r.forward(self.x), s.forward(self.x))
            for name, a in s.tensors().items():
                np.testing.assert_array_equal(r.tensor(name), a)
            tensors, meta = _support.read_safetensors(path)
            self.assertEqual(set(tensors), set(s.tensors()))
            # pathlib paths work too
            import pathlib
            mimic.Student.load(pathlib.Path(path))
            # errors: missing file, garbage file
            with self.assertRaises(mimic.MimicError) as cm:
                mimic.Student.load(os.path.join(tmp, "nope.safetensors"))
            self.assertEqual(cm.exception.status, mimic.Status.IO)
            self.assertIn("nope.safetensors", cm.exception.message)
            junk = os.path.join(tmp, "junk.safetensors")
            with open(junk, "wb") as f:
                f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
            with self.assertRaises(mimic.MimicError) as cm:
                mimic.Student.load(junk)
            self.assertEqual(cm.exception.status, mimic.Status.FORMAT)
            with self.assertRaises(mimic.MimicError) as cm:
                s.save(os.path.join(tmp, "no-such-dir", "x.safetensors"))
            self.assertEqual(cm.exception.status, mimic.Status.IO)

    def test_export_onnx(self):
        s = mimic.Student(10, 24, 5, bottleneck=4, seed=9)
        with _support.TempDir() as tmp:
            path = os.path.join(tmp, "student.onnx")
            s.export_onnx(path)
            self.assertGreater(os.path.getsize(path), 4 * s.n_params)
            try:
                import onnx
            except ImportError:
                return
            model = onnx.load(path)
            onnx.checker.check_model(model)
            self.assertEqual([i.name for i in model.graph.input], ["input"])
            self.assertEqual([o.name for o in model.graph.output], ["logits"])
            with self.assertRaises(mimic.MimicError) as cm:
                s.export_onnx(os.path.join(tmp, "no-such-dir", "x.onnx"))
            self.assertEqual(cm.exception.status, mimic.Status.IO)

    def test_concurrent_forward(self):
        s = mimic.Student(10, 64, 5, bottleneck=8, seed=1)
        want = s.forward(self.x)
        errors = []

        def work():
            try:
                for _ in range(50):
                    np.testing.assert_array_equal(s.forward(self.x), want)
            except BaseException as e:  # collected and reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main()
