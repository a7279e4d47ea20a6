#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fda-train sweeps: --theta takes a list (a policy with a threshold runs once per value, one
# without once), --seeds repeats every run for each seed. Checks the runs' order and their
# seed and configured θ in the JSON and in the CSV's trailing columns, that a run of a sweep
# is the same run alone (--seed, one θ), that two seeds make different runs, and refusals.
# usage: fda_train_sweep.sh path/to/fda-train work-dir
set -euo pipefail
bin=$1
dir=$2
mkdir -p "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }
tiny=(--model softmax --train-subset 2000 --epochs 1 -k 2 --quiet)

"$bin" "${tiny[@]}" --policy linear,synchronous --theta 0.5,adaptive --seeds 1,2 \
  --csv "$dir/sweep.csv" --json "$dir/sweep.json" > "$dir/sweep.txt"
"$bin" "${tiny[@]}" --policy linear --theta 0.5 --seed 1 --csv "$dir/alone.csv" --json "$dir/alone.json" > /dev/null
grep -qE '^policy +theta +seed ' "$dir/sweep.txt" || fail "no seed column in the table: $(cat "$dir/sweep.txt")"

/usr/bin/python3 - "$dir/sweep.json" "$dir/sweep.csv" "$dir/alone.json" "$dir/alone.csv" <<'PY' || fail "sweep"
import csv, json, sys
sweep, alone = json.load(open(sys.argv[1])), json.load(open(sys.argv[3]))
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
alone_rows = list(csv.DictReader(open(sys.argv[4], newline="")))
bad = []
def expect(what, got, want):
    if got != want:
        bad.append(f"{what}: {got!r}, expected {want!r}")

# For each seed, for each policy in --policy order, for each θ in --theta order.
runs = [(p["policy"], p["seed"], p["theta_configured"]) for p in sweep["policies"]]
want = [(policy, seed, theta) for seed in (1, 2)
        for policy, thetas in (("linear", ("0.5", "adaptive")), ("synchronous", (None,))) for theta in thetas]
expect("runs (policy, seed, theta_configured)", runs, want)
expect("theta", [p["theta"] for p in sweep["policies"]], [t or "" for _, _, t in want])
expect("the last fields of an entry", list(sweep["policies"][0])[-2:], ["seed", "theta_configured"])

# The CSV: one row per run (1 epoch), the header's 12 columns then the 3 trailing ones.
expect("CSV header", list(rows[0])[12:], ["seed", "theta_configured", "network_seconds"])
expect("CSV rows (policy, seed, theta_configured)", [(r["policy"], r["seed"], r["theta_configured"]) for r in rows],
       [(policy, str(seed), theta or "") for policy, seed, theta in want])
expect("network_seconds without a simulated network", {r["network_seconds"] for r in rows}, {"0"})
expect("the CSV of one run", [(r["seed"], r["theta_configured"]) for r in alone_rows], [("1", "0.5")])

# A run of the sweep is that run alone; another seed is another run (the negative control).
keys = ("steps", "syncs", "monitor_bytes", "sync_bytes", "total_bytes", "test_accuracy")
first, = alone["policies"]
expect("the run alone's seed and theta", (first["seed"], first["theta_configured"]), (1, "0.5"))
for k in keys:
    expect(f"seed 1, theta 0.5 in the sweep vs alone: {k}", sweep["policies"][0][k], first[k])
for a, b in zip(sweep["policies"][:3], sweep["policies"][3:]):
    if all(a[k] == b[k] for k in ("test_accuracy", "final_theta")):
        bad.append(f"{a['policy']} theta {a['theta']}: seeds 1 and 2 gave the same run")
for line in bad:
    print(line)
print(f"{len(runs)} runs checked, {len(bad)} problems")
sys.exit(1 if bad else 0)
PY

# A simulated network: network_seconds grows over the epochs of a run (0 without one: above).
"$bin" "${tiny[@]}" --epochs 2 --policy synchronous --seeds 3,4 --net-bandwidth 100M --csv "$dir/net.csv" > /dev/null
/usr/bin/python3 - "$dir/net.csv" <<'PY' || fail "network_seconds: $(cat "$dir/net.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
t = {seed: [float(r["network_seconds"]) for r in rows if r["seed"] == seed] for seed in ("3", "4")}
sys.exit(not all(len(v) == 2 and 0 < v[0] < v[1] for v in t.values()))
PY

# FedAvg with client sampling: --fraction 0.25 of K = 8 averages 2 clients per round; the
# cost model counts their uploads and downloads only, and the run differs from C = 1.
"$bin" "${tiny[@]}" -k 8 --epochs 2 --policy fedavg --fraction 0.25 --json "$dir/sampled.json" > /dev/null
"$bin" "${tiny[@]}" -k 8 --epochs 2 --policy fedavg --json "$dir/all.json" > /dev/null
/usr/bin/python3 - "$dir/sampled.json" "$dir/all.json" <<'PY' || fail "--fraction: $(cat "$dir/sampled.json")"
import json, sys
sampled, everyone = (json.load(open(f)) for f in sys.argv[1:3])
a, b = sampled["policies"][0], everyone["policies"][0]
assert sampled["fraction"] == 0.25 and everyone["fraction"] == 1, (sampled["fraction"], everyone["fraction"])
assert a["syncs"] == b["syncs"] > 0
assert a["sync_bytes"] * 4 == b["sync_bytes"], (a["sync_bytes"], b["sync_bytes"])  # 2 of 8 clients
assert a["test_accuracy"] != b["test_accuracy"]
PY

source "$(dirname "$0")/refusals.sh"
expect_2() { expect_refused "$1" "$bin" "${tiny[@]}" "${@:2}"; }  # $1: text the message must contain
expect_2 "--seed and --seeds cannot both be given" --seed 1 --seeds 1,2
expect_2 "--theta: must be a finite number >= 0 or 'adaptive', not 'bogus'" --theta 0.5,bogus
expect_2 "--theta: '2' is given twice" --theta 2,0.5,2
expect_2 "--theta: names no threshold" --theta ,
expect_2 "--seeds: must be a whole number >= 0, not '-1'" --seeds 1,-1
expect_2 "--seeds: must be a whole number >= 0, not '1e3'" --seeds 1e3
expect_2 "--seeds: '1' is given twice" --seeds 1,01
expect_2 "--seeds: names no seed" --seeds ,
expect_2 "--fraction: " --fraction 0
expect_2 "--fraction: " --fraction 1.5
expect_2 "--fraction applies to --policy fedavg" --policy linear --fraction 0.5
expect_2 "--workers-per-rank applies to --transport mpi" --workers-per-rank 2
echo "fda-train sweep test passed"
