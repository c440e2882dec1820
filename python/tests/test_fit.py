"""Student.fit: history, losses, options, the progress callback (stop, exceptions,
KeyboardInterrupt), object lifetimes during training, errors."""

import gc
import os
import signal
import threading
import unittest

import numpy as np

import _support
import mimic


class Boom(Exception):
    pass


class TestFit(unittest.TestCase):
    def setUp(self):
        self.x, self.t, self.y = _support.make_data(rows=512, d=12, c=4, seed=2)
        self.train = mimic.Dataset(self.x[:384], self.t[:384], self.y[:384])
        self.valid = mimic.Dataset(self.x[384:], self.t[384:], self.y[384:])

    def student(self, **kw):
        return mimic.Student(12, 32, 4, bottleneck=kw.pop("bottleneck", 6), seed=1, **kw)

    def test_history_and_learning(self):
        s = self.student()
        before = s.evaluate(self.valid)["logit_l2"]
        h = s.fit(self.train, epochs=8, batch_size=32, learning_rate=0.01, validation=self.valid)
        self.assertIsInstance(h, mimic.History)
        self.assertEqual(len(h), 8)
        self.assertFalse(h.cancelled)
        self.assertEqual([r["epoch"] for r in h], list(range(1, 9)))
        self.assertEqual(h[-1]["step"], 8 * 12)
        for r in h:
            for key in ("epoch", "step", "train_loss", "learning_rate", "elapsed_s",
                        "examples_per_s", "validation"):
                self.assertIn(key, r)
            self.assertTrue(r["epoch_end"])
            self.assertEqual(r["steps_per_epoch"], 12)
            self.assertEqual(set(r["validation"]), {"rows", "logit_l2", "logit_rmse", "kl",
                                                    "hard_ce", "accuracy", "agreement"})
            self.assertIsNone(r["train_metrics"])
        self.assertLess(h[-1]["train_loss"], h[0]["train_loss"])
        after = s.evaluate(self.valid)
        self.assertLess(after["logit_l2"], 0.5 * before)
        self.assertAlmostEqual(after["logit_l2"], h[-1]["validation"]["logit_l2"], places=5)
        self.assertEqual(h.report["epochs_run"], 8)
        self.assertEqual(h.report["steps"], 96)
        self.assertFalse(h.report["stopped_early"])

    def test_losses(self):
        for loss in ("l2", "kd", "labels"):
            with self.subTest(loss=loss):
                s = self.student()
                extra = {"hard_weight": 0.5} if loss == "kd" else {}
                h = s.fit(self.train, loss=loss, epochs=5, batch_size=32, learning_rate=0.02,
                          **extra)
                self.assertLess(h[-1]["train_loss"], h[0]["train_loss"])
                self.assertGreater(s.evaluate(self.valid)["accuracy"], 0.5)
        labels_only = mimic.Dataset(self.x, None, self.y, n_classes=4)
        s = self.student()
        s.fit(labels_only, loss="labels", epochs=2)
        with self.assertRaises(mimic.MimicError) as cm:
            s.fit(labels_only, loss="l2", epochs=1)
        self.assertEqual(cm.exception.status, mimic.Status.INVALID)
        self.assertIn("logits", cm.exception.message)

    def test_options(self):
        s = self.student()
        h = s.fit(self.train, epochs=3, batch_size=64, learning_rate=0.003, optimizer="adam",
                  schedule="step", step_epochs=1, step_gamma=0.5, warmup_epochs=0.5,
                  clip_norm=10.0, target_norm="center", standardize=True, weight_decay=1e-4,
                  eval_train=True, threads=1, seed=3, std_floor=0.05)
        self.assertTrue(s.has_input_norm)
        self.assertIsNotNone(h[-1]["train_metrics"])
        self.assertEqual(h[-1]["train_metrics"]["rows"], 384)
        # step schedule: the rate halves each epoch
        self.assertAlmostEqual(h[2]["learning_rate"], 0.003 * 0.25, places=9)
        s.fit(self.train, epochs=2, nesterov=True, momentum=0.8, schedule="constant",
              learning_rate=0.005, optimizer="sgd")
        s.fit(self.train, epochs=1, optimizer="adamw", adam_beta1=0.8, adam_beta2=0.99,
              adam_eps=1e-7, learning_rate=0.001, loss="kd", temperature=2.0)

    def test_default_learning_rate_per_loss(self):
        # the library's defaults (mimic_train_default_learning_rate), shared with the CLI:
        # SGD 0.05 for the softmax losses, 0.001 for L2; Adam/AdamW 0.001
        want = {("sgd", "l2"): 0.001, ("sgd", "kd"): 0.05, ("sgd", "labels"): 0.05,
                ("adam", "l2"): 0.001, ("adamw", "kd"): 0.001}
        for (opt, loss), lr in want.items():
            with self.subTest(optimizer=opt, loss=loss):
                self.assertEqual(mimic.default_learning_rate(opt, loss), lr)
                s = self.student()
                h = s.fit(self.train, loss=loss, optimizer=opt, epochs=1, schedule="constant")
                self.assertAlmostEqual(h[0]["learning_rate"], lr)
        with self.assertRaises(ValueError):
            mimic.default_learning_rate("rmsprop", "l2")

    def test_target_norm_auto(self):
        # "auto" (the default) standardizes the L2 targets; the softmax losses take no
        # target normalization, so giving one with them is refused
        a, b, c = self.student(), self.student(), self.student()
        a.fit(self.train, epochs=2, learning_rate=0.01)
        b.fit(self.train, epochs=2, learning_rate=0.01, target_norm="auto")
        c.fit(self.train, epochs=2, learning_rate=0.01, target_norm="standardize")
        for name, w in a.tensors().items():
            np.testing.assert_array_equal(w, b.tensor(name))
            np.testing.assert_array_equal(w, c.tensor(name))
        for norm in ("auto", "none"):
            with self.subTest(target_norm=norm), self.assertRaises(ValueError) as cm:
                self.student().fit(self.train, loss="kd", epochs=1, target_norm=norm)
            self.assertIn("target_norm", str(cm.exception))

    def test_uint8_standardize_floor(self):
        x8 = np.clip(self.x * 40 + 128, 0, 255).astype(np.uint8)
        x8[:, 0] = 7  # a constant feature: scale = 1 / std_floor
        ds = mimic.Dataset(x8, self.t)
        s = self.student()
        s.fit(ds, epochs=1, standardize=True)
        self.assertAlmostEqual(float(s.tensor("input.scale")[0]), 1 / 25.5, places=6)
        s = self.student()
        s.fit(ds, epochs=1, standardize=True, std_floor=2.0)
        self.assertAlmostEqual(float(s.tensor("input.scale")[0]), 0.5, places=6)
        s = self.student()
        s.fit(mimic.Dataset(x8.astype(np.float32), self.t), epochs=1, standardize=True)
        self.assertAlmostEqual(float(s.tensor("input.scale")[0]), 10.0, places=5)

    def test_determinism(self):
        a, b = self.student(), self.student()
        a.fit(self.train, epochs=3, learning_rate=0.01, seed=5)
        b.fit(self.train, epochs=3, learning_rate=0.01, seed=5)
        for name, w in a.tensors().items():
            np.testing.assert_array_equal(w, b.tensor(name))

    def test_dropout(self):
        runs = []
        for rate in (0.3, 0.3, None):
            s = self.student()
            h = s.fit(self.train, epochs=4, batch_size=32, learning_rate=0.01, dropout=rate,
                      seed=5)
            runs.append((s.tensor("hidden.weight"), h[-1]["train_loss"]))
        np.testing.assert_array_equal(runs[0][0], runs[1][0])  # reproducible
        self.assertFalse(np.array_equal(runs[0][0], runs[2][0]))  # and applied
        with self.assertRaises(mimic.MimicError) as cm:
            self.student().fit(self.train, epochs=1, dropout=1.0)
        self.assertEqual(cm.exception.status, mimic.Status.INVALID)
        self.assertIsInstance(cm.exception, ValueError)  # a refused value
        self.assertIn("dropout: must be in [0, 1)", str(cm.exception))
        self.assertNotIn("options.", str(cm.exception))
        self.assertIn("options.dropout", cm.exception.library_message)
        self.assertEqual(cm.exception.arguments, ("dropout",))

    def test_augmentation(self):
        # rows of 12 values = 3 x 4 images; with flip=1 every row is seen mirrored with the
        # targets of the stored row, so the student learns the mirrored images' teacher
        mirrored = mimic.Dataset(np.ascontiguousarray(self.x[384:].reshape(-1, 3, 4)[:, :, ::-1]
                                                      .reshape(-1, 12)), self.t[384:])
        s = self.student()
        s.fit(self.train, epochs=20, batch_size=32, learning_rate=0.01, optimizer="adam",
              image_shape=(3, 4), flip=1, seed=5)
        on_mirrored, on_stored = s.evaluate(mirrored), s.evaluate(self.valid)
        self.assertGreater(on_mirrored["agreement"], 0.8)
        self.assertLess(on_stored["agreement"], on_mirrored["agreement"] - 0.2)
        runs = []
        for aug in ({"image_shape": (3, 4), "shift": 1}, {"image_shape": (3, 4), "shift": 1},
                    {}):
            s = self.student()
            s.fit(self.train, epochs=2, batch_size=32, learning_rate=0.01, seed=5, **aug)
            runs.append(s.tensor("hidden.weight"))
        np.testing.assert_array_equal(runs[0], runs[1])  # reproducible
        self.assertFalse(np.array_equal(runs[0], runs[2]))  # and applied
        for kw, field in (({"flip": 0.5}, "flip"),
                          ({"image_shape": (5, 5), "shift": 1}, "image_shape"),
                          ({"image_shape": (3, 4), "shift": 3}, "shift"),
                          ({"image_shape": (3, 4), "flip": 2.0}, "flip")):
            with self.subTest(**kw), self.assertRaises(mimic.MimicError) as cm:
                self.student().fit(self.train, epochs=1, **kw)
            self.assertEqual(cm.exception.status, mimic.Status.INVALID)
            self.assertIn(field, str(cm.exception))
            self.assertNotIn("options.", str(cm.exception))
        with self.assertRaises(TypeError):
            self.student().fit(self.train, epochs=1, image_shape=28, flip=0.5)

    def test_early_stopping(self):
        # He init starts at unit-scale activations, so this tiny problem overfits within 30
        # epochs of SGD on the raw logits
        s = self.student(init="he")
        h = s.fit(self.train, epochs=30, learning_rate=0.01, validation=self.valid, patience=2,
                  progress=lambda r: None, optimizer="sgd", target_norm="none")
        rep = h.report
        self.assertTrue(rep["stopped_early"])
        self.assertLess(rep["epochs_run"], 30)
        self.assertEqual(len(h), rep["epochs_run"])
        self.assertLess(rep["best_epoch"], rep["epochs_run"])
        # the best weights are restored
        self.assertAlmostEqual(s.evaluate(self.valid)["logit_l2"], rep["best_validation_loss"],
                               places=5)

    def test_progress_stop_is_normal_completion(self):
        s = self.student()
        seen = []

        def progress(r):
            seen.append(r["epoch"])
            return r["epoch"] == 2

        h = s.fit(self.train, epochs=10, learning_rate=0.01, progress=progress)
        self.assertTrue(h.cancelled)
        self.assertEqual(seen, [1, 2])
        self.assertEqual(len(h), 2)
        self.assertEqual(h.report["epochs_run"], 2)
        s.forward(self.x)  # still usable

    def test_progress_every_steps(self):
        s = self.student()
        recs = []
        h = s.fit(self.train, epochs=2, batch_size=32, learning_rate=0.01,
                  progress_every_steps=5, progress=recs.append)
        mid = [r for r in recs if not r["epoch_end"]]
        self.assertTrue(mid)
        self.assertEqual(len(h), 2)  # the history keeps epoch-end records only

    def _check_exception_propagates(self, exc_type):
        s = self.student()
        weights_seen = {}

        def progress(r):
            if r["epoch"] == 3:
                weights_seen.update(s.tensors())  # reading the student mid-fit is allowed
                raise exc_type("stop from callback")

        with self.assertRaises(exc_type):
            s.fit(self.train, epochs=10, learning_rate=0.01, progress=progress)
        # clean stop: the student holds the state of epoch 3 and works
        for name, w in s.tensors().items():
            np.testing.assert_array_equal(w, weights_seen[name])
        self.assertEqual(s.forward(self.x).shape, (512, 4))
        h = s.fit(self.train, epochs=1, learning_rate=0.01)
        self.assertEqual(len(h), 1)

    def test_exception_in_callback(self):
        self._check_exception_propagates(Boom)

    def test_keyboard_interrupt_in_callback(self):
        self._check_exception_propagates(KeyboardInterrupt)

    def test_real_sigint_during_fit(self):
        # Ctrl-C: the signal arrives while the library runs; Python raises KeyboardInterrupt
        # in the next Python code it runs, the progress callback, which stops the library.
        if threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            self.skipTest("needs the main thread and Python's default SIGINT handler")
        s = self.student()
        epochs = []

        def progress(r):
            epochs.append(r["epoch"])
            if r["epoch"] == 2:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):  # the interrupt surfaces here at the latest
                    pass

        with self.assertRaises(KeyboardInterrupt):
            s.fit(self.train, epochs=10, learning_rate=0.01, progress=progress)
        self.assertEqual(epochs, [1, 2])
        self.assertEqual(s.forward(self.x).shape, (512, 4))

    def test_dataset_collected_during_fit(self):
        # The caller drops every reference to the datasets and their arrays mid-training;
        # fit must keep them alive until the library is done with them.
        s = self.student()
        holder = {"train": mimic.Dataset(self.x.copy(), self.t.copy(), self.y.copy()),
                  "valid": mimic.Dataset(self.x[:64].copy(), self.t[:64].copy())}
        epochs = []

        def progress(r):
            holder.clear()
            gc.collect()
            junk = [np.full((512, 12), np.nan, np.float32) for _ in range(8)]
            del junk
            epochs.append(r)

        h = s.fit(holder["train"], epochs=4, learning_rate=0.01, validation=holder["valid"],
                  progress=progress)
        self.assertEqual(len(h), 4)
        self.assertTrue(all(np.isfinite(r["train_loss"]) for r in h))
        self.assertTrue(all(np.isfinite(r["validation"]["logit_l2"]) for r in h))

    def test_slice_outlives_parent(self):
        s = self.student()
        part = mimic.Dataset(self.x.copy(), self.t.copy()).slice(0, 200)
        gc.collect()
        h = s.fit(part, epochs=2, learning_rate=0.01)
        self.assertEqual(h.report["steps"], 2 * 2)

    def test_grad_reduce(self):
        s = self.student()
        sizes = []

        def reduce(g):
            sizes.append(g.size)
            self.assertEqual(g.dtype, np.float32)
            g *= 0.5  # in place, as an allreduce average would

        s.fit(self.train, epochs=1, batch_size=128, learning_rate=0.01, grad_reduce=reduce)
        self.assertEqual(sizes, [s.n_params] * 3)

        def failing(g):
            raise Boom("reduce failed")

        with self.assertRaises(Boom):
            s.fit(self.train, epochs=1, grad_reduce=failing)

    def test_checkpoint_resume(self):
        with _support.TempDir() as tmp:
            ck = os.path.join(tmp, "ck.safetensors")
            a = self.student()
            a.fit(self.train, epochs=4, learning_rate=0.01, checkpoint=ck)
            self.assertTrue(os.path.exists(ck))
            b = self.student()
            h = b.fit(self.train, epochs=4, learning_rate=0.01, checkpoint=ck, resume=True)
            self.assertEqual(h.report["epochs_run"], 4)
            np.testing.assert_array_equal(a.forward(self.x), b.forward(self.x))

    def test_errors(self):
        s = self.student()
        other = mimic.Dataset(*_support.make_data(rows=50, d=7, c=4)[:2])
        with self.assertRaises(mimic.MimicError) as cm:
            s.fit(other, epochs=1)
        err = cm.exception
        self.assertEqual(err.status, mimic.Status.SHAPE)
        self.assertEqual(err.status_name, "MIMIC_ERR_SHAPE")
        self.assertEqual(err.function, "mimic_train")
        self.assertTrue(err.message)
        self.assertIsInstance(err.history, mimic.History)
        self.assertIsNotNone(err.report)
        with self.assertRaises(mimic.MimicError) as cm:
            s.fit(self.train, epochs=0)
        self.assertEqual(cm.exception.status, mimic.Status.INVALID)
        self.assertIn("epochs", cm.exception.message)
        with self.assertRaises(mimic.MimicError) as cm:
            s.fit(self.train, learning_rate=-1.0)
        self.assertIn("learning_rate", cm.exception.message)
        with self.assertRaises(mimic.MimicError) as cm:
            s.fit(self.train, patience=3)
        self.assertIn("patience", cm.exception.message)
        with self.assertRaises(ValueError):
            s.fit(self.train, loss="hinge")
        with self.assertRaises(ValueError):
            s.fit(self.train, schedule="linear")
        with self.assertRaises(ValueError):
            s.fit(self.train, epochs=-1)
        with self.assertRaises(TypeError):
            s.fit(self.train, epochs=2.5)
        with self.assertRaises(TypeError):
            s.fit((self.x, self.t))
        with self.assertRaises(TypeError):
            s.fit(self.train, validation=self.x)
        with self.assertRaises(TypeError):
            s.fit(self.train, progress="print")

    def test_divergence_keeps_last_good_weights(self):
        s = self.student()
        with self.assertRaises(mimic.MimicError) as cm:
            s.fit(self.train, epochs=5, learning_rate=1e6, optimizer="sgd", momentum=0.0,
                  schedule="constant")
        self.assertEqual(cm.exception.status, mimic.Status.NUMERIC)
        self.assertIn("diverged", cm.exception.message)
        self.assertTrue(np.all(np.isfinite(s.forward(self.x))))

    def test_other_thread_blocked_during_fit(self):
        s = self.student()
        result = {}

        def progress(r):
            def other():
                try:
                    s.forward(self.x)
                    result["error"] = None
                except RuntimeError as e:
                    result["error"] = e
            t = threading.Thread(target=other)
            t.start()
            t.join()
            with self.assertRaises(RuntimeError):
                s.fit(self.train, epochs=1)
            with self.assertRaises(RuntimeError):
                s.set_input_norm(None, None)
            return True

        s.fit(self.train, epochs=3, progress=progress)
        self.assertIsInstance(result["error"], RuntimeError)
        s.forward(self.x)


if __name__ == "__main__":
    unittest.main()
