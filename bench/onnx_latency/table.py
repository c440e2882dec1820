#!/usr/bin/python3
"""Format bench/onnx_latency results (lines: threads who model batch median p10 p90) as a
Markdown table, libmimic beside ONNX Runtime."""
import sys

rows, version, core = {}, "?", "?"
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 4 and f[1] == "#":
        if f[2] == "openblas-core":
            core = f[3]
        else:
            version = f[-1]
        continue
    t, who, model, batch, med, p10, p90 = f
    rows[(t, who, model, batch)] = (float(med), float(p10), float(p90))


def cell(key):
    v = rows.get(key)
    return f"{v[0]:.0f} ({v[1]:.0f}-{v[2]:.0f})" if v else "-"


print(f"Latency per call in µs: median (p10-p90). ONNX Runtime: onnxruntime-node {version}, "
      f"CPU EP. OpenBLAS kernels: {core}. \"binding\" = the same session.run on a trivial Slice model (the JS/N-API cost "
      "included in the ORT columns).\n")
print("| threads | model | batch | libmimic | ORT Gemm(transB=1) | ORT MatMul(W^T) | ORT binding | "
      "libmimic / ORT Gemm |")
print("|---|---|---|---|---|---|---|---|")
for (t, who, model, batch) in sorted(k for k in rows if k[1] == "mimic"):
    m = rows[(t, who, model, batch)][0]
    g = rows.get((t, "ort-gemm", model, batch))
    ratio = f"{m / g[0]:.2f}" if g else "-"
    print(f"| {t} | {model} | {batch} | {cell((t, 'mimic', model, batch))} | "
          f"{cell((t, 'ort-gemm', model, batch))} | {cell((t, 'ort-matmul', model, batch))} | "
          f"{cell((t, 'ort-overhead', '-', batch))} | {ratio} |")
