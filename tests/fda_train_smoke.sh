#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Smoke test of fda-train: one epoch on a 2,000-example subset; checks the CSV header,
# that steps, syncs and bytes never decrease within a policy, the JSON summary, and
# that bad command-line values (NaN and ±Inf among them) exit with status 2 and name the
# option, and that a whole number is read in decimal.
# usage: fda_train_smoke.sh path/to/fda-train work-dir
set -euo pipefail
bin=$1
dir=$2
mkdir -p "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin" --model softmax --train-subset 2000 --epochs 2 --workers 4 --batch 16 --quiet \
  --policy synchronous,periodic,fedavg,naive,linear,sketch,exact,max-drift --theta 0.05 \
  --csv "$dir/smoke.csv" --json "$dir/smoke.json" > "$dir/table.txt"

header='policy,theta,workers,epoch,steps,syncs,monitor_bytes,sync_bytes,total_bytes,test_accuracy,train_loss,wall_seconds,seed,theta_configured,network_seconds'
[ "$(head -n 1 "$dir/smoke.csv")" = "$header" ] || fail "CSV header is '$(head -n 1 "$dir/smoke.csv")'"
rows=$(($(wc -l < "$dir/smoke.csv") - 1))
[ "$rows" -eq 16 ] || fail "expected 16 rows (8 policies x 2 epochs), got $rows"
awk -F, 'NR > 1 {
  if ($1 == p && ($5 < s || $6 < y || $7 < m || $8 < b || $9 < t)) { print "decreasing counter in row " NR; bad = 1 }
  if ($9 != $7 + $8) { print "total_bytes != monitor + sync in row " NR; bad = 1 }
  if ($10 < 0 || $10 > 1) { print "accuracy out of range in row " NR; bad = 1 }
  if ($13 != 1 || $14 != ($2 == "" ? "" : "0.05") || $15 != 0) { print "seed, theta_configured or network_seconds in row " NR; bad = 1 }
  p = $1; s = $5; y = $6; m = $7; b = $8; t = $9
} END { exit bad }' "$dir/smoke.csv" || fail "counters"
grep -q '"policy":"sketch"' "$dir/smoke.json" || fail "JSON summary lacks sketch"
grep -q '^synchronous ' "$dir/table.txt" || fail "no final table on stdout"

# An option given twice takes its last value (scripts/demo --epochs 10 overrides its --epochs 5).
"$bin" --model softmax --train-subset 2000 --workers 4 --batch 16 --quiet --epochs 3 --policy linear,sketch \
  --epochs 1 --policy fedavg --json "$dir/last.json" > /dev/null
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (d['epochs'] == 1 and [p['policy'] for p in d['policies']] == ['fedavg']))" \
  "$dir/last.json" || fail "the last --epochs/--policy did not win: $(cat "$dir/last.json")"

# A simulated network (--net-*) charges time and changes nothing else: the same runs, bit
# for bit, with the network's seconds in the JSON (on narrow links synchronous pays more).
"$bin" --model softmax --train-subset 2000 --workers 4 --batch 16 --quiet --epochs 1 --policy synchronous,linear \
  --theta 0.05 --json "$dir/plain.json" > /dev/null
"$bin" --model softmax --train-subset 2000 --workers 4 --batch 16 --quiet --epochs 1 --policy synchronous,linear \
  --theta 0.05 --net-bandwidth 10M --net-latency 50us --net-topology ring --json "$dir/net.json" > "$dir/net.txt"
grep -q '^simulated network (10 Mbit/s per link, 0.05 ms latency, ring)' "$dir/net.txt" || fail "no network table: $(cat "$dir/net.txt")"
/usr/bin/python3 - "$dir/plain.json" "$dir/net.json" <<'PY' || fail "--net-* changed the run or lacks its time"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
keys = ("steps", "syncs", "total_bytes", "test_accuracy")
same = all(p[k] == q[k] for p, q in zip(a["policies"], b["policies"]) for k in keys)
t = {p["policy"]: p["network_seconds"] for p in b["policies"]}
sys.exit(not (same and a["policies"][0]["network_seconds"] is None and b["network"]["topology"] == "ring"
              and t["synchronous"] > t["linear"] > 0))
PY

source "$(dirname "$0")/refusals.sh"
expect_2() { expect_refused "$1" "$bin" "${@:2}"; }  # rejected with status 2, the message naming $1
expect_2 --workers --workers 0
expect_2 --workers --workers many
expect_2 --theta --theta -1
expect_2 --theta --theta nan
expect_2 --policy --policy fedsgd
expect_2 --partition --partition dirichlet:-1
expect_2 --partition --partition sorted:2
expect_2 --model --model resnet
expect_2 --lr --lr 0
expect_2 --batch --batch 0
expect_2 --epochs --epochs 0
expect_2 --data --data /nonexistent/fashion
expect_2 --target-accuracy --target-accuracy 1.5
expect_2 --server-opt --server-opt sgd
# Every number: NaN and ±Inf (which CLI11's range checks let through), out of range, not
# a whole number, negative whole numbers (CLI11 wraps -1 to 2^64 - 1), overflow.
for value in nan inf -inf 0 -1; do
  expect_2 --lr --lr $value
  expect_2 --server-lr --server-lr $value
done
for value in nan inf -inf -0.1 0.5; do expect_2 --trim --trim $value; done
for value in nan inf -inf 0 1.5; do expect_2 --target-accuracy --target-accuracy $value; done
expect_2 --lr --lr 1e-400
expect_2 --lr --lr 0x1p-3
expect_2 --every --every inf
expect_2 --every --every 0
expect_2 --every --every 18446744073709551616
expect_2 --local-epochs --local-epochs nan
expect_2 --seed --seed -1
expect_2 --seed --seed 18446744073709551616
expect_2 --seed --seed 1e3
expect_2 --batch --batch 1e99
expect_2 --batch --batch 0x10
expect_2 --batch --batch 4097
expect_2 --epochs --epochs 1.5
expect_2 --workers --workers 2.0
expect_2 --workers --workers -3
expect_2 --threads --threads 0
expect_2 --check-every --check-every inf
expect_2 --train-subset --train-subset -1
expect_2 --byzantine --byzantine nan
expect_2 --checkpoint-every --checkpoint-every -1
for value in 0 -1G nan inf 1Gb fast; do expect_2 --net-bandwidth --net-bandwidth $value; done
for value in -1ms nan inf 20min; do expect_2 --net-latency --net-latency $value; done
expect_2 --net-topology --net-topology mesh
# A whole number is read in decimal: CLI11 alone took "010" as octal 8.
"$bin" --model softmax --train-subset 200 --epochs 1 --batch 2 --workers 010 --json "$dir/octal.json" 2> "$dir/octal.err" >/dev/null
grep -q '"workers":10,' "$dir/octal.json" || fail "--workers 010 is not 10 workers: $(cat "$dir/octal.json")"
echo "fda-train smoke test passed"
