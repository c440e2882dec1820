#!/usr/bin/python3
"""PyTorch reference of the libmimic recipes (the side-by-side baseline of the study).

Trains Sequential(Linear(D,k,bias=False), Linear(k,H), ReLU(), Linear(H,C)) on the .npy files
made by make_data.py, with the same loss definitions as libmimic (logit L2 = 1/(2N) sum
||s-t||^2, KD = T^2 KL, hard CE), SGD(momentum) or Adam, cosine per-step schedule, inputs
scaled to [0,1] and standardized per pixel (std floored), and prints test accuracy.
"""
import argparse
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "out", "data"))
    p.add_argument("--train", default="train", help="train or big (train + transfer)")
    p.add_argument("--loss", default="l2", choices=["l2", "kd", "labels"])
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--bottleneck", type=int, default=256)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-std", action="store_true", help="per-class standardized targets")
    p.add_argument("--stop-after", type=int, default=0, help="stop after this many epochs (schedule unchanged)")
    p.add_argument("--std-floor", type=float, default=0.1, help="per-pixel std floor, in [0,1] units")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = a.data
    X = np.load(f"{d}/{a.train}_x.npy").astype(np.float32) / 255.0
    Y = np.load(f"{d}/{a.train}_y.npy").astype(np.int64)
    Z = np.load(f"{d}/{a.train}_z.npy")
    Xt = np.load(f"{d}/test_x.npy").astype(np.float32) / 255.0
    Yt = np.load(f"{d}/test_y.npy")
    mean = X.mean(0)
    scale = 1.0 / np.maximum(X.std(0), a.std_floor)
    X = (X - mean) * scale
    Xt = (Xt - mean) * scale
    zm, zs = Z.mean(0), Z.std(0)
    if a.target_std:
        Z = (Z - zm) / zs
    X, Y, Z = torch.from_numpy(X), torch.from_numpy(Y), torch.from_numpy(Z)
    D, C = X.shape[1], Z.shape[1]
    layers = []
    if a.bottleneck:
        layers.append(nn.Linear(D, a.bottleneck, bias=False))
    layers += [nn.Linear(a.bottleneck or D, a.hidden), nn.ReLU(), nn.Linear(a.hidden, C)]
    model = nn.Sequential(*layers)
    if a.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    n = len(X)
    steps = a.epochs * math.ceil(n / a.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    T = a.temperature
    t0 = time.time()
    for ep in range(a.epochs):
        perm = torch.randperm(n)
        tot = 0.0
        for i in range(0, n, a.batch):
            idx = perm[i:i + a.batch]
            s = model(X[idx])
            if a.loss == "l2":
                loss = 0.5 * ((s - Z[idx]) ** 2).sum(1).mean()
            elif a.loss == "kd":
                loss = T * T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(Z[idx] / T, 1), reduction="batchmean")
            else:
                loss = F.cross_entropy(s, Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        with torch.no_grad():
            acc = (model(torch.from_numpy(Xt)).argmax(1).numpy() == Yt).mean()
        print(f"epoch {ep + 1} loss {tot / n:.4f} test_acc {acc * 100:.2f} time {time.time() - t0:.0f}s", flush=True)
        if a.stop_after and ep + 1 >= a.stop_after:
            break


if __name__ == "__main__":
    main()
