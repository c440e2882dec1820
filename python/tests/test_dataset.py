"""mimic.Dataset: zero-copy wrap, explicit conversions, copies, .npy loading, slices, errors."""

import gc
import json
import os
import unittest

import numpy as np

import _support
import mimic


class TestDataset(unittest.TestCase):
    def setUp(self):
        self.x, self.t, self.y = _support.make_data(rows=64, d=6, c=3)
        self.student = mimic.Student(6, 8, 3, seed=1)

    def test_zero_copy_properties(self):
        ds = mimic.Dataset(self.x, self.t, self.y)
        self.assertEqual(len(ds), 64)
        self.assertEqual(ds.rows, 64)
        self.assertEqual(ds.n_inputs, 6)
        self.assertEqual(ds.n_classes, 3)
        self.assertTrue(ds.has_labels)
        self.assertTrue(ds.has_logits)
        self.assertTrue(ds.zero_copy)
        self.assertEqual(ds.input_dtype, np.float32)
        self.assertIn("rows=64", repr(ds))
        # the Dataset holds the arrays themselves, not copies
        self.assertIs(ds._keepalive[0], self.x)
        self.assertIs(ds._keepalive[1], self.t)
        self.assertIs(ds._keepalive[2], self.y)

    def test_zero_copy_tells_the_truth(self):
        # C-contiguous float32 inputs and logits, int32 labels: the library reads them in
        # place, and a change to the caller's inputs shows (the library borrows them)
        x = self.x.copy()
        ds = mimic.Dataset(x, self.t, self.y)
        self.assertTrue(ds.zero_copy)
        self.assertTrue(ds.slice(0, 10).zero_copy)
        self.assertIn("zero-copy", repr(ds))
        before = self.student.evaluate(ds)
        x[:] += 1
        self.assertNotEqual(self.student.evaluate(ds), before)
        # a float64 array is wrapped as its float32 copy: not zero-copy, and changing the
        # caller's array changes nothing
        x64 = self.x.astype(np.float64)
        ds = mimic.Dataset(x64, self.t, self.y)
        self.assertFalse(ds.zero_copy)
        self.assertFalse(ds[:10].zero_copy)
        self.assertNotIn("zero-copy", repr(ds))
        before = self.student.evaluate(ds)
        x64[:] += 1
        self.assertEqual(self.student.evaluate(ds), before)
        # any converted array makes it a copy: logits, labels, layout, a list
        for name, args in (("float64 logits", (self.x, self.t.astype(np.float64), self.y)),
                           ("int16 labels", (self.x, self.t, self.y.astype(np.int16))),
                           ("big-endian float16 logits", (self.x, self.t.astype(">f2"))),
                           ("fortran inputs", (np.asfortranarray(self.x), self.t, self.y)),
                           ("list inputs", (self.x.tolist(), self.t, self.y))):
            with self.subTest(case=name):
                self.assertFalse(mimic.Dataset(*args).zero_copy)
        # uint8 inputs, float16 logits, int64 and uint8 labels and labels-only sets borrow
        # too; copy=True never does
        self.assertTrue(mimic.Dataset(self.x, self.t.astype(np.float16), self.y.astype(np.int64))
                        .zero_copy)
        self.assertTrue(mimic.Dataset(self.x, self.t, self.y.astype(np.uint8)).zero_copy)
        self.assertTrue(mimic.Dataset((np.abs(self.x) * 10).astype(np.uint8), self.t).zero_copy)
        self.assertTrue(mimic.Dataset(self.x, None, self.y, n_classes=3).zero_copy)
        self.assertFalse(mimic.Dataset(self.x, self.t, copy=True).zero_copy)
        # an ndarray subclass is still the caller's memory
        class Sub(np.ndarray):
            pass
        self.assertTrue(mimic.Dataset(self.x.view(Sub), self.t).zero_copy)

    def test_keeps_arrays_alive(self):
        x, t, y = (a.copy() for a in (self.x, self.t, self.y))
        ds = mimic.Dataset(x, t, y)
        want = self.student.evaluate(mimic.Dataset(self.x, self.t, self.y))
        del x, t, y
        gc.collect()
        # overwrite freed memory if the arrays were not kept alive
        junk = [np.full((64, 6), 1e9, np.float32) for _ in range(20)]
        self.assertEqual(self.student.evaluate(ds), want)
        del junk

    def test_conversions_are_explicit_copies(self):
        ref = self.student.evaluate(mimic.Dataset(self.x, self.t, self.y))
        cases = {
            "float64": (self.x.astype(np.float64), self.t.astype(np.float64)),
            "fortran": (np.asfortranarray(self.x), np.asfortranarray(self.t)),
            "strided": (np.repeat(self.x, 2, axis=1)[:, ::2], self.t),
            "big-endian": (self.x.astype(">f4"), self.t.astype(">f4")),
            "int16": (self.x.astype(np.int16), self.t),
        }
        for name, (x, t) in cases.items():
            with self.subTest(case=name):
                ds = mimic.Dataset(x, t, self.y.astype(np.int64))
                got = self.student.evaluate(ds)
                if name == "int16":
                    want = self.student.evaluate(
                        mimic.Dataset(self.x.astype(np.int16).astype(np.float32), self.t,
                                      self.y))
                    self.assertEqual(got, want)
                else:
                    self.assertEqual(got, ref)
                held = ds._keepalive[0]
                self.assertTrue(held.flags.c_contiguous)
                self.assertEqual(held.dtype, np.float32)

    def test_unaligned_float32_copied(self):
        buf = np.zeros(64 * 6 * 4 + 1, dtype=np.uint8)
        x = np.frombuffer(buf.data, dtype=np.float32, count=64 * 6, offset=1).reshape(64, 6)
        x[:] = self.x
        self.assertFalse(x.flags.aligned)
        ds = mimic.Dataset(x, self.t)
        self.assertTrue(ds._keepalive[0].flags.aligned)
        self.assertEqual(self.student.evaluate(ds),
                         self.student.evaluate(mimic.Dataset(self.x, self.t)))

    def test_uint8_inputs(self):
        x8 = (np.abs(self.x) * 40).clip(0, 255).astype(np.uint8)
        ds = mimic.Dataset(x8, self.t, self.y)
        self.assertEqual(ds.input_dtype, np.uint8)
        self.assertIs(ds._keepalive[0], x8)
        got = self.student.evaluate(ds)
        want = self.student.evaluate(mimic.Dataset(x8.astype(np.float32), self.t, self.y))
        for k in want:
            self.assertAlmostEqual(got[k], want[k], places=5)
        # a non-contiguous uint8 array stays uint8 (copied)
        ds2 = mimic.Dataset(np.asfortranarray(x8), self.t)
        self.assertEqual(ds2.input_dtype, np.uint8)
        self.assertAlmostEqual(self.student.evaluate(ds2)["logit_l2"], want["logit_l2"], places=5)

    def test_copy_true(self):
        x, t = self.x.copy(), self.t.copy()
        ds = mimic.Dataset(x, t, copy=True)
        self.assertFalse(ds.zero_copy)
        want = self.student.evaluate(ds)
        x[:] = 0
        t[:] = 0
        self.assertEqual(self.student.evaluate(ds), want)

    def test_labels_only(self):
        ds = mimic.Dataset(self.x, None, self.y, n_classes=3)
        self.assertFalse(ds.has_logits)
        self.assertEqual(ds.n_classes, 3)
        m = self.student.evaluate(ds)
        self.assertIsNone(m["logit_l2"])
        self.assertIsNone(m["agreement"])
        self.assertIsNotNone(m["accuracy"])
        ds2 = mimic.Dataset(self.x, None, np.array([0, 1] * 32, dtype=np.uint8))
        self.assertEqual(ds2.n_classes, 2)

    def test_logits_only(self):
        ds = mimic.Dataset(self.x, self.t)
        self.assertFalse(ds.has_labels)
        m = self.student.evaluate(ds, temperature=2.0)
        self.assertIsNone(m["accuracy"])
        self.assertIsNone(m["hard_ce"])
        self.assertIsNotNone(m["kl"])

    def test_slice(self):
        ds = mimic.Dataset(self.x, self.t, self.y)
        part = ds.slice(10, 30)
        self.assertEqual(len(part), 20)
        self.assertEqual(len(ds[-4:]), 4)
        self.assertEqual(len(ds.slice(60, 1000)), 4)
        want = self.student.evaluate(mimic.Dataset(self.x[10:30], self.t[10:30], self.y[10:30]))
        del ds
        gc.collect()
        self.assertEqual(self.student.evaluate(part), want)
        with self.assertRaises(ValueError):
            part.slice(5, 5)
        with self.assertRaises(TypeError):
            part[3]
        with self.assertRaises(ValueError):
            part[::2]

    def test_load_npy(self):
        with _support.TempDir() as tmp:
            px, pt, py = (os.path.join(tmp, n) for n in ("x.npy", "t.npy", "y.npy"))
            np.save(px, self.x)
            np.save(pt, self.t.astype(np.float64))
            np.save(py, self.y.astype(np.int64))
            ds = mimic.Dataset.load_npy(px, pt, py)
            self.assertFalse(ds.zero_copy)
            self.assertEqual((len(ds), ds.n_inputs, ds.n_classes), (64, 6, 3))
            self.assertTrue(ds.has_labels)
            want = self.student.evaluate(mimic.Dataset(self.x, self.t, self.y))
            got = self.student.evaluate(ds)
            for k in want:
                self.assertAlmostEqual(got[k], want[k], places=5)
            ds2 = mimic.Dataset.load_npy(px, pt)
            self.assertFalse(ds2.has_labels)
            ds3 = mimic.Dataset.load_npy(px, None, py, n_classes=3)
            self.assertFalse(ds3.has_logits)
            self.assertFalse(ds3.zero_copy)
            self.assertEqual(self.student.evaluate(ds3)["accuracy"], want["accuracy"])
            with self.assertRaises(ValueError):
                mimic.Dataset.load_npy(px, None)
            with self.assertRaises(ValueError):
                mimic.Dataset.load_npy(px, pt, n_classes=7)
            # errors name the file
            np.save(pt, self.t[:63])
            with self.assertRaises(mimic.MimicError) as cm:
                mimic.Dataset.load_npy(px, pt)
            self.assertEqual(cm.exception.status, mimic.Status.SHAPE)
            self.assertIn(".npy", cm.exception.message)
            missing = os.path.join(tmp, "missing.npy")
            with self.assertRaises(mimic.MimicError) as cm:
                mimic.Dataset.load_npy(missing, pt)
            self.assertEqual(cm.exception.status, mimic.Status.IO)
            self.assertIn("missing.npy", cm.exception.message)
            self.assertIn("missing.npy", str(cm.exception))

    def test_errors_before_c(self):
        with self.assertRaises(ValueError):
            mimic.Dataset(self.x, self.t[:10])
        with self.assertRaises(ValueError):
            mimic.Dataset(self.x.reshape(-1), self.t)
        with self.assertRaises(ValueError):
            mimic.Dataset(self.x, self.t.reshape(-1))
        with self.assertRaises(ValueError):
            mimic.Dataset(self.x, None)
        with self.assertRaises(ValueError):
            mimic.Dataset(self.x, self.t, self.y[:5])
        with self.assertRaises(ValueError):
            mimic.Dataset(self.x, self.t, n_classes=5)
        with self.assertRaises(ValueError):
            mimic.Dataset(self.x, None, self.y.astype(np.int64) + (1 << 33))
        with self.assertRaises(TypeError):
            mimic.Dataset(self.x.astype(bool), self.t)
        with self.assertRaises(TypeError):
            mimic.Dataset(self.x, self.t, self.y.astype(np.float32))
        with self.assertRaises(TypeError):
            mimic.Dataset(self.x.astype(object), self.t)

    def test_errors_from_c(self):
        t = self.t.copy()
        t[5, 1] = np.inf
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.Dataset(self.x, t)
        self.assertEqual(cm.exception.status, mimic.Status.NUMERIC)
        self.assertEqual(cm.exception.status_name, "MIMIC_ERR_NUMERIC")
        self.assertIn("5", cm.exception.message)
        y = self.y.copy()
        y[7] = 3
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.Dataset(self.x, self.t, y)
        self.assertEqual(cm.exception.status, mimic.Status.RANGE)
        y[7] = -1
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.Dataset(self.x, self.t, y, copy=True)
        self.assertEqual(cm.exception.status, mimic.Status.RANGE)
        self.assertEqual(cm.exception.function, "mimic_dataset_create_memory")



