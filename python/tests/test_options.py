"""Keyword options of Student.fit and Trainer come from the library's option table: every
field is a keyword, unknown names are TypeErrors naming what was meant, values are set and
checked by the library, options the others make meaningless are refused, messages name
the Python arguments; progress records carry the loss's criterion."""

import inspect
import math
import os
import unittest

import numpy as np

import _support
import mimic
from mimic import _lib, _options


class Base(unittest.TestCase):
    def setUp(self):
        self.x, self.t, self.y = _support.make_data(rows=320, d=12, c=4, seed=3)
        self.train = mimic.Dataset(self.x[:256], self.t[:256], self.y[:256])
        self.valid = mimic.Dataset(self.x[256:], self.t[256:], self.y[256:])

    def student(self):
        return mimic.Student(12, 16, 4, bottleneck=4, seed=1)

    def fit_error(self, exc_type, **kw):
        """The exception fit(**kw) raises (the assertion fails if it raises none)."""
        kw.setdefault("epochs", 1)
        with self.assertRaises(exc_type) as cm:
            self.student().fit(self.train, **kw)
        return cm.exception


class TestKeywordsFromTable(Base):
    def test_every_field_is_a_keyword(self):
        sig = inspect.signature(mimic.Student.fit)
        for opt in _lib.TRAIN_OPTIONS:
            if opt.type == _lib.OPTION_POINTER and opt.name not in _options.POINTER_KEYWORDS:
                self.assertTrue(opt.name.endswith("user_data"), opt.name)
                self.assertNotIn(opt.name, mimic.fit_options)  # user-data pointers
                continue
            with self.subTest(field=opt.name):
                self.assertIn(opt.name, mimic.fit_options)
                self.assertIn(opt.name, sig.parameters)
                self.assertIn(opt.name + ":", mimic.Student.fit.__doc__)
        for alias in ("checkpoint", "image_shape"):
            self.assertIn(alias, mimic.fit_options)
            self.assertIn(alias, sig.parameters)
        # the 1.0 positional order is kept
        self.assertEqual(list(sig.parameters)[:4], ["self", "dataset", "loss", "epochs"])

    def test_positional_options(self):
        s = self.student()
        h = s.fit(self.train, "kd", 2, 64)
        self.assertEqual(h.report["epochs_run"], 2)
        self.assertEqual(h[0]["steps_per_epoch"], 4)
        self.assertEqual(h.criterion, "kl")
        with self.assertRaises(TypeError) as cm:
            s.fit(self.train, "kd", loss="l2")
        self.assertIn("loss", str(cm.exception))
        with self.assertRaises(TypeError):
            s.fit(self.train, *([None] * 17))

    def test_field_names_and_python_spellings(self):
        # image_height/image_width by their field names do what image_shape does
        a, b = self.student(), self.student()
        a.fit(self.train, epochs=2, image_shape=(3, 4), flip=1.0, seed=2)
        b.fit(self.train, epochs=2, image_height=3, image_width=4, flip=1.0, seed=2)
        for name, w in a.tensors().items():
            np.testing.assert_array_equal(w, b.tensor(name))
        with _support.TempDir() as tmp:
            ck = os.path.join(tmp, "ck.safetensors")
            self.student().fit(self.train, epochs=1, checkpoint_path=ck)
            self.assertTrue(os.path.exists(ck))
            with self.assertRaises(TypeError) as cm:
                self.student().fit(self.train, epochs=1, checkpoint=ck, checkpoint_path=ck)
            self.assertIn("checkpoint", str(cm.exception))
        with self.assertRaises(TypeError):
            self.student().fit(self.train, image_shape=(3, 4), image_height=3, flip=0.5)

    def test_none_means_the_library_default(self):
        a, b = self.student(), self.student()
        a.fit(self.train, epochs=2)
        b.fit(self.train, epochs=2, momentum=None, temperature=None, learning_rate=None,
              threads=None, optimizer=None, image_shape=None, checkpoint=None)
        for name, w in a.tensors().items():
            np.testing.assert_array_equal(w, b.tensor(name))

    def test_enum_strings(self):
        h = self.student().fit(self.train, epochs=1, loss="KD", optimizer="SGD",
                               schedule="Constant")
        self.assertEqual(h.criterion, "kl")
        self.assertAlmostEqual(h[0]["learning_rate"], mimic.default_learning_rate("sgd", "kd"))
        err = self.fit_error(ValueError, loss="hinge")
        self.assertIn("'l2', 'kd', 'labels'", str(err))
        self.fit_error(ValueError, optimizer="2")  # a number is no choice name in Python
        self.fit_error(TypeError, loss=2)


