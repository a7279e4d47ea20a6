#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fda-train --checkpoint/--resume: 2 epochs in one run and 1 epoch + a resume to 2 must
# report the same steps, syncs, bytes, Θ and test accuracy (the same final model).
# Usage: fda_train_resume.sh FDA_TRAIN WORKDIR [MPIEXEC NP]   (with MPIEXEC: over MPI)
set -euo pipefail
fda_train=$1 dir=$2
launch=()
[ $# -ge 4 ] && launch=("$3" --oversubscribe -np "$4")
extra=()
[ $# -ge 4 ] && extra=(--transport mpi) || extra=(-k 3)
mkdir -p "$dir"
# FDA_TRAIN_MODEL: the model options (default --model mlp; e.g. "--backend torch --model lenet5").
read -r -a model <<<"${FDA_TRAIN_MODEL:---model mlp}"
rm -f "$dir"/ckpt*
common=("${model[@]}" --policy linear,sketch --server-opt fedadam --client-opt adam --train-subset 2400
        --partition label:2 --seed 11 --quiet "${extra[@]}")
"${launch[@]}" "$fda_train" "${common[@]}" --epochs 2 --json "$dir/straight.json" > /dev/null
"${launch[@]}" "$fda_train" "${common[@]}" --epochs 1 --checkpoint "$dir/ckpt" > /dev/null
ls "$dir"/ckpt.linear+fedadam "$dir"/ckpt.sketch+fedadam > /dev/null
"${launch[@]}" "$fda_train" "${common[@]}" --epochs 2 --checkpoint "$dir/ckpt" --resume --json "$dir/resumed.json" > /dev/null
/usr/bin/python3 - "$dir/straight.json" "$dir/resumed.json" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
bad = 0
for x, y in zip(a["policies"], b["policies"], strict=True):
    for key in ("steps", "syncs", "monitor_bytes", "sync_bytes", "final_theta", "test_accuracy"):
        if x[key] != y[key]:
            print(f"DIFFERENT {x['policy']} {key}: straight {x[key]} resumed {y[key]}")
            bad += 1
print(f"{len(a['policies'])} policies: straight and resumed runs compared, {bad} differences")
sys.exit(1 if bad else 0)
PY
# A corrupt checkpoint is refused with a clear message and a non-zero status.
printf 'garbage' > "$dir/ckpt.linear+fedadam"
if "${launch[@]}" "$fda_train" "${common[@]}" --epochs 2 --checkpoint "$dir/ckpt" --resume > "$dir/bad.txt" 2>&1; then
  echo "FAILED: a corrupt checkpoint was accepted"; exit 1
fi
grep -q "not an fda checkpoint" "$dir/bad.txt" || { cat "$dir/bad.txt"; exit 1; }
echo "corrupt checkpoint refused: $(grep -m1 'not an fda checkpoint' "$dir/bad.txt")"
