#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fda-train with 2 hostile workers out of 16 (--byzantine 2: one sends its model
# sign-flipped ×10, one huge values) on Fashion-MNIST (softmax): the coordinate median and
# the trimmed mean still learn, the plain mean does not.
# Usage: fda_train_robust.sh FDA_TRAIN WORKDIR
set -euo pipefail
fda_train=$1 dir=$2
mkdir -p "$dir"
accuracy() {  # server optimizer -> test accuracy of the run (0 when the model blew up)
  if ! "$fda_train" --model softmax -k 16 --byzantine 2 --server-opt "$1" --trim 0.2 --policy periodic --every 5 \
    --epochs 2 --train-subset 16000 --seed 3 --quiet --json "$dir/$1.json" > "$dir/$1.txt" 2>&1; then
    grep -q "NaN or Inf" "$dir/$1.txt" || { cat "$dir/$1.txt" >&2; exit 1; }
    echo 0; return
  fi
  /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['policies'][0]['test_accuracy'])" "$dir/$1.json"
}
# One assignment per line: on one line, set -e sees only the last substitution's status,
# so a failed run of the first two went on with an empty accuracy.
mean=$(accuracy mean)
median=$(accuracy median)
trimmed=$(accuracy trimmed-mean)
echo "test accuracy with 2 of 16 workers hostile: mean $mean, median $median, trimmed mean $trimmed"
/usr/bin/python3 - "$mean" "$median" "$trimmed" <<'PY'
import sys
mean, median, trimmed = map(float, sys.argv[1:4])
ok = mean < 0.3 and median > 0.65 and trimmed > 0.65
print("PASS" if ok else "FAIL: expected mean < 0.3, median and trimmed mean > 0.65")
sys.exit(0 if ok else 1)
PY
