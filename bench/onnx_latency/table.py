#!/usr/bin/python3
"""Format bench/onnx_latency results (lines: run threads who model batch median p10 p90, and
'#' lines: cpu, cores, load averages, versions, the OpenBLAS core) as Markdown tables:
libmimic beside ONNX Runtime and PyTorch, one table per weight type. Each cell is the median
over the runs of the per-run median (and the median p10-p90) in microseconds."""
import statistics
import sys

runs, info = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if not f:
        continue
    if f[0] == "#":
        info[f[1]] = " ".join(f[2:])
        continue
    if f[2] == "#":  # run threads # key value...
        info[f[3]] = " ".join(f[4:])
        continue
    r, t, who, model, batch, med, p10, p90 = f
    runs.setdefault((t, who, model, batch), []).append((float(med), float(p10), float(p90)))

rows = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in runs.items()}
n_runs = max(len(v) for v in runs.values())


def cell(key):
    v = rows.get(key)
    return f"{v[0]:.0f} ({v[1]:.0f}-{v[2]:.0f})" if v else "-"


def ratio(a, b):
    return f"{rows[a][0] / rows[b][0]:.2f}" if a in rows and b in rows else "-"


def dtype_of(model):
    return model.rsplit("_", 1)[1] if model.endswith(("_float16", "_int8")) else "float32"


print(f"CPU: {info.get('cpu', '?').replace('_', ' ')}, {info.get('cores', '?')} cores; OpenBLAS "
      f"core {info.get('openblas-core', '?')}; onnxruntime-node {info.get('onnxruntime-node', '?')}; "
      f"PyTorch {info.get('torch', '-')}. Load average (1/5/15 min) {info.get('load-before', '?')} "
      f"before, {info.get('load-after', '?')} after. Median over {n_runs} interleaved runs of each "
      "run's median (p10-p90), µs per call. \"ORT binding\": session.run on a trivial Slice model "
      "(the JS/N-API cost inside the ORT columns).\n")
for dt in ("float32", "float16", "int8"):
    keys = sorted(k for k in rows if k[1] == "mimic" and dtype_of(k[2]) == dt)
    if not keys:
        continue
    print(f"**{dt} weights**\n")
    print("| threads | model | batch | libmimic | ORT Gemm | ORT MatMul | PyTorch | ORT binding "
          "| libmimic / ORT | libmimic / PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (t, _, model, batch) in keys:
        m = (t, "mimic", model, batch)
        print(f"| {t} | {model} | {batch} | {cell(m)} | {cell((t, 'ort-gemm', model, batch))} | "
              f"{cell((t, 'ort-matmul', model, batch))} | {cell((t, 'torch', model, batch))} | "
              f"{cell((t, 'ort-overhead', '-', batch))} | {ratio(m, (t, 'ort-gemm', model, batch))} | "
              f"{ratio(m, (t, 'torch', model, batch))} |")
    print()
# compact weights against the float32 student, libmimic alone
base = {k: v for k, v in rows.items() if k[1] == "mimic" and dtype_of(k[2]) == "float32"}
if any(dtype_of(k[2]) != "float32" for k in rows if k[1] == "mimic"):
    print("**Compact weights: speed-up of libmimic over its own float32 student**\n")
    print("| threads | model | batch | float16 | int8 |")
    print("|---|---|---|---|---|")
    for (t, _, model, batch) in sorted(base):
        cells = []
        for dt in ("float16", "int8"):
            k = (t, "mimic", f"{model}_{dt}", batch)
            cells.append(f"{base[(t, 'mimic', model, batch)][0] / rows[k][0]:.2f}x" if k in rows else "-")
        print(f"| {t} | {model} | {batch} | {cells[0]} | {cells[1]} |")
