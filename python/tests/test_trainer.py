"""mimic.Trainer, the step-wise trainer: same result as fit, steps, checkpoints, the
student's ownership, callbacks."""

import os
import threading
import unittest

import numpy as np

import _support
import mimic


class TestTrainer(unittest.TestCase):
    def setUp(self):
        self.x, self.t, self.y = _support.make_data(rows=300, d=10, c=3, seed=6)
        self.train = mimic.Dataset(self.x[:256], self.t[:256], self.y[:256])
        self.valid = mimic.Dataset(self.x[256:], self.t[256:], self.y[256:])
        self.opts = dict(epochs=3, batch_size=64, learning_rate=0.01, validation=self.valid,
                         seed=4)

    def student(self):
        return mimic.Student(10, 24, 3, bottleneck=4, seed=2)

    def test_epochs_equal_fit(self):
        a = self.student()
        h = a.fit(self.train, **self.opts)
        b = self.student()
        with mimic.Trainer(b, self.train, **self.opts) as tr:
            recs = [tr.epoch() for _ in range(3)]
            self.assertEqual(tr.report["epochs_run"], 3)
            self.assertEqual(tr.report["steps"], 12)
        self.assertTrue(tr.closed)
        for name, w in a.tensors().items():
            np.testing.assert_array_equal(w, b.tensor(name))
        for ra, rb in zip(h, recs):
            self.assertEqual(ra["train_loss"], rb["train_loss"])
            self.assertEqual(ra["validation"], rb["validation"])
            self.assertFalse(rb["cancelled"])

    def test_steps_and_exhaustion(self):
        s = self.student()
        tr = mimic.Trainer(s, self.train, epochs=1, batch_size=64, learning_rate=0.01)
        losses = [tr.step() for _ in range(4)]
        self.assertTrue(all(np.isfinite(losses)))
        self.assertIn("Trainer(", repr(tr))
        with self.assertRaises(mimic.MimicError) as cm:
            tr.step()
        self.assertEqual(cm.exception.status, mimic.Status.MISUSE)
        tr.close()
        tr.close()
        with self.assertRaises(ValueError):
            tr.step()

    def test_student_owned_until_close(self):
        s = self.student()
        tr = mimic.Trainer(s, self.train, epochs=2)
        tr.step()
        s.forward(self.x)  # same thread: fine
        with self.assertRaises(RuntimeError):
            s.fit(self.train, epochs=1)
        with self.assertRaises(RuntimeError):
            mimic.Trainer(s, self.train)
        seen = []

        def other_thread():
            try:
                s.forward(self.x)
                seen.append(None)
            except RuntimeError as e:
                seen.append(e)

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        self.assertIsInstance(seen[0], RuntimeError)
        tr.close()
        s.fit(self.train, epochs=1)
        # garbage collection also hands the student back
        tr = mimic.Trainer(s, self.train, epochs=1)
        del tr
        import gc
        gc.collect()
        s.fit(self.train, epochs=1)

    def test_checkpoint_roundtrip(self):
        with _support.TempDir() as tmp:
            ck = os.path.join(tmp, "ck.safetensors")
            a = self.student()
            with mimic.Trainer(a, self.train, **self.opts) as tr:
                tr.epoch()
                tr.step()
                tr.save_checkpoint(ck)
                tr.epoch()
                tr.epoch()
            b = self.student()
            with mimic.Trainer(b, self.train, **self.opts) as tr:
                tr.load_checkpoint(ck)
                tr.epoch()
                tr.epoch()
            np.testing.assert_array_equal(a.forward(self.x), b.forward(self.x))
            with mimic.Trainer(self.student(), self.train, **self.opts) as tr:
                with self.assertRaises(mimic.MimicError) as cm:
                    tr.load_checkpoint(os.path.join(tmp, "missing.safetensors"))
                self.assertEqual(cm.exception.status, mimic.Status.IO)

    def test_callbacks(self):
        s = self.student()

        def stop(r):
            return True

        with mimic.Trainer(s, self.train, epochs=3, progress=stop) as tr:
            rec = tr.epoch()
            self.assertTrue(rec["cancelled"])
            self.assertEqual(rec["epoch"], 1)

        def boom(r):
            raise KeyboardInterrupt

        with mimic.Trainer(s, self.train, epochs=3, progress=boom) as tr:
            with self.assertRaises(KeyboardInterrupt):
                tr.epoch()
        s.forward(self.x)

    def test_errors(self):
        s = self.student()
        with self.assertRaises(TypeError):
            mimic.Trainer("student", self.train)
        with self.assertRaises(TypeError):
            mimic.Trainer(s, self.train, no_such_option=1)
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.Trainer(s, self.train, epochs=0)
        self.assertIn("epochs", cm.exception.message)
        s.fit(self.train, epochs=1)  # a failed Trainer leaves the student free


if __name__ == "__main__":
    unittest.main()
