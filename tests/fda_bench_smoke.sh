#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fda-bench at tiny sizes (a fraction of a second per case): every policy and a sync give a
# row with a positive time and ratio, the CSV has its columns in order and the JSON its
# rows, the cost-model bytes follow docs/algorithm.md, and bad values exit 2 naming the
# option.
# usage: fda_bench_smoke.sh path/to/fda-bench work-dir
set -euo pipefail
bin=$1
dir=$2
mkdir -p "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }

source "$(dirname "$0")/refusals.sh"
expect_2() { expect_refused "$1" "$bin" "${@:2}"; }  # $1: text the message must contain
expect_2 "--dim" --dim 0
expect_2 "--dim" --dim 1e6,abc
expect_2 "--dim" --dim 2.5
expect_2 "--policy" --policy linear,fastest
expect_2 "--workers" --workers 0
expect_2 "--sync" --sync mean,sum
expect_2 "--min-time" --min-time nan
expect_2 "--eigen-model" --eigen-model resnet
expect_2 "excludes" --eigen-model softmax --model-step-ms 2
expect_2 "GB of memory" --policy naive --dim 1e9 --workers 4096 --sync mean   # refused before allocating

timeout 120 "$bin" --policy synchronous,naive,linear,sketch,exact,max-drift --dim 1000,4097 --workers 4 \
  --tensors 3 --sync mean,fedadam --model-step-ms 2 --min-time 0.01 \
  --csv "$dir/bench.csv" --json "$dir/bench.json" > "$dir/bench.txt" 2> "$dir/bench.err" ||
  fail "fda-bench exited with $?: $(cat "$dir/bench.err")"
cat "$dir/bench.txt"
grep -q '^fda-bench: \[16/16\]' "$dir/bench.err" || fail "no progress line for the 16th case: $(cat "$dir/bench.err")"
/usr/bin/python3 - "$dir/bench.csv" "$dir/bench.json" <<'PY' || fail "the CSV or JSON is wrong"
import csv, json, math, sys
header = ("label,kind,name,type,dim,workers,tensors,checks,seconds,baseline_seconds,ratio,ns_per_param,"
          "read_GBps,state_bytes,cost_model_bytes,step_seconds,share_of_step,samples").split(",")
with open(sys.argv[1]) as f:
    reader = csv.reader(f)
    assert next(reader) == header, "CSV header"
    rows = [dict(zip(header, r)) for r in reader]
assert len(rows) == 16, len(rows)
state = {"naive": 4, "linear": 8, "sketch": 4 * (1 + 5 * 250), "max-drift": 1}
for r in rows:
    d, k = int(r["dim"]), int(r["workers"])
    assert k == 4 and d in (1000, 4097), r
    if r["label"] == "synchronous":
        assert r["checks"] == "0" and float(r["cost_model_bytes"]) == 0, r
        continue
    assert float(r["seconds"]) > 0 and float(r["ratio"]) > 0 and int(r["samples"]) > 0, r
    if r["kind"] == "sync":
        assert float(r["cost_model_bytes"]) == 2 * k * 4 * d, r
        continue
    want = state.get(r["label"], 4 * (1 + d))  # exact variance: 4 (1 + d)
    assert int(r["state_bytes"]) == want and float(r["cost_model_bytes"]) == k * want, r
    assert abs(float(r["share_of_step"]) - float(r["seconds"]) / 0.002) < 1e-9, r
doc = json.load(open(sys.argv[2]))
assert len(doc["rows"]) == 16 and doc["settings"]["workers"] == 4, doc["settings"]
print("fda_bench_smoke: CSV and JSON ok,", len(rows), "rows")
PY
echo "fda_bench_smoke: PASS"
