"""mimic.NpyWriter and mimic.ManifestWriter: the library's streaming writers."""

import gc
import glob
import os
import unittest

import numpy as np

import _support
import mimic


def temp_files(path):
    return glob.glob(path + ".tmp.*")


class TestNpyWriter(unittest.TestCase):
    def test_batches_make_one_file(self):
        rng = np.random.default_rng(0)
        want = rng.normal(size=(70, 10)).astype(np.float16)
        with _support.TempDir() as tmp:
            path = os.path.join(tmp, "logits.npy")
            with mimic.NpyWriter(path, "float16", (10,)) as w:
                self.assertEqual((w.dtype, w.row_shape, w.path), (np.float16, (10,), path))
                for a in range(0, 70, 32):
                    w.append(want[a:a + 32])
                    # until close the file has its temporary name only
                    self.assertFalse(os.path.exists(path))
                    self.assertEqual(len(temp_files(path)), 1)
                w.append(want[:0])
                self.assertEqual(w.rows, 70)
                self.assertIn("rows=70", repr(w))
            self.assertTrue(w.closed)
            self.assertEqual(temp_files(path), [])
            got = np.load(path)
            self.assertEqual(got.dtype, np.dtype("<f2"))
            np.testing.assert_array_equal(got, want)
            # the library reads it too
            x = np.zeros((70, 3), np.float32)
            np.save(os.path.join(tmp, "x.npy"), x)
            ds = mimic.Dataset.load_npy(os.path.join(tmp, "x.npy"), path)
            np.testing.assert_array_equal(ds.logits(), want.astype(np.float32))

    def test_dtypes_and_shapes(self):
        rng = np.random.default_rng(1)
        cases = [("float32", (3,)), ("float64", (2, 2)), ("uint8", (1, 4, 5)), ("int32", ()),
                 ("int64", 7), ("float16", (2,))]
        with _support.TempDir() as tmp:
            for dtype, shape in cases:
                with self.subTest(dtype=dtype, shape=shape):
                    row = (shape,) if isinstance(shape, int) else shape
                    want = (rng.normal(size=(5,) + row) * 50).astype(dtype)
                    path = os.path.join(tmp, dtype + ".npy")
                    with mimic.NpyWriter(path, np.dtype(dtype), shape) as w:
                        w.append(want[:2])
                        w.append(want[2:])
                    got = np.load(path)
                    self.assertEqual(got.shape, want.shape)
                    np.testing.assert_array_equal(got, want)

    def test_append_checks(self):
        with _support.TempDir() as tmp:
            path = os.path.join(tmp, "a.npy")
            w = mimic.NpyWriter(path, np.float32, (4,))
            with self.assertRaises(TypeError) as cm:
                w.append(np.zeros((2, 4), np.float64))
            self.assertIn("astype(np.float32)", str(cm.exception))
            with self.assertRaises(ValueError) as cm:
                w.append(np.zeros((2, 5), np.float32))
            self.assertIn("(2, 5)", str(cm.exception))
            with self.assertRaises(ValueError):
                w.append(np.zeros(4, np.float32))
            with self.assertRaises(ValueError) as cm:
                w.append(np.zeros((4, 2), np.float32).T)
            self.assertIn("C-contiguous", str(cm.exception))
            self.assertEqual(w.rows, 0)
            w.append(np.ones((3, 4), np.float32))
            self.assertEqual(w.close(), path)
            self.assertEqual(w.close(), path)  # twice: nothing more
            with self.assertRaises(ValueError) as cm:
                w.append(np.ones((1, 4), np.float32))
            self.assertIn("closed", str(cm.exception))
            np.testing.assert_array_equal(np.load(path), np.ones((3, 4), np.float32))

    def test_open_errors(self):
        with _support.TempDir() as tmp:
            path = os.path.join(tmp, "a.npy")
            for dtype in (np.complex64, ">f4", bool, "int16"):
                with self.subTest(dtype=dtype), self.assertRaises(TypeError):
                    mimic.NpyWriter(path, dtype, (3,))
            for shape in ((3, 0), (2.5,), (True,), (-1,)):
                with self.subTest(shape=shape), self.assertRaises(ValueError):
                    mimic.NpyWriter(path, "float32", shape)
            with self.assertRaises(mimic.MimicError) as cm:
                mimic.NpyWriter(path, "float32", (1,) * 8)
            self.assertEqual(cm.exception.status, mimic.Status.INVALID)
            missing = os.path.join(tmp, "no", "such", "dir.npy")
            with self.assertRaises(mimic.MimicError) as cm:
                mimic.NpyWriter(missing, "float32", (3,))
            self.assertEqual(cm.exception.status, mimic.Status.IO)
            self.assertIn("dir.npy", cm.exception.message)
            self.assertEqual(os.listdir(tmp), [])

    def test_abort_keeps_what_was_there(self):
        with _support.TempDir() as tmp:
            path = os.path.join(tmp, "a.npy")
            np.save(path, np.arange(3))
            with self.assertRaises(RuntimeError):
                with mimic.NpyWriter(path, "int64") as w:
                    w.append(np.arange(10))
                    raise RuntimeError("teacher failed")
            self.assertTrue(w.closed)
            self.assertEqual(temp_files(path), [])
            np.testing.assert_array_equal(np.load(path), np.arange(3))
            w.abort()  # again: nothing
            # an explicit abort, and an open writer garbage-collected
            w = mimic.NpyWriter(path, "int64")
            w.append(np.arange(4))
            w.abort()
            w = mimic.NpyWriter(path, "int64")
            w.append(np.arange(4))
            self.assertEqual(len(temp_files(path)), 1)
            del w
            gc.collect()
            self.assertEqual(temp_files(path), [])
            np.testing.assert_array_equal(np.load(path), np.arange(3))


