#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The PyTorch side of the model benchmark: ms per batch-32 training step (SGD, momentum
0.9) of the same three models, on N threads. Needs python3-torch (Debian).

usage: /usr/bin/python3 scripts/torch_bench.py [THREADS]
"""
import time, torch, torch.nn as nn, torch.nn.functional as F, sys
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
torch.manual_seed(0)
class LeNet5(nn.Module):
    def __init__(s):
        super().__init__()
        s.conv1 = nn.Conv2d(1, 6, 5, padding=2); s.conv2 = nn.Conv2d(6, 16, 5)
        s.fc1 = nn.Linear(400, 120); s.fc2 = nn.Linear(120, 84); s.fc3 = nn.Linear(84, 10)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.conv1(x)), 2); x = F.max_pool2d(F.relu(s.conv2(x)), 2)
        x = torch.flatten(x, 1); return s.fc3(F.relu(s.fc2(F.relu(s.fc1(x)))))
def mlp(): return nn.Sequential(nn.Flatten(), nn.Linear(784,200), nn.ReLU(), nn.Linear(200,200), nn.ReLU(), nn.Linear(200,10))
def softmax(): return nn.Sequential(nn.Flatten(), nn.Linear(784,10))
for name, make in [("softmax", softmax), ("mlp", mlp), ("lenet5", LeNet5)]:
    m = make(); print(name, sum(p.numel() for p in m.parameters()), "params")
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(32, 1, 28, 28); y = torch.randint(0, 10, (32,))
    def step():
        opt.zero_grad(); loss = F.cross_entropy(m(x), y); loss.backward(); opt.step()
    for _ in range(50): step()
    res = []
    for r in range(7):
        n = 300 if name == "lenet5" else 1000
        t = time.perf_counter()
        for _ in range(n): step()
        dt = (time.perf_counter() - t) / n
        res.append(dt)
    res.sort()
    print(f"{name}: best {res[0]*1e3:.3f} ms/step ({32/res[0]:.0f} samples/s), median {res[3]*1e3:.3f} ms ({32/res[3]:.0f} samples/s)")
