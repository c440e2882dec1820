"""A model of multi-machine data-parallel training from the measurements of
bench/dist_bench.sh (docs/SCALING.md):

    python3 bench/scaling_model.py RESULTS.txt     (dist_bench.sh's output)

T1(b), one process's step time on one core at a batch of b rows, is fitted to the measured
curve as T1(b) = a + c b (least squares on the relative error): a is what every rank does
whatever its rows (mostly the optimizer's update of every parameter: each rank updates all
of them), c what a row costs. N machines, each as fast as that core, train a global batch B
with a ring all-reduce of the gradient, S bytes (4 x parameters), over links of bandwidth
W and a latency L per message:

    T_N(B) = a + c B / N + T_ar(N),   T_ar(N) = 2 (N - 1) L + 2 (N - 1) / N x S / W

(libmimic all-reduces after the backward pass, without overlap). Efficiency is
T1(B) / (N T_N(B)): the speed-up over one machine at the same global batch, divided by N.
The global batch that reaches 90% is B90 = (9 N (a + T_ar) - 10 a) / c. Prints Markdown.
"""
import re
import sys

LINKS = (("10 Gb/s", 10e9 / 8, 30e-6), ("100 Gb/s", 100e9 / 8, 5e-6))
MACHINES = (2, 4, 8, 16, 32, 64)


def parse(path):
    curves, sizes = {}, {}
    for line in open(path):
        m = re.match(r"curve (\S+)\s+(\d+)\s+([\d.]+)", line)
        if m:
            curves.setdefault(m.group(1), []).append((int(m.group(2)), float(m.group(3)) / 1e3))
        m = re.match(r"(\d+-\d+b-\d+-\d+)\s+\d+\s+[\d.]+\s+[\d.]+\s+\d+%.*\s([\d.]+)\s*$", line)
        if m:
            sizes[m.group(1)] = float(m.group(2)) * 1e6
    return curves, sizes


def fit(curve):
    """a, c minimizing sum ((a + c b - t) / t)^2."""
    w = [(b, t, 1.0 / (t * t)) for b, t in curve]
    s0 = sum(wi for _, _, wi in w)
    s1 = sum(wi * b for b, _, wi in w)
    s2 = sum(wi * b * b for b, _, wi in w)
    y0 = sum(wi * t for _, t, wi in w)
    y1 = sum(wi * b * t for b, t, wi in w)
    c = (s0 * y1 - s1 * y0) / (s0 * s2 - s1 * s1)
    return (y0 - c * s1) / s0, c


def allreduce(n, size, bandwidth, latency):
    return 2 * (n - 1) * latency + 2 * (n - 1) / n * size / bandwidth


def main(path):
    curves, sizes = parse(path)
    for student, curve in curves.items():
        a, c = fit(curve)
        size = sizes[student]
        worst = max(abs(a + c * b - t) / t for b, t in curve)
        print("\n### %s: %.2f M parameters, %.1f MB an all-reduce\n"
              % (student, size / 4e6, size / 1e6))
        print("One core: a = %.1f ms a step, c = %.4f ms a row (the fit is within %.0f%% of "
              "every measured batch).\n" % (1e3 * a, 1e3 * c, 100 * worst))
        for name, bw, lat in LINKS:
            print("%s, %g us a message: the all-reduce, the step and its efficiency at 128 "
                  "rows a machine (B = 128 N), and B90, the global batch for 90%% (and a "
                  "machine's part of it).\n" % (name, lat * 1e6))
            print("| machines | all-reduce ms | step ms, B = 128 N | efficiency | B90 | "
                  "B90 / machine |")
            print("|---|---|---|---|---|---|")
            for n in MACHINES:
                t_ar = allreduce(n, size, bw, lat)
                b = 128 * n
                tn = a + c * b / n + t_ar
                b90 = max(0.0, (9 * n * (a + t_ar) - 10 * a) / c)
                print("| %d | %.1f | %.1f | %.0f%% | %.0f | %.0f |"
                      % (n, 1e3 * t_ar, 1e3 * tn, 100 * (a + c * b) / (n * tn), b90, b90 / n))
            print()


if __name__ == "__main__":
    main(sys.argv[1])