class TestManifestWriter(unittest.TestCase):
    def write_shard(self, tmp, name, x, t=None, y=None):
        files = [None, None, None]
        for i, (role, a) in enumerate((("inputs", x), ("logits", t), ("labels", y))):
            if a is not None:
                files[i] = "%s.%s.npy" % (name, role)
                with mimic.NpyWriter(os.path.join(tmp, files[i]), a.dtype, a.shape[1:]) as w:
                    w.append(a)
        return files

    def test_manifest_of_shards(self):
        x, t, y = _support.make_data(rows=50, d=5, c=3)
        x8 = (np.abs(x) * 30).astype(np.uint8).reshape(50, 1, 5)
        t16 = t.astype(np.float16)
        with _support.TempDir() as tmp:
            path = os.path.join(tmp, "manifest.json")
            with mimic.ManifestWriter(path) as m:
                for k, (a, b) in enumerate(((0, 20), (20, 50))):
                    files = self.write_shard(tmp, "s%d" % k, x8[a:b], t16[a:b], y[a:b])
                    self.assertEqual(m.add(*files), b - a)
                    self.assertFalse(os.path.exists(path))
                self.assertEqual((m.rows, m.n_shards), (50, 2))
                self.assertIn("shards=2", repr(m))
            ds = mimic.Dataset.load_manifest(path)
            self.assertEqual((len(ds), ds.n_shards, ds.logits_dtype), (50, 2, np.float16))
            self.assertEqual(ds.image_shape, (1, 5))
            np.testing.assert_array_equal(ds.inputs(), x8.reshape(50, 5).astype(np.float32))
            np.testing.assert_array_equal(ds.labels(), y)

    def test_add_errors_and_abort(self):
        x, t, _ = _support.make_data(rows=20, d=5, c=3)
        with _support.TempDir() as tmp:
            good = self.write_shard(tmp, "good", x, t)
            wide = self.write_shard(tmp, "wide", np.hstack([x, x]), t)
            path = os.path.join(tmp, "manifest.json")
            m = mimic.ManifestWriter(path)
            with self.assertRaises(mimic.MimicError) as cm:
                m.close()  # no shards: nothing written
            self.assertEqual(cm.exception.status, mimic.Status.INVALID)
            self.assertFalse(os.path.exists(path))
            self.assertTrue(m.closed)
            m = mimic.ManifestWriter(path)
            m.add(*good)
            with self.assertRaises(mimic.MimicError) as cm:
                m.add(*wide)  # other columns than shard 0: refused, nothing added
            self.assertEqual(cm.exception.status, mimic.Status.SHAPE)
            self.assertIn("wide.inputs.npy", cm.exception.message)
            with self.assertRaises(mimic.MimicError) as cm:
                m.add("missing.npy", good[1])
            self.assertIn("missing.npy", cm.exception.message)
            with self.assertRaises(ValueError):
                m.add(good[0])
            self.assertEqual((m.rows, m.n_shards), (20, 1))
            m.add(*good)  # the writer goes on; a file may serve several shards
            m.close()
            self.assertEqual(len(mimic.Dataset.load_manifest(path)), 40)
            with self.assertRaises(ValueError):
                m.add(*good)
            # an exception in the block writes nothing
            other = os.path.join(tmp, "other.json")
            with self.assertRaises(KeyboardInterrupt):
                with mimic.ManifestWriter(other) as m:
                    m.add(*good)
                    raise KeyboardInterrupt
            self.assertEqual(glob.glob(other + "*"), [])


if __name__ == "__main__":
    unittest.main()
