"""Compact weights (Student.quantize) and a student's threads (Student.threads): the float32
view of float16 / int8 weights, forward against NumPy on that view, save/load, ONNX export,
what a compact student refuses, and bitwise results for every thread count."""

import json
import os
import struct
import threading
import unittest

import numpy as np

import _support
import mimic


def student(seed=5, bottleneck=16):
    s = mimic.Student(40, 300, 6, bottleneck=bottleneck, seed=seed)
    rng = np.random.default_rng(seed)
    s.set_tensor("hidden.bias", rng.normal(0, 0.3, 300))
    s.set_input_norm(rng.normal(0, 1, 40), rng.uniform(0.5, 2, 40))
    return s


def safetensors_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


class TestQuantize(unittest.TestCase):
    def setUp(self):
        self.x = np.random.default_rng(1).normal(size=(7, 40)).astype(np.float32)

    def test_float16(self):
        s = student()
        before = s.tensors()
        self.assertEqual(s.weight_dtype, "float32")
        self.assertIs(s.quantize("float16"), s)
        self.assertEqual(s.weight_dtype, "float16")
        self.assertIn("weight_dtype='float16'", repr(s))
        after = s.tensors()
        for name in ("bottleneck.weight", "hidden.weight", "output.weight"):
            np.testing.assert_array_equal(after[name],
                                          before[name].astype(np.float16).astype(np.float32))
        np.testing.assert_array_equal(after["hidden.bias"], before["hidden.bias"])
        ref = _support.reference_forward(after, self.x)
        for rows in (1, 4, 7):
            np.testing.assert_allclose(s.forward(self.x[:rows]), ref[:rows], rtol=1e-4,
                                       atol=1e-4)

    def test_int8(self):
        s = student()
        before = s.tensors()
        s.quantize("int8")
        self.assertEqual(s.weight_dtype, "int8")
        after = s.tensors()
        for name in ("bottleneck.weight", "hidden.weight", "output.weight"):
            w = before[name]
            scale = np.abs(w).max(1) / np.float32(127)
            q = np.rint(w / scale[:, None])
            np.testing.assert_array_equal(after[name],
                                          (q * scale[:, None]).astype(np.float32))
        ref = _support.reference_forward(after, self.x)
        np.testing.assert_allclose(s.forward(self.x[:1]), ref[:1], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(s.forward(self.x), ref, rtol=1e-4, atol=1e-4)
        # close to the float32 student it came from
        f = _support.reference_forward(before, self.x)
        self.assertLess(np.abs(s.forward(self.x) - f).max(), 0.05 * np.abs(f).max())

    def test_save_load_and_files(self):
        for wd in ("float16", "int8"):
            s = student().quantize(wd)
            with _support.TempDir() as d:
                path = os.path.join(d, "s.safetensors")
                s.save(path)
                h = safetensors_header(path)
                self.assertEqual(h["__metadata__"]["weight_dtype"], wd)
                self.assertEqual(h["hidden.weight"]["dtype"], "F16" if wd == "float16" else "I8")
                self.assertEqual("hidden.weight_scale" in h, wd == "int8")
                t = mimic.Student.load(path)
                self.assertEqual(t.weight_dtype, wd)
                np.testing.assert_array_equal(t.forward(self.x[:2]), s.forward(self.x[:2]))
                onnx = os.path.join(d, "s.onnx")
                s.export_onnx(onnx)
                self.assertLess(os.path.getsize(onnx), os.path.getsize(path) + 4096)

    def test_refusals(self):
        s = student().quantize("int8")
        x, t, _ = _support.make_data(rows=64, d=40, c=6)
        data = mimic.Dataset(x, t)
        with self.assertRaises(mimic.MimicError) as cm:
            s.fit(data, epochs=1)
        self.assertEqual(cm.exception.status, mimic.Status.UNSUPPORTED)
        with self.assertRaises(mimic.MimicError):
            s.set_tensor("hidden.weight", np.zeros((300, 16), np.float32))
        with self.assertRaises(ValueError):
            s.quantize("int4")
        s.quantize("float32")
        self.assertEqual(s.weight_dtype, "float32")
        s.fit(data, epochs=1)


class TestThreads(unittest.TestCase):
    def test_threads_bitwise(self):
        x = np.random.default_rng(2).normal(size=(300, 40)).astype(np.float32)
        for wd in ("float32", "int8"):
            s = student(seed=9).quantize(wd)
            self.assertEqual(s.threads, 1)
            want = [s.forward(x[:n]) for n in (1, 3, 300)]
            for t in (2, 4):
                s.threads = t
                self.assertEqual(s.threads, t)
                for n, w in zip((1, 3, 300), want):
                    np.testing.assert_array_equal(s.forward(x[:n]), w)
            s.threads = 0
            self.assertEqual(s.threads, 1)

    def test_shared_student_with_threads(self):
        s = student(seed=10)
        s.threads = 2
        x = np.random.default_rng(3).normal(size=(4, 40)).astype(np.float32)
        want = s.forward(x)
        bad = []

        def work():
            for _ in range(50):
                if not np.array_equal(s.forward(x), want):
                    bad.append(1)

        th = [threading.Thread(target=work) for _ in range(3)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        self.assertEqual(bad, [])

    def test_threads_errors(self):
        s = student()
        for bad in (-1, 1.5, "2", True):
            with self.assertRaises(ValueError):
                s.threads = bad
        with self.assertRaises(mimic.MimicError) as cm:
            s.threads = 100000
        self.assertEqual(cm.exception.status, mimic.Status.INVALID)
        self.assertEqual(s.threads, 1)


if __name__ == "__main__":
    unittest.main()
