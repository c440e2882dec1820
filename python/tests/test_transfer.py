"""mimic.transfer.images: deterministic augmented copies, row i a function of (seed, i);
each augmentation against a direct reference; use as mimic.label's inputs."""

import os
import unittest

import numpy as np

import _support
import mimic

N, H, W = 50, 9, 11
AUGMENT = dict(flip=0.5, shift=2, rotate=15, scale=0.2, mixup=0.3)


def make_images(n=N, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, H, W)).astype(np.uint8)


def reference_row(img, flip, dx, dy, angle, scale):
    """One image warped pixel by pixel (nearest neighbour): output (r, c) reads the source at
    the inverse of mirror, scale and rotate (counter-clockwise on screen) about the centre,
    then shift; zero outside."""
    h, w = img.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    t = np.deg2rad(angle)
    out = np.zeros((h, w))
    for r in range(h):
        for c in range(w):
            u, v = c - cx - dx, r - cy - dy
            su = (np.cos(t) * u - np.sin(t) * v) / scale
            sv = (np.sin(t) * u + np.cos(t) * v) / scale
            if flip:
                su = -su
            sr, sc = int(np.floor(sv + cy + 0.5)), int(np.floor(su + cx + 0.5))
            if 0 <= sr < h and 0 <= sc < w:
                out[r, c] = img[sr, sc]
    return out


