"""The Python examples run (tiny sizes): examples/python/transfer_set.py trains a teacher,
labels a transfer set, trains a student on its manifest, and resumes on a rerun."""

import os
import subprocess
import sys
import unittest

import _support
import mimic

try:
    import torch  # noqa: F401
except ImportError:  # Debian: python3-torch
    torch = None

EXAMPLE = os.path.join(_support.REPO, "examples", "python", "transfer_set.py")
IMAGES = os.environ.get("MIMIC_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


@unittest.skipIf(torch is None, "needs torch (Debian: python3-torch)")
@unittest.skipUnless(os.path.exists(os.path.join(IMAGES, "t10k-images-idx3-ubyte.gz")),
                     "needs Fashion-MNIST in %s (Debian: dataset-fashion-mnist)" % IMAGES)
class TestTransferSetExample(unittest.TestCase):
    def run_example(self, out):
        env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(mimic.__file__)),
                   MIMIC_LIBRARY=os.path.realpath(mimic.library_path))
        r = subprocess.run([sys.executable, EXAMPLE, "--images", IMAGES, "--out", out,
                            "--rows", "1500", "--train-rows", "600", "--test-rows", "200",
                            "--teacher-epochs", "1", "--epochs", "1", "--hidden", "32",
                            "--bottleneck", "0", "--threads", "1"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stdout)
        return r.stdout

    def test_smoke(self):
        with _support.TempDir() as tmp:
            out = self.run_example(tmp)
            self.assertRegex(out, r"test accuracy: student \d+\.\d\d%, teacher \d+\.\d\d%")
            self.assertIn("the teacher labelled 1500 rows", out)
            ds = mimic.Dataset.load_manifest(os.path.join(tmp, "set", "manifest.json"))
            self.assertEqual((len(ds), ds.logits_dtype.name, ds.image_shape),
                             (1500, "float16", (28, 28)))
            # a rerun loads the teacher and keeps the labelled set
            out = self.run_example(tmp)
            self.assertIn("teacher: loaded", out)
            self.assertIn("the teacher labelled 0 rows", out)


if __name__ == "__main__":
    unittest.main()
