"""mimic.loss and mimic.softmax against NumPy implementations of the documented formulas."""

import unittest

import numpy as np

import _support
import mimic


def np_softmax(z, temperature=1.0):
    z = np.asarray(z, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def np_log_softmax(z, temperature=1.0):
    z = np.asarray(z, dtype=np.float64) / temperature
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


class TestLoss(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(1)
        self.s = rng.normal(size=(7, 5)).astype(np.float32) * 3
        self.t = rng.normal(size=(7, 5)).astype(np.float32) * 3
        self.y = rng.integers(0, 5, size=7).astype(np.int32)

    def test_logit_l2(self):
        loss, grad = mimic.loss.logit_l2(self.s, self.t)
        n = self.s.shape[0]
        d = self.s.astype(np.float64) - self.t
        self.assertIsInstance(loss, float)
        self.assertAlmostEqual(loss, (d ** 2).sum() / (2 * n), places=5)
        self.assertEqual(grad.dtype, np.float32)
        _support.assert_close_rel(self, grad, d / n)

    def test_softmax_ce(self):
        T = 3.0
        loss, grad = mimic.loss.softmax_ce(self.s, self.t, T)
        n = self.s.shape[0]
        pt = np_softmax(self.t, T)
        kl = (pt * (np.log(pt) - np_log_softmax(self.s, T))).sum(axis=1)
        self.assertAlmostEqual(loss, T * T * kl.sum() / n, places=5)
        _support.assert_close_rel(self, grad, T / n * (np_softmax(self.s, T) - pt))
        # a perfect mimic scores 0
        self.assertAlmostEqual(mimic.loss.softmax_ce(self.t, self.t, T)[0], 0.0, places=6)

    def test_hard_ce(self):
        loss, grad = mimic.loss.hard_ce(self.s, self.y)
        n = self.s.shape[0]
        ls = np_log_softmax(self.s)
        self.assertAlmostEqual(loss, -ls[np.arange(n), self.y].mean(), places=5)
        onehot = np.eye(5)[self.y]
        _support.assert_close_rel(self, grad, (np_softmax(self.s) - onehot) / n)

    def test_hard_ce_int64_labels_converted(self):
        a = mimic.loss.hard_ce(self.s, self.y.astype(np.int64))
        b = mimic.loss.hard_ce(self.s, self.y)
        self.assertEqual(a[0], b[0])

    def test_softmax(self):
        p = mimic.softmax(self.s, temperature=2.0)
        self.assertEqual(p.shape, self.s.shape)
        _support.assert_close_rel(self, p, np_softmax(self.s, 2.0))
        # shift invariance, the reason to regress on logits
        _support.assert_close_rel(self, mimic.softmax([-10.0, 0.0, 10.0]),
                                  mimic.softmax([10.0, 20.0, 30.0]))
        self.assertEqual(mimic.softmax([1.0, 2.0]).shape, (2,))

    def test_large_logits_stable(self):
        z = np.array([[1e4, 0.0, -1e4]], dtype=np.float32)
        p = mimic.softmax(z)
        self.assertTrue(np.all(np.isfinite(p)))
        loss, grad = mimic.loss.hard_ce(z, [2])
        self.assertTrue(np.isfinite(loss))

    def test_noncontiguous_and_float64_converted(self):
        big = np.asfortranarray(self.s.astype(np.float64))
        loss_a, grad_a = mimic.loss.logit_l2(big, self.t[:, :])
        loss_b, grad_b = mimic.loss.logit_l2(self.s, self.t)
        self.assertAlmostEqual(loss_a, loss_b, places=5)
        np.testing.assert_array_equal(grad_a, grad_b)
        strided = np.zeros((7, 10), dtype=np.float32)
        strided[:, ::2] = self.s
        loss_c, grad_c = mimic.loss.logit_l2(strided[:, ::2], self.t)
        self.assertEqual(loss_c, loss_b)
        np.testing.assert_array_equal(grad_c, grad_b)

    def test_errors(self):
        with self.assertRaises(ValueError):
            mimic.loss.logit_l2(self.s, self.t[:, :4])
        with self.assertRaises(ValueError):
            mimic.loss.hard_ce(self.s, self.y[:3])
        with self.assertRaises(TypeError):
            mimic.loss.hard_ce(self.s, self.y.astype(np.float32))
        with self.assertRaises(TypeError):
            mimic.loss.logit_l2(self.s.astype(np.complex64), self.t)
        with self.assertRaises(TypeError):
            mimic.softmax(np.array(["a", "b"]))
        with self.assertRaises(ValueError):
            mimic.softmax(np.zeros((0, 3), np.float32))
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.loss.softmax_ce(self.s, self.t, 0.0)
        self.assertEqual(cm.exception.status, mimic.Status.INVALID)
        self.assertEqual(cm.exception.status_name, "MIMIC_ERR_INVALID")
        self.assertIn("temperature", str(cm.exception).lower())
        bad = self.t.copy()
        bad[3, 2] = np.nan
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.loss.logit_l2(self.s, bad)
        self.assertEqual(cm.exception.status, mimic.Status.NUMERIC)
        self.assertTrue(cm.exception.message)
        y = self.y.copy()
        y[4] = 5
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.loss.hard_ce(self.s, y)
        self.assertEqual(cm.exception.status, mimic.Status.RANGE)
        self.assertEqual(cm.exception.function, "mimic_loss_hard_ce")


if __name__ == "__main__":
    unittest.main()