class TestUnknownKeywords(Base):
    def test_fit(self):
        err = self.fit_error(TypeError, lr=0.1)
        self.assertIn("'lr'", str(err))
        self.assertIn("learning_rate", str(err))  # the CLI's --lr
        err = self.fit_error(TypeError, batchsize=32)
        self.assertIn("batch_size", str(err))
        err = self.fit_error(TypeError, no_such_option=1)
        self.assertIn("no_such_option", str(err))
        self.assertIn("learning_rate", str(err))  # the valid names are listed
        err = self.fit_error(TypeError, progress_user_data=1)  # a C-only pointer
        self.assertIn("progress_user_data", str(err))

    def test_trainer(self):
        with self.assertRaises(TypeError) as cm:
            mimic.Trainer(self.student(), self.train, momentun=0.5, epoch=3)
        text = str(cm.exception)
        self.assertIn("Trainer", text)
        self.assertIn("'momentun'", text)
        self.assertIn("momentum", text)
        self.assertIn("epochs", text)


class TestValuesSetByTheLibrary(Base):
    def test_bounds_are_the_librarys(self):
        for kw, bound in (({"epochs": 0}, "> 0"), ({"batch_size": 0}, "> 0"),
                          ({"learning_rate": -1.0}, ">= 0"),
                          ({"learning_rate": float("nan")}, "finite"),
                          ({"optimizer": "sgd", "momentum": 1.0}, "[0, 1)"),
                          ({"threads": -1}, "[0, 1024]"), ({"dropout": 1}, "[0, 1)"),
                          ({"epochs": -1}, "non-negative")):
            with self.subTest(**kw):
                err = self.fit_error(mimic.OptionError, **kw)
                self.assertIsInstance(err, ValueError)
                self.assertIsInstance(err, mimic.MimicError)
                self.assertEqual(err.status, mimic.Status.INVALID)
                self.assertIn(bound, str(err))
                name = [k for k in kw if k != "optimizer"][0]
                self.assertEqual(err.arguments, (name,))
                self.assertTrue(err.message.startswith(name + ":"), err.message)

    def test_types(self):
        self.fit_error(TypeError, epochs=2.5)
        self.fit_error(TypeError, learning_rate="0.1")
        self.fit_error(TypeError, standardize="yes")
        self.fit_error(TypeError, checkpoint=3)
        self.fit_error(TypeError, image_shape=28, flip=0.5)
        self.fit_error(TypeError, validation=self.x)
        self.fit_error(TypeError, progress="print")
        self.fit_error(TypeError, grad_reduce=1)


class TestIgnoredKeywords(Base):
    def test_refused(self):
        for kw, arg, why in (({"momentum": 0.9}, "momentum", "optimizer"),
                             ({"nesterov": False}, "nesterov", "optimizer"),
                             ({"temperature": 2.0}, "temperature", "loss"),
                             ({"loss": "labels", "hard_weight": 0.0}, "hard_weight", "loss"),
                             ({"optimizer": "sgd", "adam_beta1": 0.8}, "adam_beta1",
                              "optimizer"),
                             ({"step_gamma": 0.5}, "step_gamma", "schedule"),
                             ({"std_floor": 0.2}, "std_floor", "standardize"),
                             ({"checkpoint_every": 2}, "checkpoint_every", "checkpoint"),
                             ({"image_shape": (3, 4)}, "image_shape", "flip")):
            with self.subTest(**kw):
                err = self.fit_error(ValueError, **kw)
                self.assertIsInstance(err, mimic.OptionError)
                self.assertEqual(err.arguments, (arg,))
                text = str(err)
                self.assertIn(arg + " has no effect", text)
                self.assertIn(why, text)
                self.assertNotIn("options.", text)

    def test_all_named_at_once(self):
        err = self.fit_error(ValueError, momentum=0.9, temperature=2.0, learning_rate=0.01)
        self.assertEqual(err.arguments, ("momentum", "temperature"))

    def test_trainer_refuses_too(self):
        s = self.student()
        with self.assertRaises(ValueError) as cm:
            mimic.Trainer(s, self.train, momentum=0.5)
        self.assertIn("momentum", str(cm.exception))
        s.fit(self.train, epochs=1)  # the student was not taken

    def test_used_ones_pass(self):
        s = self.student()
        s.fit(self.train, epochs=1, optimizer="sgd", momentum=0.5, nesterov=True)
        s.fit(self.train, epochs=1, loss="kd", temperature=2.0, hard_weight=0.3)
        s.fit(self.train, epochs=1, optimizer="adamw", adam_beta1=0.8)
        s.fit(self.train, epochs=2, schedule="step", step_gamma=0.5, step_epochs=1)
        s.fit(self.train, epochs=1, standardize=True, std_floor=0.2)
        s.fit(self.train, epochs=1, image_shape=(3, 4), shift=1)