class TestImages(unittest.TestCase):
    def setUp(self):
        self.x = make_images()

    def test_same_seed_same_rows_any_chunking(self):
        a = mimic.transfer.images(self.x, 3000, seed=7, batch_size=1000, **AUGMENT)
        rows = np.concatenate(list(a))
        self.assertEqual((rows.shape, rows.dtype), ((3000, H, W), np.uint8))
        self.assertEqual((len(a), a.shape, a.n_batches, a.ndim), (3000, (3000, H, W), 3, 3))
        # again, in other batches, sliced, indexed, one row
        b = mimic.transfer.images(self.x, 3000, seed=7, batch_size=37, **AUGMENT)
        np.testing.assert_array_equal(np.concatenate(list(b)), rows)
        np.testing.assert_array_equal(b[1500:2600], rows[1500:2600])
        np.testing.assert_array_equal(b[[2999, 5, 1024, 5]], rows[[2999, 5, 1024, 5]])
        np.testing.assert_array_equal(b[-1], rows[-1])
        np.testing.assert_array_equal(b.batch(2), rows[74:111])
        self.assertEqual(b[5:5].shape, (0, H, W))
        # a longer set starts with the same rows
        c = mimic.transfer.images(self.x, 5000, seed=7, **AUGMENT)
        np.testing.assert_array_equal(c[:3000], rows)
        # another seed, other rows
        d = mimic.transfer.images(self.x, 3000, seed=8, **AUGMENT)
        self.assertGreater(np.mean(d[:] != rows), 0.3)

    def test_cycles_use_every_image(self):
        t = mimic.transfer.images(self.x, 2 * N + 10, seed=1)
        src = t.draws()["source"]
        self.assertEqual(sorted(src[:N]), list(range(N)))
        self.assertEqual(sorted(src[N:2 * N]), list(range(N)))
        self.assertNotEqual(list(src[:N]), list(src[N:2 * N]))
        # without augmentation a row is its source image
        np.testing.assert_array_equal(t[:], self.x[src])

    def test_flip_and_shift_move_whole_pixels(self):
        t = mimic.transfer.images(self.x, 400, seed=2, flip=0.5, shift=3)
        d = t.draws()
        self.assertTrue(0.35 < d["flip"].mean() < 0.65)
        self.assertEqual((d["dx"].min(), d["dx"].max(), d["dy"].min(), d["dy"].max()),
                         (-3, 3, -3, 3))
        rows = t[:]
        for i in range(400):
            img = self.x[d["source"][i]]
            if d["flip"][i]:
                img = img[:, ::-1]
            want = np.zeros_like(img)
            dx, dy = d["dx"][i], d["dy"][i]
            want[max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
                img[max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
            np.testing.assert_array_equal(rows[i], want, err_msg="row %d" % i)
        # nearest and bilinear agree on whole-pixel moves
        near = mimic.transfer.images(self.x, 400, seed=2, flip=0.5, shift=3,
                                     interpolation="nearest")
        np.testing.assert_array_equal(near[:], rows)

    def test_rotate_and_scale_against_a_reference(self):
        kw = dict(seed=3, flip=0.5, shift=2, rotate=30, scale=0.3, interpolation="nearest",
                  dtype="float32")
        t = mimic.transfer.images(self.x, 60, **kw)
        d = t.draws()
        self.assertTrue(np.all(np.abs(d["angle"]) <= 30) and np.any(np.abs(d["angle"]) > 10))
        self.assertTrue(np.all(np.abs(d["scale"] - 1) <= 0.3))
        rows = t[:]
        self.assertEqual(rows.dtype, np.float32)
        for i in range(60):
            want = reference_row(self.x[d["source"][i]], d["flip"][i], d["dx"][i], d["dy"][i],
                                 d["angle"][i], d["scale"][i])
            # a coordinate within float rounding of a half pixel may round either way
            self.assertGreater(np.mean(rows[i] == want), 0.97, "row %d" % i)
        # bilinear: a constant image stays constant where the source covers the output
        flat = np.full((3, H, W), 200, np.uint8)
        b = mimic.transfer.images(flat, 30, seed=3, rotate=30, scale=0.3, dtype="float32")[:]
        self.assertTrue(np.all((b >= 0) & (b <= 200.0001)))
        np.testing.assert_allclose(b[:, H // 2, W // 2], 200, rtol=1e-5)
        # rotation is counter-clockwise on screen: a bright pixel 3 right of the centre
        # moves up (its weight's centre is at row 4 - 3 sin(angle)) for positive angles
        dot = np.zeros((1, 9, 9), np.uint8)
        dot[0, 4, 7] = 255
        r = mimic.transfer.images(dot, 200, seed=0, rotate=90, dtype="float32")
        angles = r.draws()["angle"]
        self.assertTrue(np.any(angles > 45) and np.any(angles < -45))
        for img, angle in zip(r[:], angles):
            row = np.sum(img.sum(1) * np.arange(9)) / img.sum()
            self.assertAlmostEqual(row, 4 - 3 * np.sin(np.deg2rad(angle)), delta=0.5)

    def test_mixup(self):
        t = mimic.transfer.images(self.x, 300, seed=4, mixup=1.0, mixup_alpha=0.5)
        d = t.draws()
        self.assertTrue(d["mixup"].all())
        self.assertTrue(np.all((d["lam"] > 0) & (d["lam"] < 1)))
        want = d["lam"][:, None, None] * self.x[d["source"]].astype(np.float64) + \
            (1 - d["lam"][:, None, None]) * self.x[d["partner"]]
        rows = t[:]
        self.assertEqual(rows.dtype, np.uint8)  # rounded and clipped
        self.assertLessEqual(np.max(np.abs(rows - want)), 0.5 + 1e-3)
        f = mimic.transfer.images(self.x, 300, seed=4, mixup=1.0, mixup_alpha=0.5,
                                  dtype="float32")[:]
        np.testing.assert_allclose(f, want, rtol=1e-5, atol=1e-3)
        self.assertGreater(np.mean(f != np.round(f)), 0.5)  # floats kept
        # mixup=0.3 blends about 30% of the rows; the others are their source image
        d = mimic.transfer.images(self.x, 1000, seed=4, mixup=0.3).draws()
        self.assertTrue(0.25 < d["mixup"].mean() < 0.35)

    def test_layouts_and_dtypes(self):
        t = mimic.transfer.images(self.x, 200, seed=5, **AUGMENT)
        want = t[:]
        # N x D with image_shape gives the same rows, flattened
        flat = mimic.transfer.images(self.x.reshape(N, -1), 200, seed=5, image_shape=(H, W),
                                     **AUGMENT)
        self.assertEqual(flat.shape, (200, H * W))
        np.testing.assert_array_equal(flat[:], want.reshape(200, -1))
        # channels first: every channel moves alike
        xc = np.stack([self.x, self.x // 2], axis=1).astype(np.float32)
        c = mimic.transfer.images(xc, 200, seed=5, **AUGMENT)[:]
        self.assertEqual((c.shape, c.dtype), ((200, 2, H, W), np.float32))
        np.testing.assert_allclose(c[:, 1], mimic.transfer.images(
            (self.x // 2).astype(np.float32), 200, seed=5, **AUGMENT)[:], rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(np.rint(c[:, 0]), want, atol=1)
        # float64 images give float32 rows; N x 1 x H x W keeps its shape
        self.assertEqual(mimic.transfer.images(self.x.astype(np.float64), 5).dtype, np.float32)
        self.assertEqual(mimic.transfer.images(self.x[:, None], 5)[:].shape, (5, 1, H, W))

    def test_argument_checks(self):
        x = self.x
        for kw in (dict(n_rows=0), dict(seed=-1), dict(seed=1.5), dict(batch_size=0),
                   dict(flip=1.5), dict(flip=True), dict(shift=-1), dict(shift=1.5),
                   dict(rotate=-1), dict(rotate=200), dict(scale=1.0), dict(mixup=2),
                   dict(mixup_alpha=0), dict(interpolation="cubic"), dict(dtype="uint8"),
                   dict(x=x.reshape(N, -1)), dict(x=x.reshape(N, -1), image_shape=(10, 10)),
                   dict(x=x[0]), dict(x=x[:0]), dict(image_shape=(W, H))):
            with self.subTest(kw=kw):
                args = dict(x=x, n_rows=10)
                args.update(kw)
                with self.assertRaises(ValueError) as cm:
                    mimic.transfer.images(**args)
                name = [k for k in kw if k != "x"] or ["x"]
                self.assertTrue(any(n in str(cm.exception) for n in name + ["image_shape"]),
                                str(cm.exception))
        with self.assertRaises(TypeError):
            mimic.transfer.images(x.astype(complex), 10)
        t = mimic.transfer.images(x, 10)
        with self.assertRaises(IndexError):
            t[10]
        with self.assertRaises(IndexError):
            t.batch(1)
        with self.assertRaises(TypeError):
            t[1.5]

    def test_as_label_inputs(self):
        t = mimic.transfer.images(self.x, 700, seed=6, **AUGMENT)
        calls = []

        def teacher(b):
            calls.append(len(b))
            z = b.reshape(len(b), -1).astype(np.float64) / 255
            return np.stack([z.mean(1), z.std(1), z[:, 0]], axis=1)

        with _support.TempDir() as tmp:
            result = mimic.label(teacher, t, os.path.join(tmp, "set"), shard_rows=300,
                                 batch_size=100, progress=False)
            ds = mimic.Dataset.load_manifest(result)
            self.assertEqual((len(ds), ds.image_shape, ds.input_dtype), (700, (H, W), np.uint8))
            np.testing.assert_array_equal(ds.inputs(), t[:].reshape(700, -1))
            # resumed after an interruption in the last shard: only its rows are labelled
            os.remove(os.path.join(tmp, "set", "shard-00002.logits.npy"))
            calls.clear()
            again = mimic.label(teacher, t, os.path.join(tmp, "set"), shard_rows=300,
                                batch_size=100, progress=False)
            self.assertEqual((sum(calls), again.kept_shards), (100, 2))
            # another seed is another set
            with self.assertRaises(ValueError):
                mimic.label(teacher, mimic.transfer.images(self.x, 700, seed=9, **AUGMENT),
                            os.path.join(tmp, "set"), shard_rows=300, progress=False)


if __name__ == "__main__":
    unittest.main()
