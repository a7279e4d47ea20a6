#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fda-train over MPI against the in-process cluster: with the same seed and settings,
# `mpirun -np K fda-train --transport mpi` and `fda-train -k K` must report the same
# steps, syncs, bytes, Θ and test accuracy for every policy (ordered reductions: bitwise).
# With PER_RANK N > 1, each rank runs N workers (--workers-per-rank, fda::mpi_cluster) and
# the job must equal `fda-train -k NP·N`, and so must the in-process worker pool
# (--worker-threads 2) and the ranks' workers on a pool of one thread (--worker-threads 1).
# Every run's measured bytes (bytes_sent_per_rank) are its own: the last policy run alone
# sends what it sent after the others.
# Usage: fda_train_mpi.sh FDA_TRAIN MPIEXEC NP WORKDIR [PER_RANK]
set -euo pipefail
fda_train=$1 mpiexec=$2 np=$3 dir=$4 per_rank=${5:-1}
k=$((np * per_rank))
mkdir -p "$dir"
# FDA_TRAIN_MODEL: the model options (default --model mlp; e.g. "--backend torch --model lenet5").
read -r -a model <<<"${FDA_TRAIN_MODEL:---model mlp}"
common=("${model[@]}" --server-opt fedadam --epochs 2 --train-subset 3000 --partition dirichlet:0.5 --seed 7 --quiet)
policies=(--policy linear,sketch,fedavg,synchronous)
mpi=("$mpiexec" --oversubscribe -np "$np" "$fda_train" "${common[@]}" --transport mpi)
[ "$per_rank" -gt 1 ] && mpi+=(--workers-per-rank "$per_rank")
"$fda_train" "${common[@]}" "${policies[@]}" -k "$k" --json "$dir/local.json" > "$dir/local.txt"
"${mpi[@]}" "${policies[@]}" --json "$dir/mpi.json" --csv "$dir/mpi.csv" > "$dir/mpi.txt"
cat "$dir/mpi.txt"
"${mpi[@]}" --policy synchronous --json "$dir/alone.json" > "$dir/alone.txt"
compared=("$dir/mpi.json")
if [ "$per_rank" -gt 1 ]; then
  "$fda_train" "${common[@]}" "${policies[@]}" -k "$k" --worker-threads 2 --json "$dir/pool.json" > "$dir/pool.txt"
  "${mpi[@]}" "${policies[@]}" --worker-threads 1 --json "$dir/mpi_pool.json" > "$dir/mpi_pool.txt"
  compared+=("$dir/pool.json" "$dir/mpi_pool.json")
fi
/usr/bin/python3 - "$np" "$dir/local.json" "$dir/alone.json" "${compared[@]}" <<'PY'
import json, sys
ranks = int(sys.argv[1])
local, alone = (json.load(open(f)) for f in sys.argv[2:4])
assert local["transport"] == "local"
bad = 0
for path in sys.argv[4:]:
    other = json.load(open(path))
    assert other["workers"] == local["workers"], (path, other["workers"])
    for a, b in zip(local["policies"], other["policies"], strict=True):
        for key in a:
            if key in ("wall_seconds", "bytes_sent_per_rank"):
                continue
            if a[key] != b[key]:
                print(f"DIFFERENT {path} {a['policy']} {key}: local {a[key]} here {b[key]}")
                bad += 1
        assert a["bytes_sent_per_rank"] == []
        if other["transport"] == "mpi":  # one entry per MPI rank, whatever the workers per rank
            assert len(b["bytes_sent_per_rank"]) == ranks and all(x > 0 for x in b["bytes_sent_per_rank"])
    print(f"{path}: {len(other['policies'])} policies compared with -k {local['workers']} in-process, {bad} differences")
# A run's measured bytes are its own, not the sum of the runs before it.
mpi = json.load(open(sys.argv[4]))
last, single = mpi["policies"][-1], alone["policies"][0]
assert last["policy"] == single["policy"], (last["policy"], single["policy"])
if last["bytes_sent_per_rank"] != single["bytes_sent_per_rank"]:
    print(f"DIFFERENT measured bytes of {last['policy']}: after other runs {last['bytes_sent_per_rank']}, "
          f"alone {single['bytes_sent_per_rank']}")
    bad += 1
sys.exit(1 if bad else 0)
PY
