#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fda-train --backend torch: the 1.17M-parameter CNN runs every policy on a small subset and
# writes the CSV, JSON and PNG; LibTorch's LeNet-5 reaches an accuracy floor after one epoch
# on 6,000 examples; a model of the other back end is refused with status 2.
# usage: fda_train_torch.sh path/to/fda-train work-dir
set -euo pipefail
bin=$1 dir=$2
mkdir -p "$dir"
rm -f "$dir"/cnn.*
fail() { echo "FAIL: $*" >&2; exit 1; }

policies=synchronous,periodic,fedavg,naive,linear,sketch,sketch-tiled,exact,max-drift
"$bin" --backend torch --model cnn --train-subset 256 --epochs 1 --workers 4 --batch 16 --quiet \
  --policy $policies --theta 0.05 --csv "$dir/cnn.csv" --json "$dir/cnn.json" --plot "$dir/cnn.png" > "$dir/cnn.txt"
cat "$dir/cnn.txt"
rows=$(($(wc -l < "$dir/cnn.csv") - 1))
[ "$rows" -eq 9 ] || fail "expected 9 rows (9 policies x 1 epoch), got $rows"
[ -s "$dir/cnn.png" ] || fail "no plot"
/usr/bin/python3 - "$dir/cnn.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["backend"] == "torch" and j["model"] == "cnn", j
names = [p["policy"] for p in j["policies"]]
assert names == "synchronous,periodic,fedavg,naive,linear,sketch,sketch-tiled,exact,max-drift".split(","), names
sync = j["policies"][0]
assert sync["syncs"] == sync["steps"] == 4, sync
# Synchronous averaging sends the model (1,174,250 floats) both ways at every step.
assert sync["sync_bytes"] >= 4 * 2 * 4 * 1174250, sync
print("cnn: 9 policies ran; synchronous sent", sync["sync_bytes"], "bytes in", sync["steps"], "steps")
PY

# LeNet-5 on LibTorch learns: after one epoch on 6,000 examples, test accuracy >= 0.65.
"$bin" --backend torch --model lenet5 --train-subset 6000 --epochs 1 --workers 4 --quiet --policy linear \
  --theta 0.5 --json "$dir/lenet5.json" > "$dir/lenet5.txt"
/usr/bin/python3 - "$dir/lenet5.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["policies"][0]
print("lenet5 (LibTorch), 1 epoch on 6,000 examples: test accuracy", p["test_accuracy"], "with", p["syncs"], "syncs")
sys.exit(0 if p["test_accuracy"] >= 0.65 else 1)
PY

for bad in "--backend torch --model mlp" "--backend torch --model softmax" "--backend eigen --model cnn" "--model cnn"; do
  set +e
  "$bin" $bad --train-subset 256 --epochs 1 > "$dir/bad.txt" 2>&1
  status=$?
  set -e
  [ $status -eq 2 ] || fail "'$bad' exited with $status, not 2"
  grep -q "is not a model of --backend" "$dir/bad.txt" || fail "'$bad': $(cat "$dir/bad.txt")"
done
echo "models of the other back end refused with status 2"
