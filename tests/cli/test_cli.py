#!/usr/bin/python3
"""End-to-end tests of the `mimic` command-line tool.

Usage: test_cli.py PATH/TO/mimic   (ctest passes the built binary; data comes from
tests/data/idx beside this directory; temporary files go to $MIMIC_TEST_TMP or /tmp).
Every check prints one line; the script exits 1 if any check failed.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

try:
    import numpy as np
except ImportError:  # the C suites run without NumPy; this one needs it
    print("SKIP cli: needs NumPy (apt-get install python3-numpy)")
    sys.exit(77)

MIMIC = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
IDX = os.path.join(HERE, "..", "data", "idx")
base = os.environ.get("MIMIC_TEST_TMP") or tempfile.gettempdir()
os.makedirs(base, exist_ok=True)
TMP = tempfile.mkdtemp(prefix="cli_", dir=base)
failures = []


def p(name):
    return os.path.join(TMP, name)


def run(*args, timeout=300):
    r = subprocess.run([MIMIC, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else "  -- " + detail))
    if not cond:
        failures.append(name)


def expect(name, args, rc, stderr_has=(), stdout_has=()):
    code, out, err = run(*args)
    ok = code == rc and all(s in err for s in stderr_has) and all(s in out for s in stdout_has)
    check(name, ok, f"rc={code} (want {rc}) stderr={err.strip()[:300]!r} stdout={out.strip()[:200]!r}")
    return code, out, err


# ---- data ------------------------------------------------------------------------------
rng = np.random.default_rng(7)
N, D, C = 600, 12, 4
X = rng.normal(size=(N, D)).astype(np.float32)
Wt = rng.normal(size=(D, C)).astype(np.float32)
Z = (X @ Wt).astype(np.float32)                 # a linear "teacher"
Y = Z.argmax(1).astype(np.int64)
np.save(p("x.npy"), X[:480]); np.save(p("z.npy"), Z[:480]); np.save(p("y.npy"), Y[:480])
np.save(p("vx.npy"), X[480:]); np.save(p("vz.npy"), Z[480:]); np.save(p("vy.npy"), Y[480:].astype(np.int32))
np.save(p("x64.npy"), X[480:].astype(np.float64))
np.save(p("z_short.npy"), Z[:479])
np.save(p("y_bad.npy"), np.full(480, 9, np.int32))

# ---- help and version --------------------------------------------------------------------
expect("--version", ["--version"], 0, stdout_has=["mimic "])
expect("--help", ["--help"], 0, stdout_has=["train", "eval", "predict", "info", "export"])
expect("no arguments is a usage error", [], 2)
expect("unknown command", ["frobnicate"], 2, stderr_has=["frobnicate"])
flags = {
    "train": ["--inputs", "--logits", "--labels", "--valid-inputs", "--valid-logits", "--valid-labels",
              "--hidden", "--bottleneck", "--activation", "--loss", "--temperature", "--hard-weight",
              "--epochs", "--batch", "--lr", "--momentum", "--nesterov", "--schedule", "--weight-decay",
              "--clip-norm", "--patience", "--seed", "--threads", "--standardize", "--out", "--log",
              "--plot", "--checkpoint", "--checkpoint-every", "--resume", "--quiet", "--optimizer",
              "--warmup", "--target-norm", "--step-gamma", "--step-epochs", "--std-floor",
              "--progress-every", "--dropout", "--image", "--flip", "--shift", "--manifest",
              "--valid-manifest"],
    "eval": ["--model", "--inputs", "--logits", "--labels", "--temperature", "--json", "--manifest",
             "--threads"],
    "predict": ["--model", "--inputs", "--out", "--classes", "--manifest", "--threads"],
    "info": ["--model"],
    "export": ["--model", "--onnx", "--out", "--dtype"],
}
for cmd, fl in flags.items():
    code, out, err = run(cmd, "--help")
    missing = [f for f in fl if f not in out]
    check(f"{cmd} --help exits 0 and lists every flag", code == 0 and not missing, f"rc={code} missing={missing}")
    check(f"{cmd} --help shows defaults", "default" in out or cmd in ("info", "export"), out[:200])

# ---- usage errors: exit 2, message names the flag ------------------------------------------
T = ["train", "--inputs", p("x.npy"), "--logits", p("z.npy"), "--hidden", "8", "--loss", "l2", "--out", p("m.st")]
expect("unknown flag", T + ["--bogus", "1"], 2, ["--bogus"])
expect("bad integer", T + ["--batch", "x"], 2, ["--batch", "'x'"])
expect("zero batch", T + ["--batch", "0"], 2, ["--batch"])
expect("fractional epochs", T + ["--epochs", "1.5"], 2, ["--epochs"])
expect("negative epochs", T + ["--epochs", "-3"], 2, ["--epochs"])
expect("trailing junk in a number", T + ["--lr", "0.1x"], 2, ["--lr"])
expect("negative learning rate", T + ["--lr", "-0.1"], 2, ["--lr"])
expect("non-finite learning rate", T + ["--lr", "nan"], 2, ["--lr"])
expect("bad choice", T + ["--activation", "gelu"], 2, ["--activation", "gelu"])
expect("missing value", T + ["--seed"], 2, ["--seed"])
expect("missing required --hidden", ["train", "--inputs", p("x.npy"), "--logits", p("z.npy"), "--loss", "l2",
                                     "--out", p("m.st")], 2, ["--hidden"])
expect("l2 without logits", ["train", "--inputs", p("x.npy"), "--labels", p("y.npy"), "--hidden", "8",
                             "--loss", "l2", "--out", p("m.st")], 2, ["--logits"])
expect("resume without checkpoint", T + ["--resume"], 2, ["--checkpoint"])
expect("dropout above 1", T + ["--dropout", "1.5"], 2, ["--dropout"])
expect("flip without --image", T + ["--flip", "0.5"], 2, ["--flip", "--image"])
expect("shift without --image", T + ["--shift", "1"], 2, ["--shift", "--image"])
for bad in ("28", "28x", "x28", "28by28", "0x4", "3x-4", "-3x4", "3x4x1"):
    expect(f"--image {bad}", T + ["--image", bad, "--flip", "0.5"], 2, ["--image", f"'{bad}'"])
expect("flip above 1", T + ["--image", "3x4", "--flip", "1.5"], 2, ["--flip"])
# flags come from the library's option tables: a repeated flag and a flag the other options
# ignore are usage errors naming the conflict
expect("repeated flag", T + ["--hidden", "16"], 2, ["--hidden given twice"])
expect("SGD momentum with Adam", T + ["--lr", "0.05", "--momentum", "0.9"], 2,
       ["--momentum has no effect", "--optimizer sgd", "--optimizer is adam"])
expect("momentum with sgd is fine", T[:-1] + [p("sgd.st"), "--optimizer", "sgd", "--momentum", "0.5",
                                             "--epochs", "1", "--quiet"], 0)
expect("Adam betas with SGD", T + ["--optimizer", "sgd", "--adam-beta1", "0.8"], 2,
       ["--adam-beta1 has no effect", "--optimizer adam or adamw"])
expect("temperature with l2", T + ["--temperature", "2"], 2,
       ["--temperature has no effect", "--loss kd"])
expect("step schedule options with cosine", T + ["--step-gamma", "0.5"], 2,
       ["--step-gamma has no effect", "--schedule step"])
expect("std floor without standardize", T + ["--std-floor", "0.2"], 2,
       ["--std-floor has no effect", "--standardize"])
expect("checkpoint-every without checkpoint", T + ["--checkpoint-every", "2"], 2,
       ["--checkpoint-every has no effect", "--checkpoint"])
expect("--image without --flip or --shift", T + ["--image", "3x4"], 2,
       ["--image has no effect", "--flip", "--shift"])
expect("bool flag takes no value", T + ["--standardize=1"], 2, ["--standardize", "no value"])
code, out, _ = run("train", "--help")
check("train --help groups the library's options, each heading once",
      all(out.count(f"Options: {g}\n") == 1 for g in ("loss", "optimizer", "learning rate", "inputs",
                                                      "augmentation", "training run")), out[:400])
check("train --help lists the choices from the library", "l2|kd|labels" in out and
      "sgd|adam|adamw" in out and "relu|sigmoid|tanh" in out, out[:400])
expect("eval without model", ["eval", "--inputs", p("x.npy"), "--labels", p("y.npy")], 2, ["--model"])
expect("predict without --out", ["predict", "--model", p("m.st"), "--inputs", p("x.npy")], 2, ["--out"])
expect("export without --onnx", ["export", "--model", p("m.st")], 2, ["--onnx"])
expect("stray positional argument", ["info", "model.st"], 2, ["model.st"])

# ---- runtime errors: exit 1, message names the file -------------------------------------------
expect("missing input file", ["train", "--inputs", p("nope.npy"), "--logits", p("z.npy"), "--hidden", "8",
                              "--loss", "l2", "--out", p("m.st")], 1, ["nope.npy"])
expect("row-count mismatch", ["train", "--inputs", p("x.npy"), "--logits", p("z_short.npy"), "--hidden", "8",
                              "--loss", "l2", "--out", p("m.st")], 1, ["z_short.npy"])
expect("label out of range", ["train", "--inputs", p("x.npy"), "--labels", p("y_bad.npy"), "--n-classes", "4",
                              "--hidden", "8", "--loss", "labels", "--out", p("m.st")], 1, ["y_bad.npy"])
expect("missing model", ["info", "--model", p("nope.safetensors")], 1, ["nope.safetensors"])
# the library's checks, its messages in flags: a bound refused as the flag is read (usage),
# a relation between the options and the data when training starts
expect("dropout 1 drops everything", T + ["--dropout", "1"], 2, ["--dropout", "[0, 1)"])
expect("image shape that does not divide the inputs", T + ["--image", "5x5", "--flip", "0.5"], 1,
       ["--image", "5 x 5", "12 inputs"])
expect("shift as large as the image", T + ["--image", "3x4", "--shift", "3"], 1, ["--shift"])
check("nothing written after failures", not os.path.exists(p("m.st")))

# ---- end to end on .npy ---------------------------------------------------------------------------
code, out, err = expect("train l2 with validation, log and plot",
    ["train", "--inputs", p("x.npy"), "--logits", p("z.npy"), "--labels", p("y.npy"),
     "--valid-inputs", p("vx.npy"), "--valid-logits", p("vz.npy"), "--valid-labels", p("vy.npy"),
     "--hidden", "64", "--bottleneck", "8", "--loss", "l2", "--optimizer", "adam", "--lr", "0.01",
     "--epochs", "25", "--batch", "32", "--standardize", "--seed", "3",
     "--out", p("m.st"), "--log", p("log.csv"), "--plot", p("curves.svg")], 0)
check("model written", os.path.exists(p("m.st")))
check("one progress line per epoch on a pipe", err.count("epoch ") >= 25, err[-500:])

if os.path.exists(p("log.csv")):
    lines = open(p("log.csv")).read().strip().split("\n")
    header = lines[0].split(",")
    want = ["epoch", "step", "lr", "train_loss", "valid_logit_l2", "valid_kl", "valid_hard_ce", "valid_accuracy",
            "valid_agreement", "elapsed_s", "examples_per_s", "valid_loss"]
    check("CSV header", header == want, str(header))
    check("CSV has one row per epoch", len(lines) == 26, f"{len(lines) - 1} rows")
    rows = [dict(zip(header, l.split(","))) for l in lines[1:]]
    check("CSV epochs numbered 1..25", [int(r["epoch"]) for r in rows] == list(range(1, 26)))
    losses = [float(r["train_loss"]) for r in rows]
    check("training loss falls", losses[-1] < 0.5 * losses[0], f"{losses[0]} -> {losses[-1]}")
    check("CSV validation agreement filled", all(r["valid_agreement"] for r in rows))
    check("CSV valid_loss is the l2 criterion (valid_logit_l2)",
          all(r["valid_loss"] == r["valid_logit_l2"] != "" for r in rows), str(rows[0]))
else:
    check("CSV written", False)

if os.path.exists(p("curves.svg")):
    try:
        root = ET.parse(p("curves.svg")).getroot()
        texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
        check("SVG is XML with the svg root", root.tag.endswith("svg"))
        for word in ("epoch", "Loss", "Accuracy", "training loss", "validation loss", "validation accuracy",
                     "agreement with teacher"):
            check(f"SVG has text '{word}'", word in texts, texts[:300])
        paths = list(root.iter("{http://www.w3.org/2000/svg}path"))
        check("SVG has curves", len(paths) >= 3, str(len(paths)))
    except ET.ParseError as e:
        check("SVG parses as XML", False, str(e))
else:
    check("SVG written", False)

keys = ["rows", "accuracy", "agreement", "logit_l2", "logit_rmse", "kl", "hard_ce"]
code, out, err = expect("eval --json", ["eval", "--model", p("m.st"), "--inputs", p("vx.npy"), "--logits",
                                        p("vz.npy"), "--labels", p("vy.npy"), "--json"], 0)
try:
    m = json.loads(out)
    check("eval JSON has all keys", all(k in m for k in keys), str(m))
    check("eval rows", m.get("rows") == 120, str(m.get("rows")))
    check("student mimics the linear teacher (agreement > 0.85)", (m.get("agreement") or 0) > 0.85, str(m))
    check("accuracy equals agreement here (labels = teacher argmax)",
          abs((m.get("accuracy") or 0) - (m.get("agreement") or 1)) < 1e-9, str(m))
except ValueError as e:
    check("eval JSON parses", False, f"{e}: {out[:200]}")

code, out, err = expect("eval --json with labels only", ["eval", "--model", p("m.st"), "--inputs", p("vx.npy"),
                                                        "--labels", p("vy.npy"), "--json"], 0)
try:
    m = json.loads(out)
    check("absent metrics are null", m["agreement"] is None and m["kl"] is None and m["accuracy"] is not None,
          str(m))
except (ValueError, KeyError) as e:
    check("eval JSON (labels only) parses", False, str(e))
expect("eval plain table", ["eval", "--model", p("m.st"), "--inputs", p("vx.npy"), "--logits", p("vz.npy")], 0,
       stdout_has=["agreement", "logit L2", "accuracy"])

code, out, err = expect("predict", ["predict", "--model", p("m.st"), "--inputs", p("vx.npy"), "--out",
                                    p("pred.npy"), "--classes", p("cls.npy"), "--chunk", "7"], 0)
if code == 0:
    P = np.load(p("pred.npy"))
    K = np.load(p("cls.npy"))
    check("predict logits shape and dtype", P.shape == (120, C) and P.dtype == np.float32, f"{P.shape} {P.dtype}")
    check("predict classes are the argmax", K.shape == (120,) and (K == P.argmax(1)).all())
    code, out, err = run("predict", "--model", p("m.st"), "--inputs", p("x64.npy"), "--out", p("pred64.npy"))
    check("float64 inputs predict the same", code == 0 and np.allclose(np.load(p("pred64.npy")), P, atol=1e-5),
          err)
    # eval of precomputed logits equals eval of the model
    code, out, err = run("eval", "--predictions", p("pred.npy"), "--logits", p("vz.npy"), "--labels", p("vy.npy"),
                         "--json")
    code2, out2, err2 = run("eval", "--model", p("m.st"), "--inputs", p("vx.npy"), "--logits", p("vz.npy"),
                            "--labels", p("vy.npy"), "--json")
    try:
        a, b = json.loads(out), json.loads(out2)
        check("eval --predictions matches eval --model",
              all(abs(a[k] - b[k]) <= 1e-4 * max(1, abs(b[k])) for k in keys), f"{a} vs {b}")
    except (ValueError, KeyError, TypeError) as e:
        check("eval --predictions parses", False, f"{e} {err}")

expect("info", ["info", "--model", p("m.st")], 0, stdout_has=["parameters:", "12 inputs", "8 bottleneck",
                                                              "64 hidden", "relu", "input norm:   yes"])
code, out, err = expect("export", ["export", "--model", p("m.st"), "--onnx", p("m.onnx")], 0)
check("onnx file written", os.path.exists(p("m.onnx")) and os.path.getsize(p("m.onnx")) > 1000)

# checkpoint + resume: resuming a finished run (same options) trains no more epochs and
# still saves the student; a run with different options is refused (exit 1, file named)
CK = ["train", "--inputs", p("x.npy"), "--logits", p("z.npy"), "--hidden", "16", "--loss", "l2",
      "--checkpoint", p("ck.st"), "--out", p("ck_model.st"), "--quiet", "--epochs", "2"]
expect("train with --checkpoint", CK, 0)
check("checkpoint written", os.path.exists(p("ck.st")))
os.remove(p("ck_model.st"))
expect("train --resume of a finished run", CK + ["--resume", "--log", p("resume.csv")], 0)
check("resumed run saves the student", os.path.exists(p("ck_model.st")))
if os.path.exists(p("resume.csv")):
    rows = open(p("resume.csv")).read().strip().split("\n")[1:]
    check("resumed finished run logs no epochs", rows == [], str(rows))
expect("resume with other options is refused", CK + ["--resume", "--batch", "7"], 1, ["ck.st"])
expect("kd validation without logits", ["train", "--inputs", p("x.npy"), "--logits", p("z.npy"), "--hidden", "8",
                                        "--loss", "kd", "--valid-inputs", p("vx.npy"), "--valid-labels", p("vy.npy"),
                                        "--out", p("m2.st")], 2, ["--valid-logits"])

# ---- the first hour: what a file is, what was saved, outputs checked before training -------------
expect("export says what it wrote", ["export", "--model", p("m.st"), "--onnx", p("m2.onnx")], 0,
       ["wrote", "m2.onnx", "opset 13", "[batch, 12]", "[batch, 4]"])
code, out, err = run("export", "--model", p("m.st"), "--onnx", p("m3.onnx"), "--quiet")
check("export --quiet prints nothing", code == 0 and err == "", err)
expect("predict says what it wrote", ["predict", "--model", p("m.st"), "--inputs", p("vx.npy"),
                                      "--out", p("pq.npy"), "--classes", p("pc.npy")], 0,
       ["wrote", "pq.npy", "120 x 4", "pc.npy"])
for name, path, what in (("a .npy array", p("x.npy"), "NumPy .npy array"),
                         ("an ONNX model", p("m.onnx"), "ONNX model"),
                         ("a checkpoint", p("ck.st"), "trainer checkpoint")):
    expect(f"a student wanted, {name} given", ["eval", "--model", path, "--inputs", p("vx.npy"),
                                               "--labels", p("vy.npy")], 1,
           ["this is", what, "not a libmimic student"])
code, out, err = run("info", "--model", p("x.npy"))
check("info on a .npy array describes it", code == 0 and "480 x 12" in out and "float32" in out and
      "not a student" in out, out + err)
code, out, err = run("info", "--model", p("ck.st"))
check("info on a checkpoint describes it", code == 0 and "checkpoint:" in out and
      "2 epochs done" in out and "--batch" in out and "--loss" in out and "params" in out, out + err)
expect("info on an ONNX model says what it is", ["info", "--model", p("m.onnx")], 1, ["ONNX model"])
expect("info --file", ["info", "--file", p("vy.npy")], 0, stdout_has=["shape:        120"])
for flag in ("--out", "--log", "--plot", "--checkpoint"):
    extra = [] if flag == "--out" else ["--out", p("never.st")]
    args = ["train", "--inputs", p("x.npy"), "--logits", p("z.npy"), "--hidden", "8", "--loss", "l2",
            "--epochs", "400", flag, p("no/such/dir/f")] + extra
    t0 = time.time()
    expect(f"{flag} into a missing directory fails before training", args, 1,
           [flag, "no/such/dir", "does not exist"])
    check(f"{flag} checked at once", time.time() - t0 < 5, f"{time.time() - t0:.1f} s")
expect("--out onto an input file is refused", T[:-1] + [p("z.npy")], 1, ["is also an input"])
check("the input survived", np.load(p("z.npy")).shape == (480, 4))
expect("export into a missing directory", ["export", "--model", p("m.st"), "--onnx", p("no/dir/m.onnx")],
       1, ["does not exist"])
code, out, err = run("export", "--model", p("m.st"), "--onnx", p("m.onnx") + "/x")
check("a failed export names the path once", code == 1 and err.count("m.onnx/x") == 1, err)
# what the saved weights are, said truthfully (validation without --patience: the last epoch)
code, out, err = run("train", "--inputs", p("x.npy"), "--logits", p("z.npy"), "--hidden", "8", "--loss", "l2",
                     "--epochs", "3", "--valid-inputs", p("vx.npy"), "--valid-logits", p("vz.npy"),
                     "--out", p("last.st"))
check("without --patience the summary says the last epoch's weights",
      code == 0 and "weights of the last epoch, 3" in err and "best on validation" not in err, err[-300:])
code, out, err = run("train", "--inputs", p("x.npy"), "--logits", p("z.npy"), "--hidden", "8", "--loss", "l2",
                     "--epochs", "3", "--valid-inputs", p("vx.npy"), "--valid-logits", p("vz.npy"),
                     "--patience", "5", "--out", p("best.st"))
check("with --patience the summary names the best epoch and its criterion",
      code == 0 and "the best on validation (logit_l2" in err, err[-300:])

# --quiet: nothing on stderr
code, out, err = run("train", "--inputs", p("x.npy"), "--logits", p("z.npy"), "--hidden", "8", "--loss", "kd",
                     "--epochs", "2", "--out", p("q.st"), "--quiet")
check("--quiet prints nothing", code == 0 and err == "" and out == "", f"rc={code} err={err!r}")

# ---- augmentation: with --flip 1 every row is seen mirrored, with its stored targets ----------
np.save(p("vx_mirrored.npy"), np.ascontiguousarray(X[480:].reshape(-1, 3, 4)[:, :, ::-1].reshape(-1, D)))
AUG = ["train", "--inputs", p("x.npy"), "--logits", p("z.npy"), "--hidden", "64", "--loss", "l2",
       "--optimizer", "adam", "--lr", "0.01", "--epochs", "25", "--batch", "32", "--seed", "3", "--quiet"]
expect("train --image 3x4 --flip 1", AUG + ["--image", "3x4", "--flip", "1", "--out", p("flip.st")], 0)
expect("train --image 3x4 --flip 0.5 --shift 1", AUG + ["--image", "3x4", "--flip", "0.5", "--shift", "1",
                                                        "--out", p("aug.st")], 0)
agree = {}
for name, x in (("stored", "vx.npy"), ("mirrored", "vx_mirrored.npy")):
    code, out, err = run("eval", "--model", p("flip.st"), "--inputs", p(x), "--logits", p("vz.npy"), "--json")
    agree[name] = json.loads(out)["agreement"] if code == 0 else None
check("--flip 1 learns the teacher of the mirrored images",
      agree["mirrored"] is not None and agree["mirrored"] > 0.8 and agree["stored"] < 0.6, str(agree))

# ---- IDX inputs ---------------------------------------------------------------------------------
for suffix in ("", ".gz"):
    imgs, labs = os.path.join(IDX, "images.idx" + suffix), os.path.join(IDX, "labels.idx" + suffix)
    expect(f"train on IDX{suffix or ' (plain)'}", ["train", "--inputs", imgs, "--labels", labs, "--hidden", "5",
                                                  "--loss", "labels", "--epochs", "2", "--batch", "2", "--standardize",
                                                  "--out", p(f"idx{suffix}.st"), "--quiet"], 0)
    expect(f"predict on IDX{suffix or ' (plain)'}", ["predict", "--model", p(f"idx{suffix}.st"), "--inputs", imgs,
                                                    "--out", p(f"idxpred{suffix}.npy")], 0)
# IDX images carry their shape (6 images of 4 x 3): --flip and --shift need no --image
IDXT = ["train", "--inputs", os.path.join(IDX, "images.idx.gz"), "--labels", os.path.join(IDX, "labels.idx"),
        "--hidden", "5", "--loss", "labels", "--epochs", "2", "--batch", "2", "--out", p("idxflip.st"), "--quiet"]
expect("train on IDX with --flip and --shift, shape from the file", IDXT + ["--flip", "0.5", "--shift", "2"], 0)
expect("IDX shape reaches the library", IDXT + ["--shift", "3"], 1, ["--shift", "smaller side (3)"])
expect("IDX shape allows --shift 2", IDXT + ["--shift", "2"], 0)
expect("--image overrides the IDX shape", IDXT + ["--image", "2x6", "--shift", "2"], 1,
       ["--shift", "smaller side (2)"])
if os.path.exists(p("idxpred.npy")) and os.path.exists(p("idxpred.gz.npy")):
    a, b = np.load(p("idxpred.npy")), np.load(p("idxpred.gz.npy"))
    check("plain and gzipped IDX give the same student", a.shape == (6, 3) and np.array_equal(a, b), f"{a.shape}")
expect("eval on gz images with plain labels", ["eval", "--model", p("idx.st"), "--inputs",
                                               os.path.join(IDX, "images.idx.gz"), "--labels",
                                               os.path.join(IDX, "labels.idx"), "--json"], 0)
bad = {"truncated.idx": "truncated", "truncated.idx.gz": "truncated", "corrupt.idx.gz": "corrupt",
       "badtype.idx": "element type", "trailing.idx": "unexpected bytes"}
for name, word in bad.items():
    path = os.path.join(IDX, name)
    args = (["--inputs", path, "--labels", os.path.join(IDX, "labels.idx")] if "trailing" not in name
            else ["--inputs", os.path.join(IDX, "images.idx"), "--labels", path])
    expect(f"{name} rejected", ["train", *args, "--hidden", "5", "--loss", "labels", "--out", p("bad.st")], 1,
           [name, word])
check("no model from bad IDX", not os.path.exists(p("bad.st")))

# ---- sharded datasets: --manifest wherever files are read ----------------------------------------
# The training rows in three shards (float16 logits, uint8-free float inputs), written by numpy;
# training on the manifest gives the student training on the same rows as files gives.
shards = os.path.join(TMP, "shards")
os.makedirs(shards)
Z16 = Z[:480].astype(np.float16)
np.save(p("z16.npy"), Z16)
cuts = [0, 100, 350, 480]
entries = []
for k in range(3):
    a, b = cuts[k], cuts[k + 1]
    np.save(os.path.join(shards, f"s{k}.x.npy"), X[a:b])
    np.save(os.path.join(shards, f"s{k}.z.npy"), Z16[a:b])
    np.save(os.path.join(shards, f"s{k}.y.npy"), Y[a:b])
    entries.append({"inputs": f"s{k}.x.npy", "logits": f"s{k}.z.npy", "labels": f"s{k}.y.npy"})
man = os.path.join(shards, "train.json")
with open(man, "w") as f:
    json.dump({"format": "mimic-manifest", "version": 1, "shards": entries}, f)
vman = os.path.join(shards, "valid.json")
np.save(os.path.join(shards, "v.x.npy"), X[480:])
np.save(os.path.join(shards, "v.z.npy"), Z[480:].astype(np.float16))
with open(vman, "w") as f:
    json.dump({"format": "mimic-manifest", "version": 1,
               "shards": [{"inputs": "v.x.npy", "logits": "v.z.npy"}]}, f)
S = ["--hidden", "16", "--loss", "l2", "--epochs", "3", "--seed", "4", "--quiet"]
expect("train on a manifest", ["train", "--manifest", man, "--valid-manifest", vman, *S,
                                "--out", p("man.st")], 0)
expect("train on the same rows as files", ["train", "--inputs", p("x.npy"), "--logits", p("z16.npy"),
                                           "--labels", p("y.npy"), "--valid-inputs", p("vx.npy"),
                                           "--valid-logits", p("vz.npy"), *S, "--out", p("files.st")], 0)
try:
    same = open(p("man.st"), "rb").read() == open(p("files.st"), "rb").read()
except OSError:
    same = False
check("a manifest trains the student its files train", same)
code, out, err = expect("eval on a manifest", ["eval", "--model", p("man.st"), "--manifest", man, "--json"], 0)
try:
    check("eval on a manifest counts every shard's rows", json.loads(out)["rows"] == 480, out[:100])
except ValueError:
    check("eval on a manifest prints JSON", False, out[:200])
expect("predict on a manifest", ["predict", "--model", p("man.st"), "--manifest", man, "--out", p("mp.npy"),
                                 "--classes", p("mc.npy"), "--chunk", "64", "--quiet"], 0)
expect("predict on the files", ["predict", "--model", p("man.st"), "--inputs", p("x.npy"), "--out", p("fp.npy"),
                                "--quiet"], 0)
try:
    MP, FP = np.load(p("mp.npy")), np.load(p("fp.npy"))
    check("predict streams every shard's rows", MP.shape == (480, C) and np.array_equal(MP, FP),
          f"{MP.shape}")
    check("predict --classes over shards", np.array_equal(np.load(p("mc.npy")), MP.argmax(1)))
except OSError as e:
    check("predict on a manifest wrote files", False, str(e))
expect("info describes a manifest", ["info", "--file", man], 0,
       stdout_has=["3 shards", "rows:         480", "float16"])
expect("--manifest with --inputs is a usage error",
       ["train", "--manifest", man, "--inputs", p("x.npy"), *S, "--out", p("u.st")], 2,
       ["--manifest", "--inputs"])
expect("--patience without validation names --valid-manifest",
       ["train", "--manifest", man, *S, "--patience", "2", "--out", p("u.st")], 2, ["--valid-manifest"])
with open(os.path.join(shards, "nolabels.json"), "w") as f:
    json.dump({"format": "mimic-manifest", "version": 1,
               "shards": [{"inputs": "s0.x.npy", "logits": "s0.z.npy"}]}, f)
expect("a loss that needs labels the shards lack",
       ["train", "--manifest", os.path.join(shards, "nolabels.json"), "--hidden", "4", "--loss", "labels",
        "--out", p("u.st")], 1, ["nolabels.json", "needs labels"])
os.remove(os.path.join(shards, "s1.z.npy"))
expect("a missing shard is named", ["train", "--manifest", man, *S, "--out", p("u.st")], 1,
       ["train.json: shard 1:", "s1.z.npy"])
expect("a manifest given as --inputs says so",
       ["train", "--inputs", man, "--logits", p("z.npy"), *S, "--out", p("u.st")], 1, ["--manifest"])
check("no model from failed manifest runs", not os.path.exists(p("u.st")))

# ---- docs: the paths the README and the examples tell a user to use exist after its build ------
import glob
import re
ROOT = os.path.join(HERE, "..", "..")
readme = open(os.path.join(ROOT, "README.md")).read()
build_dirs = set(re.findall(r"cmake -S \. -B (\S+)", readme))
check("the README builds somewhere", bool(build_dirs), "no 'cmake -S . -B DIR' in README.md")
docs = glob.glob(os.path.join(ROOT, "examples", "**", "*.py"), recursive=True) + \
    glob.glob(os.path.join(ROOT, "examples", "**", "*.md"), recursive=True) + \
    [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "python", "README.md")]
for doc in docs:
    for lib in re.findall(r"MIMIC_LIBRARY=(\S+)", open(doc).read()):
        if lib.startswith(("/", "...", "$", "<")):
            continue  # a placeholder or an absolute path of the user's own
        check(f"{os.path.relpath(doc, ROOT)}: MIMIC_LIBRARY={lib} is made by the README's build",
              any(lib == f"{d}/libmimic.so" for d in build_dirs), f"README builds {sorted(build_dirs)}")

# ---- Ctrl-C: exit 130, --out untouched ------------------------------------------------------------
big = rng.normal(size=(20000, 64)).astype(np.float32)
np.save(p("bx.npy"), big)
np.save(p("bz.npy"), (big @ rng.normal(size=(64, 10))).astype(np.float32))
with open(p("keep.st"), "wb") as f:
    f.write(b"previous model")
proc = subprocess.Popen([MIMIC, "train", "--inputs", p("bx.npy"), "--logits", p("bz.npy"), "--hidden", "256",
                         "--loss", "l2", "--epochs", "1000", "--batch", "64", "--progress-every", "1",
                         "--out", p("keep.st")], stderr=subprocess.PIPE, text=True)
time.sleep(0.5)
deadline = time.time() + 60
first = proc.stderr.readline()  # "training ..." once data is loaded
time.sleep(1.0)
proc.send_signal(signal.SIGINT)
try:
    _, rest = proc.communicate(timeout=60)
except subprocess.TimeoutExpired:
    proc.kill()
    _, rest = proc.communicate()
check("Ctrl-C exits 130", proc.returncode == 130, f"rc={proc.returncode} {first!r} {rest[-300:]!r}")
check("Ctrl-C says it was interrupted", "interrupted" in rest, rest[-300:])
check("Ctrl-C leaves --out untouched", open(p("keep.st"), "rb").read() == b"previous model")

# ---- threads: the student's own and OpenBLAS's, one flag ---------------------------------------
# --threads N also sets OpenBLAS's thread count, whose sgemm bits may depend on it: compare with
# OPENBLAS_NUM_THREADS=N and no flag, so only libmimic's own threads differ.
def run_env(env, *args):
    r = subprocess.run([MIMIC, *map(str, args)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **env})
    return r.returncode, r.stdout, r.stderr


big_model = p("thr.st")
expect("train a student for the thread checks",
       ["train", "--inputs", p("bx.npy"), "--logits", p("bz.npy"), "--hidden", "700", "--bottleneck", "40",
        "--loss", "l2", "--epochs", "1", "--quiet", "--out", big_model], 0)
for chunk in ("1", "3", "4096"):
    one = run_env({"OPENBLAS_NUM_THREADS": "3"}, "predict", "--model", big_model, "--inputs", p("bx.npy"),
                  "--chunk", chunk, "--out", p(f"thr1_{chunk}.npy"), "--quiet")
    three = run_env({"OPENBLAS_NUM_THREADS": "3"}, "predict", "--model", big_model, "--inputs", p("bx.npy"),
                    "--chunk", chunk, "--threads", "3", "--out", p(f"thr3_{chunk}.npy"), "--quiet")
    check(f"predict --threads 3 (--chunk {chunk}) gives the same bits",
          one[0] == 0 and three[0] == 0 and
          open(p(f"thr1_{chunk}.npy"), "rb").read() == open(p(f"thr3_{chunk}.npy"), "rb").read(),
          f"{one} {three}")
E = ["eval", "--model", big_model, "--inputs", p("bx.npy"), "--logits", p("bz.npy"), "--json"]
one = run_env({"OPENBLAS_NUM_THREADS": "2"}, *E)
two = run_env({"OPENBLAS_NUM_THREADS": "2"}, *E, "--threads", "2")
check("eval --threads 2 gives the same metrics", one[0] == 0 and two[0] == 0 and one[1] == two[1],
      f"{one} {two}")
expect("--threads 0 is a usage error", ["predict", "--model", big_model, "--inputs", p("bx.npy"), "--out",
                                       p("t0.npy"), "--threads", "0"], 2, ["--threads"])
expect("--threads beyond 1024 is an error", ["predict", "--model", big_model, "--inputs", p("vx.npy"),
                                             "--out", p("t0.npy"), "--threads", "5000"], 1,
       ["--threads", "at most 1024"])
expect("--threads with --predictions is a usage error",
       ["eval", "--predictions", p("pred.npy"), "--logits", p("vz.npy"), "--threads", "2"], 2, ["--threads"])
T1 = ["train", "--inputs", p("x.npy"), "--logits", p("z.npy"), "--hidden", "300", "--loss", "l2",
      "--epochs", "2", "--quiet", "--valid-inputs", p("vx.npy"), "--valid-logits", p("vz.npy")]
a = run_env({"OPENBLAS_NUM_THREADS": "2"}, *T1, "--out", p("tt1.st"))
b = run_env({}, *T1, "--threads", "2", "--out", p("tt2.st"))
check("train --threads 2 gives the student of OPENBLAS_NUM_THREADS=2",
      a[0] == 0 and b[0] == 0 and open(p("tt1.st"), "rb").read() == open(p("tt2.st"), "rb").read(), f"{a} {b}")

# ---- compact weights: export --dtype, info, predict and eval on them -------------------------
code, out, err = run("info", "--model", big_model)
check("info says float32 weights", code == 0 and "weights:      float32" in out, out)
expect("export --dtype int8 --out --onnx", ["export", "--model", big_model, "--dtype", "int8", "--out",
                                           p("q8.st"), "--onnx", p("q8.onnx")], 0,
       ["wrote", "q8.st", "q8.onnx", "int8 weights"])
expect("export --dtype float16 --out", ["export", "--model", big_model, "--dtype", "float16", "--out",
                                       p("q16.st"), "--quiet"], 0)
expect("export float32 --onnx for the sizes", ["export", "--model", big_model, "--onnx", p("q32.onnx"),
                                               "--quiet"], 0)
sizes = {k: os.path.getsize(p(k)) for k in ("q8.st", "q16.st", "q8.onnx", "q32.onnx")}
f32_size = os.path.getsize(big_model)
check("int8 files take about a quarter, float16 half",
      sizes["q8.st"] < 0.3 * f32_size and 0.45 * f32_size < sizes["q16.st"] < 0.55 * f32_size
      and sizes["q8.onnx"] < 0.3 * sizes["q32.onnx"], f"{sizes} float32 {f32_size}")
for q, name in (("q8.st", "int8"), ("q16.st", "float16")):
    code, out, err = run("info", "--model", p(q))
    check(f"info says {name} weights", code == 0 and f"weights:      {name}" in out and
          f"weight_dtype           {name}" in out, out)
    code, _, err = run("predict", "--model", p(q), "--inputs", p("bx.npy"), "--out", p(q + ".npy"),
                       "--chunk", "3", "--quiet")
    ref = run_env({"OPENBLAS_NUM_THREADS": "1"}, "predict", "--model", big_model, "--inputs", p("bx.npy"),
                  "--out", p("q32.npy"), "--chunk", "3", "--quiet")
    if code == 0 and ref[0] == 0:
        a, b = np.load(p(q + ".npy")), np.load(p("q32.npy"))
        check(f"predict on {name} weights stays close to float32",
              a.shape == b.shape and np.abs(a - b).max() <= 0.05 * np.abs(b).max() and
              (a.argmax(1) == b.argmax(1)).mean() > 0.97, f"{np.abs(a - b).max()}")
    else:
        check(f"predict on {name} weights", False, err)
    code, out, err = run("eval", "--model", p(q), "--inputs", p("bx.npy"), "--logits", p("bz.npy"), "--json")
    check(f"eval on {name} weights", code == 0 and json.loads(out)["rows"] == 20000, err)
code, _, err = run("export", "--model", p("q8.st"), "--dtype", "float32", "--out", p("back.st"), "--quiet")
code2, out, _ = run("info", "--model", p("back.st"))
check("export --dtype float32 turns compact weights back", code == 0 and code2 == 0 and
      "weights:      float32" in out, err + out)
expect("export --dtype needs a known type", ["export", "--model", big_model, "--dtype", "int4", "--out",
                                            p("x.st")], 2, ["--dtype", "int4", "int8"])
expect("export needs an output", ["export", "--model", big_model, "--dtype", "int8"], 2,
       ["--onnx", "--out"])

if failures:
    print(f"{len(failures)} check(s) failed: {failures}")
    sys.exit(1)
shutil.rmtree(TMP, ignore_errors=True)
print("all CLI checks passed")