class TestMessagesNamePythonArguments(Base):
    def test_fit(self):
        err = self.fit_error(mimic.MimicError, flip=0.5)
        self.assertEqual(err.function, "mimic_train")
        self.assertIn("flip needs the image shape: set image_shape", str(err))
        self.assertNotIn("options.", str(err))
        self.assertNotIn("image_height", str(err))
        self.assertIn("options.image_height", err.library_message)
        # spelled with the field names, the message uses them
        err = self.fit_error(mimic.MimicError, image_height=3, flip=0.5)
        self.assertIn("set image_height and image_width", str(err))
        err = self.fit_error(mimic.MimicError, dropout=1)
        self.assertIn("dropout: must be in [0, 1), not 1", str(err))
        err = self.fit_error(mimic.MimicError, image_shape=(3, 4), shift=3)
        self.assertIn("shift: must be below the image's smaller side (3)", str(err))
        err = self.fit_error(mimic.MimicError, image_shape=(5, 5), flip=0.5)
        self.assertTrue(err.message.startswith("image_shape: 5 x 5"), err.message)
        err = self.fit_error(mimic.MimicError, resume=True)
        self.assertIn("resume: needs checkpoint", str(err))
        err = self.fit_error(mimic.MimicError, patience=2)
        self.assertIn("patience: early stopping needs validation", str(err))

    def test_trainer(self):
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.Trainer(self.student(), self.train, flip=0.5)
        self.assertEqual(cm.exception.function, "mimic_trainer_create")
        self.assertIn("set image_shape", str(cm.exception))
        self.assertNotIn("options.", str(cm.exception))

    def test_student(self):
        with self.assertRaises(mimic.MimicError) as cm:
            mimic.Student(10, 16, 1)
        self.assertIn("n_classes: must be >= 2", str(cm.exception))
        self.assertNotIn("student_options", str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            mimic.Student(10, 16, 3, bottleneck=-1)
        self.assertIn("bottleneck", str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            mimic.Student(10, 16, 3, activation="gelu")
        self.assertIn("activation", str(cm.exception))

    def test_translator(self):
        tr = _options.Translator()
        self.assertEqual(tr("options.flip needs the image shape: set options.image_height "
                            "and options.image_width"),
                         "flip needs the image shape: set image_shape")
        self.assertEqual(tr("student_options.n_bottleneck: too big"), "bottleneck: too big")
        self.assertEqual(tr("options.checkpoint_path: is empty"), "checkpoint: is empty")
        self.assertEqual(_options.Translator(["checkpoint_path"])(
            "options.resume: needs options.checkpoint_path"), "resume: needs checkpoint_path")
        # only the library's "options.<field>" of known fields is replaced
        self.assertEqual(tr("no_options.flip, options.nonexistent"),
                         "no_options.flip, options.nonexistent")


class TestCriterion(Base):
    def test_validation_loss_is_the_criterion(self):
        for loss, metric in (("l2", "logit_l2"), ("kd", "kl"), ("labels", "hard_ce")):
            with self.subTest(loss=loss):
                self.assertEqual(mimic.criterion(loss), metric)
                kw = {"temperature": 2.0} if loss == "kd" else {}
                h = self.student().fit(self.train, loss=loss, epochs=4, validation=self.valid,
                                       **kw)
                self.assertEqual(h.criterion, metric)
                best = math.inf
                for rec in h:
                    self.assertIsNotNone(rec["validation_loss"])
                    self.assertEqual(rec["validation_loss"], rec["validation"][metric])
                    best = min(best, rec["validation_loss"])
                    self.assertEqual(rec["best_validation_loss"], best)
                self.assertEqual(h.report["best_validation_loss"], best)
        h = self.student().fit(self.train, epochs=1)
        self.assertIsNone(h[0]["validation_loss"])
        self.assertIsNone(h[0]["best_validation_loss"])

    def test_trainer_records(self):
        with mimic.Trainer(self.student(), self.train, epochs=2, validation=self.valid) as tr:
            rec = tr.epoch()
        self.assertEqual(rec["validation_loss"], rec["validation"]["logit_l2"])


if __name__ == "__main__":
    unittest.main()
