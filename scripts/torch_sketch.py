#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The PyTorch side of the sketch benchmark (bench/README.md, target (c)): SketchFDA's local
state as the paper's PyTorch code computes it -- precomputed depth x d tables of bucket
indices (int64, as index_add_ wants) and signs, the drift u = w - w0 materialised, one
index_add_ per row -- and, for fairness, the fastest formulation found (one bincount over
all rows). One thread, depth 5, width 250. Needs python3-torch (Debian).

usage: /usr/bin/python3 scripts/torch_sketch.py [D]        (default D = 10,000,000)

The script re-runs itself with glibc's malloc told to keep freed memory (MALLOC_MMAP_MAX_=0
and large trim/top-pad thresholds): with the defaults, every temporary above 32 MB (each
row's sign * u at D = 1e7) is fresh mmap'd memory, and its page faults made the call 10x
slower here (1.4-1.8 s instead of 0.14-0.19 s), which measures the allocator, not the
approach. FDA_TORCH_DEFAULT_MALLOC=1 keeps the defaults.
"""
import os, sys, time
if os.environ.get("FDA_TORCH_DEFAULT_MALLOC") != "1" and os.environ.get("MALLOC_MMAP_MAX_") != "0":
    env = dict(os.environ, MALLOC_MMAP_MAX_="0", MALLOC_TRIM_THRESHOLD_="100000000000",
               MALLOC_TOP_PAD_="1000000000")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)
import torch
torch.set_num_threads(1)
d = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
depth, width = 5, 250
g = torch.Generator().manual_seed(0)
idx = torch.randint(0, width, (depth, d), generator=g)
sign = (torch.randint(0, 2, (depth, d), generator=g) * 2 - 1).float()
flat = (idx + torch.arange(depth).unsqueeze(1) * width).reshape(-1)
w0 = torch.rand(d, generator=g)
w = w0 + 0.01 * torch.rand(d, generator=g)

def index_add():  # the paper's code: a scatter-add per row
    u = w - w0
    sk = torch.zeros(depth, width)
    for r in range(depth):
        sk[r].index_add_(0, idx[r], sign[r] * u)
    return torch.dot(u, u), sk

def bincount():  # all rows in one call, double sums
    u = w - w0
    sk = torch.bincount(flat, weights=(sign * u).reshape(-1), minlength=depth * width)
    return torch.dot(u, u), sk.view(depth, width)

ref = index_add()[1]
for name, f in [("index_add_ per row", index_add), ("bincount", bincount)]:
    assert torch.allclose(f()[1].float(), ref, rtol=1e-3, atol=1e-2), name
    f()
    times = []
    for _ in range(7):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"torch {torch.__version__} {name:18s} d={d}: median {times[3] * 1e3:8.1f} ms "
          f"({times[3] / d * 1e9:6.2f} ns/elem), best {times[0] * 1e3:.1f} ms")
