#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fda-train on tiny training sets, where a split can leave a worker without data and an
# epoch can be shorter than one step: those are refused with status 2 and a message that
# names the fix (never a crash, never a silently mis-scaled epoch), and the runs that are
# possible complete with finite results, also when some worker's shard is smaller than
# --batch (its batch is then its whole shard).
# usage: fda_train_tiny.sh path/to/fda-train work-dir
set -euo pipefail
bin=$1
dir=$2
mkdir -p "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }

source "$(dirname "$0")/refusals.sh"
expect_2() { expect_refused "$1" "$bin" --model softmax --quiet "${@:2}"; }  # $1: text the message must contain

# The first 10 examples hold 3 of label 0 and 7 others: K = 10 cannot all get data.
expect_2 "--partition label:0: fda::data::partition_label: K = 10 workers" --train-subset 10 -k 10 --partition label:0
expect_2 "needs at least K = 10 examples of labels other than 0 (it has 7)" --train-subset 10 -k 10 --batch 1 --partition label:0
# Less than one step per epoch: the smallest --train-subset and the largest --batch that work.
expect_2 "use --batch <= 10 or --train-subset >= 320" --train-subset 100 -k 10
expect_2 "use --batch <= 1 or --train-subset >= 20" --train-subset 10 -k 10 --batch 2
expect_2 "use --batch <= 30 or fewer workers (the training set has 60000)" -k 2000 --batch 100

run() {  # $1: name; the rest: arguments. Must finish with finite numbers in the JSON summary.
  local name=$1; shift
  timeout 120 "$bin" --model softmax --json "$dir/$name.json" "$@" > "$dir/$name.txt" 2> "$dir/$name.err" ||
    fail "$name: '$*' exited with $?: $(cat "$dir/$name.err")"
  /usr/bin/python3 - "$dir/$name.json" <<'PY' || fail "$name: $(cat "$dir/$name.json")"
import json, math, sys
for p in json.load(open(sys.argv[1]))["policies"]:
    assert p["steps"] > 0 and math.isfinite(p["test_accuracy"]) and 0 <= p["test_accuracy"] <= 1, p
PY
  echo "ok, ran: $*"
}

# One step per epoch, one example per worker.
run one_each --train-subset 10 -k 10 --batch 1 --epochs 2 --policy synchronous,fedavg,linear
# Skewed splits where some shards are smaller than --batch: those workers' batch is their shard.
run dirichlet --train-subset 2000 -k 20 --batch 16 --partition dirichlet:0.05 --epochs 2 --policy fedavg,linear
grep -q "workers hold fewer examples than --batch 16" "$dir/dirichlet.err" ||
  fail "no shard below --batch 16 in the dirichlet run: $(cat "$dir/dirichlet.err")"
run label --train-subset 200 -k 16 --batch 12 --partition label:0 --epochs 2
grep -q "workers hold fewer examples than --batch 12" "$dir/label.err" ||
  fail "no shard below --batch 12 in the label run: $(cat "$dir/label.err")"
# One worker: nothing to average, so no sync and no bytes, and the run says why.
run alone --train-subset 500 -k 1 --batch 16 --epochs 2 --policy linear,synchronous
/usr/bin/python3 - "$dir/alone.json" <<'PY' || fail "alone: $(cat "$dir/alone.json")"
import json, sys
for p in json.load(open(sys.argv[1]))["policies"]:
    assert p["syncs"] == 0 and p["total_bytes"] == 0, p
    assert any("K = 1" in n for n in p["notes"]), p
PY
grep -q "note: K = 1" "$dir/alone.txt" || fail "alone: no note printed: $(cat "$dir/alone.txt")"
echo "fda-train tiny test passed"
