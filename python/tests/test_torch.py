"""A student trained in Python and saved loads into PyTorch unchanged:
nn.Sequential(Linear(D, k, bias=False), Linear(k, H), ReLU(), Linear(H, C)) from the
.safetensors file (read with the small reader in _support), same logits."""

import os
import unittest

import numpy as np

import _support
import mimic

try:
    import torch
except ImportError:  # Debian: python3-torch
    torch = None


def build_torch(tensors, meta_activation):
    act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}
    layers = []
    hidden_w = tensors["hidden.weight"]
    if "bottleneck.weight" in tensors:
        k, d = tensors["bottleneck.weight"].shape
        bott = torch.nn.Linear(d, k, bias=False)
        layers.append(bott)
    h, kin = hidden_w.shape
    hidden = torch.nn.Linear(kin, h)
    c = tensors["output.weight"].shape[0]
    out = torch.nn.Linear(h, c)
    layers += [hidden, act[meta_activation](), out]
    model = torch.nn.Sequential(*layers)
    # load_state_dict with the library's names mapped onto Sequential's indices
    names = (["bottleneck.weight"] if "bottleneck.weight" in tensors else []) + \
        ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]
    state = {}
    for key, name in zip(model.state_dict().keys(), names):
        state[key] = torch.from_numpy(np.ascontiguousarray(tensors[name]))
    model.load_state_dict(state, strict=True)
    return model.eval()


@unittest.skipIf(torch is None, "PyTorch is not installed (Debian: python3-torch)")
class TestTorchInterop(unittest.TestCase):
    def _roundtrip(self, activation, bottleneck, standardize):
        x, t, y = _support.make_data(rows=300, d=16, c=5, seed=4)
        x = x * 3 + 1  # give standardization something to do
        s = mimic.Student(16, 40, 5, bottleneck=bottleneck, activation=activation, seed=2)
        s.fit(mimic.Dataset(x, t, y), epochs=3, learning_rate=0.005, clip_norm=5.0,
              standardize=standardize)
        self.assertEqual(s.has_input_norm, standardize)
        with _support.TempDir() as tmp:
            path = os.path.join(tmp, "student.safetensors")
            s.save(path)
            tensors, meta = _support.read_safetensors(path)
        self.assertEqual("input.mean" in tensors, standardize)
        self.assertEqual(tensors["hidden.bias"].shape, (40,))
        if bottleneck:
            self.assertEqual(tensors["bottleneck.weight"].shape, (bottleneck, 16))
        model = build_torch(tensors, activation)
        xin = x.astype(np.float64)
        if "input.mean" in tensors:
            xin = (xin - tensors["input.mean"]) * tensors["input.scale"]
        with torch.no_grad():
            want = model(torch.from_numpy(xin.astype(np.float32))).numpy()
        got = s.forward(x)
        _support.assert_close_rel(self, got, want)
        # and PyTorch agrees with the tensors() copies the package exposes
        for name, a in s.tensors().items():
            np.testing.assert_array_equal(a.reshape(tensors[name].shape), tensors[name])

    def test_relu_bottleneck_standardized(self):
        self._roundtrip("relu", 6, True)

    def test_relu_bottleneck_raw_inputs(self):
        self._roundtrip("relu", 6, False)

    def test_no_bottleneck(self):
        self._roundtrip("relu", 0, True)

    def test_tanh_and_sigmoid(self):
        self._roundtrip("tanh", 4, True)
        self._roundtrip("sigmoid", 4, False)


if __name__ == "__main__":
    unittest.main()
