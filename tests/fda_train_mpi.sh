#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fda-train over MPI against the in-process cluster: with the same seed and settings,
# `mpirun -np K fda-train --transport mpi` and `fda-train -k K` must report the same
# steps, syncs, bytes, Θ and test accuracy for every policy (ordered reductions: bitwise).
# Usage: fda_train_mpi.sh FDA_TRAIN MPIEXEC NP WORKDIR
set -euo pipefail
fda_train=$1 mpiexec=$2 np=$3 dir=$4
mkdir -p "$dir"
# FDA_TRAIN_MODEL: the model options (default --model mlp; e.g. "--backend torch --model lenet5").
read -r -a model <<<"${FDA_TRAIN_MODEL:---model mlp}"
common=("${model[@]}" --policy linear,sketch,fedavg,synchronous --server-opt fedadam --epochs 2
        --train-subset 3000 --partition dirichlet:0.5 --seed 7 --quiet)
"$fda_train" "${common[@]}" -k "$np" --json "$dir/local.json" > "$dir/local.txt"
"$mpiexec" --oversubscribe -np "$np" "$fda_train" "${common[@]}" --transport mpi --json "$dir/mpi.json" \
  --csv "$dir/mpi.csv" > "$dir/mpi.txt"
cat "$dir/mpi.txt"
/usr/bin/python3 - "$dir/local.json" "$dir/mpi.json" <<'PY'
import json, sys
local, mpi = (json.load(open(f)) for f in sys.argv[1:3])
assert local["transport"] == "local" and mpi["transport"] == "mpi"
bad = 0
for a, b in zip(local["policies"], mpi["policies"], strict=True):
    for key in a:
        if key in ("wall_seconds", "bytes_sent_per_rank"):
            continue
        if a[key] != b[key]:
            print(f"DIFFERENT {a['policy']} {key}: local {a[key]} mpi {b[key]}")
            bad += 1
    assert a["bytes_sent_per_rank"] == [] and len(b["bytes_sent_per_rank"]) == mpi["workers"]
    assert all(x > 0 for x in b["bytes_sent_per_rank"])
print(f"{len(mpi['policies'])} policies compared, {bad} differences")
sys.exit(1 if bad else 0)
PY
