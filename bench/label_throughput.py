#!/usr/bin/python3
"""Labelling throughput: mimic.label against the same teacher called in a bare loop over the
same batches (torch.no_grad, NumPy in and out, results kept in memory), side by side in one
run, alternating which goes first, repeated; the median rows/s of each, the median of the
ratios of each repetition's pair, and the time spent outside the teacher's forward pass per
row (forward hooks time the module in both runs): what mimic.label adds, a number that
varies less than wall time on a busy machine.

  MIMIC_LIBRARY=build/libmimic.so PYTHONPATH=python python3 bench/label_throughput.py \\
      [--teacher cnn|mlp] [--rows N] [--batch-size B] [--reps R] [--threads T] [--dir DIR]

mimic.label runs with its defaults (float16 logits, shards of 65536 rows, progress lines on
stderr, sent to /dev/null here) and writes its set under DIR (default: the system's
temporary directory), a fresh directory each repetition, removed afterwards; its time
includes writing the inputs and logits with the library's writers (fsync'd at each shard's
end), the checks of every batch and the manifest. Inputs: random uint8 28 x 28 images
(N x 1 x 28 x 28). Needs PyTorch.
"""

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time

import numpy as np
import torch

import mimic


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def teacher(kind):
    nn = torch.nn
    if kind == "cnn":
        body = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    elif kind == "mlp":
        body = nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(),
                             nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
    else:  # "zero": no work, so that what mimic.label adds is all there is
        body = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        with torch.no_grad():
            body[1].weight.zero_()

    class Teacher(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x.float() / 255.0)

    return Teacher().eval()


class ForwardClock:
    """Seconds spent inside the module's forward (pre- and post-forward hooks)."""

    def __init__(self, module):
        self.seconds = 0.0
        module.register_forward_pre_hook(self.start)
        module.register_forward_hook(self.stop)

    def start(self, module, inputs):
        self.t0 = time.perf_counter()

    def stop(self, module, inputs, output):
        self.seconds += time.perf_counter() - self.t0


def bare_loop(model, x, batch_size):
    out = []
    with torch.no_grad():
        for a in range(0, len(x), batch_size):
            out.append(model(torch.from_numpy(x[a:a + batch_size])).numpy())
    return out


def with_label(model, x, batch_size, root):
    out = tempfile.mkdtemp(prefix="label-bench-", dir=root)
    try:
        with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
            mimic.label(model, x, out, batch_size=batch_size)
    finally:
        shutil.rmtree(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", choices=("cnn", "mlp", "zero"), default="cnn")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = teacher(args.teacher)
    x = np.random.default_rng(0).integers(0, 256, (args.rows, 1, 28, 28)).astype(np.uint8)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=os.path.dirname(
            os.path.abspath(__file__)), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            universal_newlines=True).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    print("cpu: %s, %d cores; torch %s (%d threads), numpy %s, libmimic %s, commit %s"
          % (cpu_model(), os.cpu_count(), torch.__version__, torch.get_num_threads(),
             np.__version__, mimic.library_version, commit))
    print("teacher %s, %d rows of 1 x 28 x 28 uint8, batch %d, %d repetitions, sets in %s"
          % (args.teacher, args.rows, args.batch_size, args.reps, args.dir))
    bare_loop(model, x[:4 * args.batch_size], args.batch_size)  # warm-up
    clock = ForwardClock(model)
    runs = {"bare loop": lambda: bare_loop(model, x, args.batch_size),
            "mimic.label": lambda: with_label(model, x, args.batch_size, args.dir)}
    rate = {k: [] for k in runs}
    outside = {k: [] for k in runs}  # microseconds a row outside the teacher's forward()
    inside = []  # and inside it
    ratio = []
    for rep in range(args.reps):
        for name in sorted(runs, reverse=rep % 2 == 1):  # alternate which goes first
            clock.seconds = 0.0
            t0 = time.perf_counter()
            runs[name]()
            seconds = time.perf_counter() - t0
            rate[name].append(args.rows / seconds)
            outside[name].append(1e6 * (seconds - clock.seconds) / args.rows)
            inside.append(1e6 * clock.seconds / args.rows)
        ratio.append(rate["mimic.label"][-1] / rate["bare loop"][-1])
        print("rep %d: bare loop %6.0f rows/s, mimic.label %6.0f rows/s, ratio %.3f; outside "
              "the teacher %.1f and %.1f us/row, inside %.0f and %.0f"
              % (rep + 1, rate["bare loop"][-1], rate["mimic.label"][-1], ratio[-1],
                 outside["bare loop"][-1], outside["mimic.label"][-1],
                 inside[-2 if rep % 2 == 0 else -1], inside[-1 if rep % 2 == 0 else -2]))
    med = statistics.median
    added = med(outside["mimic.label"]) - med(outside["bare loop"])
    print("median: bare loop %.0f rows/s, mimic.label %.0f rows/s; ratio (label / bare, paired "
          "by repetition) %.3f (%.3f to %.3f)" % (med(rate["bare loop"]),
                                                  med(rate["mimic.label"]), med(ratio),
                                                  min(ratio), max(ratio)))
    print("mimic.label adds %.1f us/row outside the teacher, whose forward takes %.0f us/row: "
          "%.2f%%" % (added, med(inside), 100 * added / med(inside)))

if __name__ == "__main__":
    main()
