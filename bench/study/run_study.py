#!/usr/bin/python3
"""The Fashion-MNIST mimic-learning study: reruns every configuration end to end.

    /usr/bin/python3 bench/study/run_study.py [--only NAME ...] [--report]

Builds the data (make_data.py: train 60k, transfer 240k rebuilt from data/README.md, test
10k), trains each configuration with the `mimic` CLI (build/study, Release), evaluates it on
the 10k test images and writes, under out/study/:
  results.md        the table (method, data, architecture, recipe, parameters, test accuracy,
                    agreement with the teacher, share of the labels-to-teacher gap closed, time)
  accuracy.svg      test accuracy vs. parameters, per method, with and without the transfer set
  curves_<name>.svg the learning curves (from the CLI's --plot)
  <name>.csv/.log   per-epoch logs and the exact command line
Seeds are fixed (--seed 1 unless a configuration sets another); every command is printed and
stored in results.md. results.json (every configuration's numbers and command) starts from
the committed docs/study/results.json, so `--only NAME` reruns one row of the full table;
copy it back there when a run should become part of docs/STUDY.md.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "out", "study")
DATA = os.path.join(ROOT, "out", "data")
MIMIC = os.path.join(ROOT, "build", "study", "mimic")
COMMITTED = os.path.join(ROOT, "docs", "study", "results.json")
TEACHER_ACC = 0.9512

# name, loss, train set, hidden, bottleneck, epochs, extra flags
SGD = ["--optimizer", "sgd", "--momentum", "0.9", "--batch", "128"]
ADAM_L2 = ["--optimizer", "adam", "--lr", "0.001", "--target-norm", "standardize", "--batch", "256"]
CONFIGS = [
    # round 1: the PyTorch reference's SGD recipe (the demo before the defaults changed; clip
    # 5 for the softmax losses, which diverge in epoch 4 without it) and Adam for L2
    ("labels-60k", "labels", "train", 4096, 256, 20, SGD + ["--lr", "0.05", "--clip-norm", "5"]),
    ("kd-60k", "kd", "train", 4096, 256, 20, SGD + ["--lr", "0.05", "--temperature", "4", "--clip-norm", "5"]),
    ("l2-sgd-60k", "l2", "train", 4096, 256, 20, SGD + ["--lr", "0.001", "--target-norm", "none"]),
    ("l2-adam-60k", "l2", "train", 4096, 256, 20, ADAM_L2),
    ("labels-300k", "labels", "big", 4096, 256, 10, SGD + ["--lr", "0.05"]),
    ("kd-300k", "kd", "big", 4096, 256, 10, SGD + ["--lr", "0.05", "--temperature", "4"]),
    ("l2-adam-300k", "l2", "big", 4096, 256, 10, ADAM_L2),
    ("l2-adam-300k-small", "l2", "big", 1024, 128, 10, ADAM_L2),
    ("l2-adam-300k-wide", "l2", "big", 8192, 256, 10, ADAM_L2),
    # round 2: the library's defaults (Adam 0.001, batch 128, L2 targets standardized), longer
    ("labels-300k-30", "labels", "big", 4096, 256, 30, []),
    ("kd-300k-30", "kd", "big", 4096, 256, 30, ["--temperature", "4"]),
    ("l2-300k-30", "l2", "big", 4096, 256, 30, []),
    ("l2-300k-wide-30", "l2", "big", 8192, 256, 30, []),
    ("kd-300k-wide-30", "kd", "big", 8192, 256, 30, ["--temperature", "4"]),
    ("l2-300k-60", "l2", "big", 4096, 256, 60, []),
    ("kd-hard-300k-30", "kd", "big", 4096, 256, 30, ["--temperature", "4", "--hard-weight", "0.3"]),
    # round 3: regularization and capacity
    ("kd-300k-30-wd", "kd", "big", 4096, 256, 30, ["--temperature", "4", "--optimizer", "adamw", "--weight-decay", "0.05"]),
    ("kd-300k-nobn-30", "kd", "big", 4096, 0, 30, ["--temperature", "4"]),
    ("kd-300k-30-drop25", "kd", "big", 4096, 256, 30, ["--temperature", "4", "--dropout", "0.25"]),
    ("kd-300k-30-drop10", "kd", "big", 4096, 256, 30, ["--temperature", "4", "--dropout", "0.1"]),
    ("l2-300k-30-drop25", "l2", "big", 4096, 256, 30, ["--dropout", "0.25"]),
    ("kd8-300k-30", "kd", "big", 4096, 256, 30, ["--temperature", "8"]),
    ("kd2-300k-30", "kd", "big", 4096, 256, 30, ["--temperature", "2"]),
    ("kd1-300k-30", "kd", "big", 4096, 256, 30, ["--temperature", "1"]),
    ("kd3-300k-30", "kd", "big", 4096, 256, 30, ["--temperature", "3"]),
    # seed 2: how much of the temperature differences is run-to-run noise
    ("kd-300k-30-s2", "kd", "big", 4096, 256, 30, ["--temperature", "4", "--seed", "2"]),
    ("kd2-300k-30-s2", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--seed", "2"]),
    # kd-300k-30-noise3 (--input-noise 0.3) ran with the prototype on branch study/input-noise
    ("kd-300k-30-floor3", "kd", "big", 4096, 256, 30, ["--temperature", "4", "--std-floor", "76.5"]),
    ("kd2-300k-wide-30", "kd", "big", 8192, 256, 30, ["--temperature", "2"]),
    ("kd2-300k-30-floor3", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--std-floor", "76.5"]),
    ("kd2-sgd-300k-30", "kd", "big", 4096, 256, 30, SGD + ["--lr", "0.05", "--temperature", "2", "--clip-norm", "5"]),
    ("kd2-lr2-300k-30", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--lr", "0.002"]),
    # round 4: the 300k rows plus their mirror images with borrowed logits (make_data.py), the
    # same number of steps as the 30-epoch runs on 300k rows
    ("kd2-flip-15", "kd", "flip", 4096, 256, 15, ["--temperature", "2"]),
    ("labels-flip-15", "labels", "flip", 4096, 256, 15, []),
    # the library's augmentation (options.flip, options.shift) on the 300k rows, drawn anew
    # every step
    ("kd2-aug1-300k-30", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--image", "28x28", "--flip", "0.5", "--shift", "1"]),
    ("kd2-aug2-300k-30", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--image", "28x28", "--flip", "0.5", "--shift", "2"]),
    ("kd2-flip-300k-30", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--image", "28x28", "--flip", "0.5"]),
    ("kd2-flip-300k-45", "kd", "big", 4096, 256, 45, ["--temperature", "2", "--image", "28x28", "--flip", "0.5"]),
    ("labels-flip-300k-10", "labels", "big", 4096, 256, 10, ["--image", "28x28", "--flip", "0.5"]),
    ("l2-flip-300k-30", "l2", "big", 4096, 256, 30, ["--image", "28x28", "--flip", "0.5"]),
    ("kd2-flip-300k-30-s2", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--image", "28x28", "--flip", "0.5", "--seed", "2"]),
    ("kd2-flip-300k-30-s3", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--image", "28x28", "--flip", "0.5", "--seed", "3"]),
    ("kd2-flip-300k-30-s4", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--image", "28x28", "--flip", "0.5", "--seed", "4"]),
    # the same seeds without flips, for paired differences
    ("kd2-300k-30-s3", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--seed", "3"]),
    ("kd2-300k-30-s4", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--seed", "4"]),
    # choosing the flips without the test set: 5k training images held out (data "dev")
    ("kd2-dev-30", "kd", "dev", 4096, 256, 30, ["--temperature", "2"]),
    ("kd2-flip-dev-30", "kd", "dev", 4096, 256, 30, ["--temperature", "2", "--image", "28x28", "--flip", "0.5"]),
    ("kd2-flip-lr05-300k-30", "kd", "big", 4096, 256, 30, ["--temperature", "2", "--image", "28x28", "--flip", "0.5", "--lr", "0.0005"]),
]


def train_command(name, loss, data, H, k, epochs, extra, threads):
    """The `mimic train` command line of one configuration."""
    train = ["--inputs", f"{DATA}/{data}_x.npy", "--labels", f"{DATA}/{data}_y.npy"]
    if loss != "labels":
        train += ["--logits", f"{DATA}/{data}_z.npy"]
    valid = "holdout" if data == "dev" else "test"  # dev runs never look at the test set
    return [MIMIC, "train", *train, "--valid-inputs", f"{DATA}/{valid}_x.npy", "--valid-logits", f"{DATA}/{valid}_z.npy",
            "--valid-labels", f"{DATA}/{valid}_y.npy", "--hidden", str(H), "--bottleneck", str(k), "--loss", loss,
            "--epochs", str(epochs), "--standardize", *([] if "--seed" in extra else ["--seed", "1"]),
            "--threads", threads, *extra, "--out", os.path.join(OUT, name + ".safetensors"),
            "--log", os.path.join(OUT, name + ".csv"), "--plot", os.path.join(OUT, f"curves_{name}.svg")]


def command_text(cmd):
    return " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd)


def data_label(r):
    """What a configuration trained on, for the table."""
    if r["data"] == "train":
        return "60k"
    if r["data"] == "dev":
        return "55k + their 220k transfer rows (5k held out)" + (", random flips" if "--flip" in r["command"] else "")
    if r["data"] == "flip":
        return "300k + their mirror images (stored, borrowed logits)"
    aug = []
    if "--flip" in r["command"]:
        aug.append("random flips")
    if "--shift" in r["command"]:
        aug.append("shifts up to " + r["command"].split("--shift ")[1].split()[0])
    return "60k + 240k transfer" + (", " + " and ".join(aug) if aug else "")


def run(cmd, log=None):
    print("+ " + " ".join(cmd), flush=True)
    with open(log, "w") if log else open(os.devnull, "w") as f:
        subprocess.run(cmd, check=True, stdout=f if log else None, stderr=subprocess.STDOUT if log else None)


def params(D, k, H, C):
    return (k * D + H * k if k else H * D) + H + C * H + C


def svg_accuracy(rows, path):
    W, Hh, L, B = 640, 400, 70, 50
    xs = [r["params"] for r in rows]
    ys = [r["acc"] * 100 for r in rows]
    import math
    x0, x1 = math.log10(min(xs)) - 0.1, math.log10(max(xs)) + 0.1
    y0, y1 = min(ys + [88]) - 0.5, max(ys + [TEACHER_ACC * 100]) + 0.5
    X = lambda v: L + (math.log10(v) - x0) / (x1 - x0) * (W - L - 20)
    Y = lambda v: Hh - B - (v - y0) / (y1 - y0) * (Hh - B - 20)
    colors = {"labels": "#1f77b4", "kd": "#2ca02c", "l2": "#d62728"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{Hh}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{Hh}" fill="white"/>',
           f'<line x1="{L}" y1="{Hh - B}" x2="{W - 20}" y2="{Hh - B}" stroke="black"/>',
           f'<line x1="{L}" y1="20" x2="{L}" y2="{Hh - B}" stroke="black"/>']
    for p in sorted(set(xs)):  # one tick per student size (they span less than a decade)
        out.append(f'<line x1="{X(p):.0f}" y1="{Hh - B}" x2="{X(p):.0f}" y2="{Hh - B + 4}" stroke="black"/>')
        out.append(f'<text x="{X(p):.0f}" y="{Hh - B + 16}" text-anchor="middle">{p / 1e6:.2f}M</text>')
    v = math.ceil(y0)
    while v <= y1:
        out.append(f'<text x="{L - 6}" y="{Y(v) + 4:.0f}" text-anchor="end">{v}%</text>')
        out.append(f'<line x1="{L}" y1="{Y(v):.0f}" x2="{W - 20}" y2="{Y(v):.0f}" stroke="#eee"/>')
        v += 1
    out.append(f'<line x1="{L}" y1="{Y(TEACHER_ACC * 100):.0f}" x2="{W - 20}" y2="{Y(TEACHER_ACC * 100):.0f}" stroke="gray" stroke-dasharray="4"/>')
    out.append(f'<text x="{W - 24}" y="{Y(TEACHER_ACC * 100) - 4:.0f}" text-anchor="end" fill="gray">teacher 95.12%</text>')
    for r in rows:
        c = colors[r["loss"]]
        x, y = X(r["params"]), Y(r["acc"] * 100)
        if r["data"] == "train":
            shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{c}"/>'
        elif r["data"] == "flip" or "--flip" in r["command"]:
            shape = f'<path d="M{x:.1f},{y - 6:.1f} L{x + 6:.1f},{y + 5:.1f} L{x - 6:.1f},{y + 5:.1f} Z" fill="{c}"/>'
        else:
            shape = f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="{c}"/>'
        out.append(shape)
    out.append(f'<text x="{(W + L) / 2}" y="{Hh - 12}" text-anchor="middle">student parameters (log scale)</text>')
    out.append(f'<text x="16" y="{Hh / 2}" transform="rotate(-90 16 {Hh / 2})" text-anchor="middle">test accuracy</text>')
    ly = 30
    for name, c in colors.items():
        out.append(f'<circle cx="{L + 20}" cy="{ly}" r="5" fill="{c}"/><text x="{L + 30}" y="{ly + 4}">{name}</text>')
        ly += 16
    out.append(f'<circle cx="{L + 20}" cy="{ly}" r="5" fill="none" stroke="black"/><text x="{L + 30}" y="{ly + 4}">circle: 60k train; square: + 240k transfer; triangle: + mirror images</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="run only these configuration names")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--report", action="store_true",
                    help="train nothing: rewrite results.md and accuracy.svg from results.json")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if a.report:
        a.only = []
    else:
        run(["/usr/bin/python3", os.path.join(HERE, "make_data.py"), DATA])
        run(["cmake", "-S", ROOT, "-B", os.path.join(ROOT, "build", "study"), "-DCMAKE_BUILD_TYPE=Release",
             "-DMIMIC_BUILD_TESTS=OFF"])
        run(["cmake", "--build", os.path.join(ROOT, "build", "study"), "--target", "mimic_cli", "-j2"])
    results_path = os.path.join(OUT, "results.json")
    if not os.path.exists(results_path) and os.path.exists(COMMITTED):
        shutil.copyfile(COMMITTED, results_path)  # the runs docs/STUDY.md reports
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    test = ["--inputs", f"{DATA}/test_x.npy", "--logits", f"{DATA}/test_z.npy", "--labels", f"{DATA}/test_y.npy"]
    for name, loss, data, H, k, epochs, extra in CONFIGS:
        if a.only is not None and name not in a.only:
            continue
        cmd = train_command(name, loss, data, H, k, epochs, extra, a.threads)
        model = os.path.join(OUT, name + ".safetensors")
        t0 = time.time()
        run(cmd, os.path.join(OUT, name + ".log"))
        secs = time.time() - t0
        ev = json.loads(subprocess.run([MIMIC, "eval", "--model", model, *test, "--json"], check=True,
                                       capture_output=True, text=True).stdout)
        holdout = None
        if data == "dev":
            hold = ["--inputs", f"{DATA}/holdout_x.npy", "--logits", f"{DATA}/holdout_z.npy", "--labels",
                    f"{DATA}/holdout_y.npy"]
            holdout = json.loads(subprocess.run([MIMIC, "eval", "--model", model, *hold, "--json"], check=True,
                                                capture_output=True, text=True).stdout)["accuracy"]
        results[name] = {"holdout_acc": holdout, "loss": loss, "data": data, "H": H, "k": k, "epochs": epochs, "params": params(784, k, H, 10),
                         "acc": ev["accuracy"], "agreement": ev["agreement"], "seconds": secs,
                         "command": command_text(cmd)}
        # re-read first: several --only runs may share results.json
        merged = json.load(open(results_path)) if os.path.exists(results_path) else {}
        merged[name] = results[name]
        results = merged
        json.dump(results, open(results_path, "w"), indent=1)
        print(f"{name}: test accuracy {ev['accuracy'] * 100:.2f}%", flush=True)
    rows = [dict(name=n, **r) for n, r in results.items()]
    base = results.get("labels-60k", {}).get("acc")
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write("| configuration | loss | data | student | epochs | parameters | test acc | agreement | gap closed | "
                "holdout acc | time |\n")
        f.write("|---|---|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            arch = f"784-{r['k']}b-{r['H']}-10" if r["k"] else f"784-{r['H']}-10"
            gap = f"{(r['acc'] - base) / (TEACHER_ACC - base) * 100:.0f}%" if base else "-"
            secs = "-" if r.get("seconds") is None else f"{r['seconds']:.0f} s"
            f.write(f"| {r['name']} | {r['loss']} | {data_label(r)} | {arch} | "
                    f"{r['epochs']} | {r['params']:,} | {r['acc'] * 100:.2f}% | {r['agreement'] * 100:.2f}% | {gap} | "
                    f"{'-' if r.get('holdout_acc') is None else format(r['holdout_acc'] * 100, '.2f') + '%'} | {secs} |\n")
        f.write("\nCommands:\n\n")
        for r in rows:
            f.write(f"- `{r['command']}`\n")
    svg_accuracy([r for r in rows if r["data"] != "dev"], os.path.join(OUT, "accuracy.svg"))
    print(open(os.path.join(OUT, "results.md")).read())


if __name__ == "__main__":
    main()