class TestTransferSetData(unittest.TestCase):
    """float16 logits, int64/uint8 labels in place, row getters, manifests (since 1.3)."""

    def setUp(self):
        self.x, self.t, self.y = _support.make_data(rows=64, d=6, c=3)
        self.t16 = self.t.astype(np.float16)
        self.student = mimic.Student(6, 8, 3, seed=1)

    def test_float16_logits_in_place(self):
        t16 = self.t16.copy()
        ds = mimic.Dataset(self.x, t16)
        self.assertTrue(ds.zero_copy)
        self.assertEqual(ds.logits_dtype, np.float16)
        self.assertIs(ds._keepalive[1], t16)
        # widened exactly, and read where the caller's array is
        np.testing.assert_array_equal(ds.logits(), t16.astype(np.float32))
        t16[3, 1] = 7.5
        self.assertEqual(ds.logits(3, 4)[0, 1], 7.5)
        # the same numbers as float32 logits holding the float16 values
        self.assertEqual(self.student.evaluate(ds),
                         self.student.evaluate(mimic.Dataset(self.x, t16.astype(np.float32))))
        self.assertIn("logits=float16", repr(ds))
        # float32 stays float32; float64 becomes float32; big-endian float16 stays float16
        self.assertEqual(mimic.Dataset(self.x, self.t).logits_dtype, np.float32)
        self.assertEqual(mimic.Dataset(self.x, self.t.astype(np.float64)).logits_dtype,
                         np.float32)
        be = mimic.Dataset(self.x, self.t.astype(">f2"))
        self.assertEqual(be.logits_dtype, np.float16)
        self.assertFalse(be.zero_copy)
        np.testing.assert_array_equal(be.logits(), self.t16.astype(np.float32))
        self.assertIsNone(mimic.Dataset(self.x, None, self.y).logits_dtype)

    def test_float16_copy_and_errors(self):
        t16 = self.t16.copy()
        ds = mimic.Dataset(self.x, t16, copy=True)
        self.assertFalse(ds.zero_copy)
        t16[:] = 0
        np.testing.assert_array_equal(ds.logits(), self.t16.astype(np.float32))
        t16 = self.t16.copy()
        t16[9, 2] = np.nan
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.Dataset(self.x, t16)
        self.assertEqual(cm.exception.status, mimic.Status.NUMERIC)
        self.assertIn("9", cm.exception.message)

    def test_labels_in_place(self):
        for dtype in (np.int64, np.uint8, np.int32):
            with self.subTest(dtype=np.dtype(dtype).name):
                y = self.y.astype(dtype)
                ds = mimic.Dataset(self.x, self.t, y)
                self.assertTrue(ds.zero_copy)
                self.assertIs(ds._keepalive[2], y)
                got = ds.labels()
                self.assertEqual(got.dtype, np.int32)
                np.testing.assert_array_equal(got, self.y)
        # other integer types become int32; int64 values must still fit int32 (labels-only
        # default n_classes) and be in range for the library
        ds = mimic.Dataset(self.x, self.t, self.y.astype(np.uint16))
        self.assertEqual(ds._keepalive[2].dtype, np.int32)
        self.assertFalse(ds.zero_copy)
        with self.assertRaises(ValueError):
            mimic.Dataset(self.x, self.t, self.y.astype(np.int64) - (1 << 40))
        y = self.y.astype(np.int64)
        y[11] = 3
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.Dataset(self.x, self.t, y)
        self.assertEqual(cm.exception.status, mimic.Status.RANGE)
        self.assertIn("11", cm.exception.message)

    def test_row_getters(self):
        x8 = (np.abs(self.x) * 40).clip(0, 255).astype(np.uint8)
        ds = mimic.Dataset(x8, self.t16, self.y)
        got = ds.inputs(10, 13)
        self.assertEqual((got.dtype, got.shape), (np.float32, (3, 6)))
        np.testing.assert_array_equal(got, x8[10:13].astype(np.float32))
        np.testing.assert_array_equal(ds.inputs(), x8.astype(np.float32))
        np.testing.assert_array_equal(ds.inputs(-2), x8[-2:].astype(np.float32))
        np.testing.assert_array_equal(ds.logits(60, 1000), self.t16[60:].astype(np.float32))
        np.testing.assert_array_equal(ds.labels(5, 9), self.y[5:9])
        self.assertEqual(ds.inputs(5, 5).shape, (0, 6))
        self.assertEqual(ds.labels(9, 5).shape, (0,))
        # a slice reads its own rows
        np.testing.assert_array_equal(ds[20:30].labels(), self.y[20:30])
        # what the set lacks
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.Dataset(self.x, self.t).labels()
        self.assertEqual(cm.exception.status, mimic.Status.INVALID)
        self.assertIn("labels", cm.exception.message)
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.Dataset(self.x, None, self.y).logits(0, 4)
        self.assertIn("logits", cm.exception.message)
        self.assertEqual(cm.exception.function, "mimic_dataset_get_logits")

    def test_load_npy_float16_and_images(self):
        x8 = (np.abs(self.x) * 40).clip(0, 255).astype(np.uint8)
        with _support.TempDir() as tmp:
            px, pt = os.path.join(tmp, "x.npy"), os.path.join(tmp, "t.npy")
            np.save(px, np.repeat(x8, 2, axis=1).reshape(64, 3, 4))
            np.save(pt, self.t16)
            ds = mimic.Dataset.load_npy(px, pt)
            self.assertEqual(ds.logits_dtype, np.float16)
            self.assertEqual((ds.n_inputs, ds.image_shape, ds.n_shards), (12, (3, 4), 1))
            np.testing.assert_array_equal(ds.logits(), self.t16.astype(np.float32))
            np.testing.assert_array_equal(ds.inputs(),
                                          np.repeat(x8, 2, axis=1).astype(np.float32))
        self.assertIsNone(mimic.Dataset(self.x, self.t).image_shape)
        self.assertEqual(mimic.Dataset(self.x, self.t).n_shards, 1)

    def write_shards(self, tmp, cuts):
        """Shards of self.x/t16/y cut at `cuts`, saved with NumPy, and a manifest naming
        them (the format of include/mimic/dataset.h), written by hand."""
        shards = []
        for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
            names = {role: "s%d.%s.npy" % (k, role) for role in ("inputs", "logits", "labels")}
            np.save(os.path.join(tmp, names["inputs"]), self.x[a:b])
            np.save(os.path.join(tmp, names["logits"]), self.t16[a:b])
            np.save(os.path.join(tmp, names["labels"]), self.y[a:b].astype(np.int64))
            shards.append(dict(names, rows=b - a))
        path = os.path.join(tmp, "manifest.json")
        with open(path, "w") as f:
            json.dump({"format": "mimic-manifest", "version": 1, "shards": shards}, f)
        return path

    def test_load_manifest(self):
        with _support.TempDir() as tmp:
            path = self.write_shards(tmp, [0, 20, 45, 64])
            ds = mimic.Dataset.load_manifest(path)
            self.assertEqual((len(ds), ds.n_shards, ds.n_inputs, ds.n_classes), (64, 3, 6, 3))
            self.assertEqual(ds.logits_dtype, np.float16)
            self.assertTrue(ds.has_labels)
            self.assertFalse(ds.zero_copy)
            # rows follow each other across shards
            np.testing.assert_array_equal(ds.inputs(15, 50), self.x[15:50])
            np.testing.assert_array_equal(ds.logits(), self.t16.astype(np.float32))
            np.testing.assert_array_equal(ds.labels(), self.y)
            self.assertEqual(ds[25:40].n_shards, 1)
            self.assertEqual(ds[10:50].n_shards, 3)
            self.assertEqual(self.student.evaluate(ds),
                             self.student.evaluate(mimic.Dataset(self.x, self.t16, self.y)))
            # a missing shard file: the message names the manifest, the shard and the file
            os.remove(os.path.join(tmp, "s1.logits.npy"))
            with self.assertRaises(mimic.MimicError) as cm:
                mimic.Dataset.load_manifest(path)
            self.assertEqual(cm.exception.function, "mimic_dataset_load_manifest")
            for part in ("manifest.json", "shard 1", "s1.logits.npy"):
                self.assertIn(part, cm.exception.message)
            with self.assertRaises(mimic.MimicError) as cm:
                mimic.Dataset.load_manifest(os.path.join(tmp, "none.json"))
            self.assertIn("none.json", cm.exception.message)


if __name__ == "__main__":
    unittest.main()
