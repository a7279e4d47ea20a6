#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# LibTorch from C++ (fda-train --backend torch) against PyTorch from Python, one epoch of
# LeNet-5 on Fashion-MNIST each (batch 32, Adam, then the evaluation), run back to back on
# the same machine with the same intra-op threads; prints both and their ratio.
# usage: bench/torch_vs_python.sh path/to/fda-train [THREADS]   (needs python3-torch)
set -euo pipefail
bin=$1 threads=${2:-1}
here=$(cd "$(dirname "$0")/.." && pwd)
json=$(mktemp)
trap 'rm -f "$json"' EXIT
"$bin" --backend torch --model lenet5 -k 1 --policy synchronous --epochs 1 --client-opt adam --lr 1e-3 \
  --intra-op-threads "$threads" --quiet --json "$json" > /dev/null
cxx=$(/usr/bin/python3 -c "import json,sys; p=json.load(open(sys.argv[1]))['policies'][0]; print(p['wall_seconds'], p['test_accuracy'])" "$json")
read -r cxx_s cxx_acc <<<"$cxx"
py=$(/usr/bin/python3 "$here/scripts/torch_epoch.py" "$threads")
py_s=$(sed -E 's/.*epoch: ([0-9.]+) s.*/\1/' <<<"$py")
echo "fda-train --backend torch lenet5 epoch: $cxx_s s on $threads thread(s); test accuracy $cxx_acc"
echo "$py"
/usr/bin/python3 -c "import sys; c, p = map(float, sys.argv[1:]); print(f'C++ / Python time: {c / p:.2f}')" "$cxx_s" "$py_s"
