#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch's side of the front-end comparison (bench/torch_vs_python.sh): one epoch of
LeNet-5 on Fashion-MNIST as `fda-train --backend torch --model lenet5 -k 1` runs it — batch 32,
Adam (lr 1e-3), a shuffled pass over the 60,000 training images, then the test accuracy on
10,000 images and the loss on the first 5,000 training images in chunks of 500 — on THREADS
intra-op threads. Prints the wall seconds (data loading excluded). Needs python3-torch.

usage: /usr/bin/python3 scripts/torch_epoch.py [THREADS] [DATA_DIR]
"""
import gzip, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
data = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
torch.set_num_threads(threads)
torch.manual_seed(1)

def idx(name, offset):
    with gzip.open(f"{data}/{name}", "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)

x = torch.from_numpy(idx("train-images-idx3-ubyte.gz", 16).astype(np.float32) / 255).reshape(-1, 1, 28, 28)
y = torch.from_numpy(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
tx = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz", 16).astype(np.float32) / 255).reshape(-1, 1, 28, 28)
ty = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))

net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                    nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                    nn.Linear(84, 10))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
start = time.perf_counter()
order = torch.randperm(len(x))
for b in range(len(x) // 32):
    i = order[b * 32:(b + 1) * 32]
    opt.zero_grad()
    F.cross_entropy(net(x[i]), y[i]).backward()
    opt.step()
with torch.no_grad():
    net.eval()
    correct = sum((net(tx[i:i + 500]).argmax(1) == ty[i:i + 500]).sum().item() for i in range(0, len(tx), 500))
    loss = sum(F.cross_entropy(net(x[i:i + 500]), y[i:i + 500], reduction="sum").item() for i in range(0, 5000, 500))
seconds = time.perf_counter() - start
print(f"pytorch lenet5 epoch: {seconds:.2f} s on {threads} thread(s); test accuracy {correct / len(tx):.4f}, "
      f"probe loss {loss / 5000:.4f}")
