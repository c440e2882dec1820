#!/usr/bin/python3
"""PyTorch side of the side-by-side benchmark (bench/compare.sh runs it next to libmimic).

Prints one line per config, machine-readable:
  torch train D k H C batch examples_per_s
  torch infer1 D k H C latency_us
Training step = the same work as libmimic's: forward, logit-L2 loss, backward, SGD momentum
update, on random float32 data already in memory (gather by a shuffled index).
"""
import sys
import time

import torch
import torch.nn as nn


def model_for(D, k, H, C):
    layers = [nn.Linear(D, k, bias=False), nn.Linear(k, H)] if k else [nn.Linear(D, H)]
    return nn.Sequential(*layers, nn.ReLU(), nn.Linear(H, C))


def train_rate(D, k, H, C, batch, seconds):
    torch.manual_seed(0)
    n = 16384
    X = torch.randn(n, D)
    Z = torch.randn(n, C) * 3
    m = model_for(D, k, H, C)
    opt = torch.optim.SGD(m.parameters(), lr=1e-4, momentum=0.9)
    perm = torch.randperm(n)

    def step(i):
        idx = perm[(i * batch) % (n - batch):(i * batch) % (n - batch) + batch]
        s = m(X[idx])
        loss = 0.5 * ((s - Z[idx]) ** 2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(5):
        step(i)
    t0 = time.perf_counter()
    i = 0
    while time.perf_counter() - t0 < seconds:
        step(i)
        i += 1
    return i * batch / (time.perf_counter() - t0)


def infer1_latency(D, k, H, C, iters):
    m = model_for(D, k, H, C)
    x = torch.randn(1, D)
    with torch.no_grad():
        for _ in range(50):
            m(x)
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            m(x)
            times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1e6


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    torch.set_num_threads(threads)
    for spec in sys.argv[3:] or ["784:256:4096:10:256", "784:256:4096:10:64", "784:0:4096:10:256"]:
        D, k, H, C, B = (int(v) for v in spec.split(":"))
        print(f"torch train {D} {k} {H} {C} {B} {train_rate(D, k, H, C, B, seconds):.1f}", flush=True)
    for spec in ["784:256:4096:10", "784:0:4096:10"]:
        D, k, H, C = (int(v) for v in spec.split(":"))
        print(f"torch infer1 {D} {k} {H} {C} {infer1_latency(D, k, H, C, 2000):.2f}", flush=True)


if __name__ == "__main__":
    main()
