#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fda-train over the ZeroMQ transport, as separate processes on 127.0.0.1: fda-keys, one
# fda-hub, K × fda-train --transport zmq. Checks, each bounded in time, every process
# cleaned up at the end:
#   identical   K = 2 (mean) and K = 4 (fedadam) over the hub equal fda-train -k K bit for bit
#               (linear, sketch, fedavg, synchronous; every JSON field but wall time)
#   refusals    a worker with an uninvited key and one claiming a taken rank are refused and
#               logged while the run completes; --insecure on one side only; a secret key
#               readable by others
#   loss        kill -9 of a worker mid-run: under fail every process exits non-zero naming
#               the rank; under exclude the others finish and rank 0 reports the loss
#   hub loss    kill -9 of the hub: every worker exits non-zero within the timeout naming the
#               hub; the job restarted with --resume equals the unbroken run
# Usage: fda_train_zmq.sh FDA_TRAIN FDA_HUB FDA_KEYS WORKDIR
set -euo pipefail
fda_train=$1 fda_hub=$2 fda_keys=$3 dir=$4
rm -rf "$dir" && mkdir -p "$dir"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$fda_keys" "$dir/keys" --workers 4 > /dev/null
"$fda_keys" "$dir/strangers" --workers 4 > /dev/null
cp "$dir/keys/hub.pub" "$dir/strangers/hub.pub"  # the right hub, uninvited worker keys

# start_hub NAME ARGS...: starts fda-hub on a free port; sets $endpoint and $hub_pid.
start_hub() {
  local name=$1; shift
  "$fda_hub" --bind 'tcp://127.0.0.1:*' --heartbeat-ms 200 "$@" 2> "$dir/$name.hub.log" &
  hub_pid=$!; pids+=("$hub_pid")
  for _ in $(seq 100); do
    endpoint=$(grep -o 'listening on tcp://[0-9.:]*' "$dir/$name.hub.log" | cut -d' ' -f3 || true)
    [ -n "$endpoint" ] && return 0
    sleep 0.1
  done
  echo "FAILED: fda-hub did not start"; cat "$dir/$name.hub.log"; exit 1
}

# start_worker NAME K R ARGS...: worker R of K (fda-train --transport zmq) against $endpoint.
start_worker() {
  local name=$1 k=$2 r=$3; shift 3
  "$fda_train" "$@" -k "$k" --transport zmq --hub "$endpoint" --rank "$r" --keys "$dir/keys" --heartbeat-ms 200 \
    > "$dir/$name.$r.out" 2> "$dir/$name.$r.err" &
  worker_pids+=($!); pids+=($!)
}

# start_workers NAME K ARGS...: the K workers.
start_workers() {
  local name=$1 k=$2; shift 2
  worker_pids=()
  for r in $(seq 0 $((k - 1))); do start_worker "$name" "$k" "$r" "$@"; done
}

# await FILE TEXT: waits (at most 60 s) until FILE contains TEXT.
await() {
  for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "FAILED: no '$2' in $1"; cat "$1"; exit 1
}

# wait_all: waits for the workers and the hub; sets $st to their statuses, "w0 w1 ... hub"
# (not in a $(...) subshell, which cannot wait for this shell's children).
wait_all() {
  local statuses=() s
  for p in "${worker_pids[@]}" "$hub_pid"; do
    s=0; wait "$p" || s=$?
    statuses+=("$s")
  done
  st="${statuses[*]}"
}

compare_json() {  # compare_json A B [KEYS]: every field but wall time and the transport's own, or KEYS
  /usr/bin/python3 - "$@" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
keys = sys.argv[3].split(",") if len(sys.argv) > 3 else None
bad = 0
for x, y in zip(a["policies"], b["policies"], strict=True):
    for key in keys or x:
        if key in ("wall_seconds", "bytes_sent_per_rank"):
            continue
        if x[key] != y[key]:
            print(f"DIFFERENT {x['policy']} {key}: {x[key]} vs {y[key]}")
            bad += 1
print(f"{len(a['policies'])} policies compared, {bad} differences")
sys.exit(1 if bad else 0)
PY
}

common=(--model mlp --policy linear,sketch,fedavg,synchronous --epochs 2 --train-subset 3000
        --partition dirichlet:0.5 --seed 7 --quiet)

# --- identical: the hub against the in-process cluster, K = 2 (mean) and K = 4 (fedadam)
for case in "2 mean" "4 fedadam"; do
  read -r k opt <<<"$case"
  "$fda_train" "${common[@]}" --server-opt "$opt" -k "$k" --json "$dir/local$k.json" > /dev/null
  start_hub "same$k" --workers "$k" --keys "$dir/keys"
  start_workers "same$k" "$k" "${common[@]}" --server-opt "$opt" --json "$dir/zmq$k.json"
  wait_all
  [ "$st" = "$(printf '0 %.0s' $(seq "$k"))0" ] || { echo "FAILED: statuses $st"; cat "$dir"/same$k.*; exit 1; }
  echo "K = $k, $opt: hub + $k workers against -k $k:"
  compare_json "$dir/local$k.json" "$dir/zmq$k.json"
  grep -q "bytes each rank sent to the hub" "$dir/same$k.0.out" || { echo "FAILED: no transport bytes"; exit 1; }
done

# --- refusals while a run waits for its last worker: an uninvited key, a taken rank
slow=(--model mlp --policy linear --epochs 1 --train-subset 6000 --seed 3 --quiet)
start_hub refuse --workers 2 --keys "$dir/keys"
worker_pids=()
start_worker refuse 2 0 "${slow[@]}" --json "$dir/refuse.json"
await "$dir/refuse.hub.log" "worker 0 joined"
s=0; timeout 120 "$fda_train" "${slow[@]}" -k 2 --transport zmq --hub "$endpoint" --rank 1 --keys "$dir/strangers" \
  > /dev/null 2> "$dir/stranger.err" || s=$?
[ "$s" = 1 ] && grep -q "refused this worker's key" "$dir/stranger.err" || { echo "FAILED: stranger ($s)"; cat "$dir/stranger.err"; exit 1; }
s=0; timeout 120 "$fda_train" "${slow[@]}" -k 2 --transport zmq --hub "$endpoint" --rank 0 --keys "$dir/keys" \
  > /dev/null 2> "$dir/taken.err" || s=$?
[ "$s" = 1 ] && grep -q "rank 0 is already taken" "$dir/taken.err" || { echo "FAILED: taken rank ($s)"; cat "$dir/taken.err"; exit 1; }
start_worker refuse 2 1 "${slow[@]}"
wait_all
[ "$st" = "0 0 0" ] || { echo "FAILED: the run was harmed: $st"; cat "$dir"/refuse.*; exit 1; }
grep -q "is not on the allow-list" "$dir/refuse.hub.log" && grep -q "already taken" "$dir/refuse.hub.log" \
  || { echo "FAILED: refusals not logged"; cat "$dir/refuse.hub.log"; exit 1; }
echo "refused and logged, the run completed: $(grep -m1 -o 'refused a connection from [^:]*' "$dir/refuse.hub.log")"

# --insecure on one side only
start_hub insecure --workers 1 --insecure
s=0; timeout 60 "$fda_train" "${slow[@]}" -k 1 --transport zmq --hub "$endpoint" --rank 0 --keys "$dir/keys" \
  > /dev/null 2> "$dir/insecure.err" || s=$?
[ "$s" = 1 ] && grep -q "CURVE handshake failed" "$dir/insecure.err" || { echo "FAILED: insecure hub ($s)"; cat "$dir/insecure.err"; exit 1; }
kill "$hub_pid"; wait "$hub_pid" || true
grep -q "WARNING: plaintext" "$dir/insecure.hub.log" || { echo "FAILED: no warning"; exit 1; }
echo "--insecure on the hub only: refused"

# a secret key that others may read
cp -r "$dir/keys" "$dir/open" && chmod 644 "$dir/open/worker-0.key"
s=0; "$fda_train" "${slow[@]}" -k 1 --transport zmq --hub tcp://127.0.0.1:1 --rank 0 --keys "$dir/open" \
  > /dev/null 2> "$dir/open.err" || s=$?
[ "$s" = 1 ] && grep -q "chmod 600" "$dir/open.err" || { echo "FAILED: open secret key ($s)"; cat "$dir/open.err"; exit 1; }
echo "a world-readable secret key: refused"

# --- kill -9 of worker 2 of 3 mid-run, under both loss policies
long=(--model mlp --policy synchronous --epochs 3 --train-subset 12000 --seed 5 --quiet)
for policy in fail exclude; do
  start_hub "kill-$policy" --workers 3 --keys "$dir/keys" --on-worker-loss "$policy"
  start_workers "kill-$policy" 3 "${long[@]}"
  await "$dir/kill-$policy.hub.log" "worker 2 joined"
  sleep 1
  kill -9 "${worker_pids[2]}"
  killed=$(date +%s.%N)
  wait_all
  took=$(/usr/bin/python3 -c "import time; print(f'{time.time() - $killed:.1f}')")
  read -r s0 s1 s2 sh <<<"$st"
  if [ "$policy" = fail ]; then
    [ "$s0" != 0 ] && [ "$s1" != 0 ] && [ "$sh" = 1 ] || { echo "FAILED: fail statuses $st"; cat "$dir"/kill-fail.*; exit 1; }
    grep -q "worker 2 (127.0.0.1) was lost at step" "$dir/kill-fail.0.err" || { cat "$dir/kill-fail.0.err"; exit 1; }
    /usr/bin/python3 -c "import sys; sys.exit(0 if $took < 10 else 1)" || { echo "FAILED: took $took s"; exit 1; }
    echo "kill -9 under fail: every process exited non-zero within $took s: $(head -c 200 "$dir/kill-fail.1.err")"
  else
    [ "$s0" = 0 ] && [ "$s1" = 0 ] && [ "$sh" = 0 ] || { echo "FAILED: exclude statuses $st"; cat "$dir"/kill-exclude.*; exit 1; }
    grep -q "worker 2 was lost after step" "$dir/kill-exclude.0.out" || { cat "$dir/kill-exclude.0.out"; exit 1; }
    echo "kill -9 under exclude: the others finished; $(grep -m1 -o 'worker 2 was lost after step [0-9]*' "$dir/kill-exclude.0.out")"
  fi
  grep "was lost at step" "$dir/kill-$policy.hub.log" | head -1
done

# --- the hub killed: the workers exit within the timeout (5 × 200 ms); the restarted job resumes
ck=(--model mlp --policy linear --server-opt fedadam --epochs 4 --train-subset 12000 --seed 9 --quiet)
"$fda_train" "${ck[@]}" -k 2 --json "$dir/unbroken.json" > /dev/null
start_hub hubkill --workers 2 --keys "$dir/keys"
start_workers hubkill 2 "${ck[@]}" --checkpoint "$dir/ckpt" --checkpoint-every 5
for _ in $(seq 600); do [ -f "$dir/ckpt" ] && break; sleep 0.05; done
kill -9 "$hub_pid"
gone=$(date +%s.%N)
for p in "${worker_pids[@]}"; do s=0; wait "$p" || s=$?; [ "$s" != 0 ] || { echo "FAILED: a worker exited 0 without its hub"; exit 1; }; done
took=$(/usr/bin/python3 -c "import time; print(f'{time.time() - $gone:.1f}')")
grep -q "heard nothing from the hub at" "$dir/hubkill.1.err" || { cat "$dir/hubkill.1.err"; exit 1; }
/usr/bin/python3 -c "import sys; sys.exit(0 if $took < 10 else 1)" || { echo "FAILED: took $took s"; exit 1; }
echo "hub killed: both workers exited non-zero within $took s: $(grep -o 'heard nothing from the hub at [^ ]*' "$dir/hubkill.1.err")"
start_hub resume --workers 2 --keys "$dir/keys"
start_workers resume 2 "${ck[@]}" --checkpoint "$dir/ckpt" --resume --json "$dir/resumed.json"
wait_all
[ "$st" = "0 0 0" ] || { echo "FAILED: resume statuses $st"; cat "$dir"/resume.*; exit 1; }
echo "resumed after the hub's loss, against the unbroken run:"
compare_json "$dir/unbroken.json" "$dir/resumed.json" steps,syncs,monitor_bytes,sync_bytes,final_theta,test_accuracy
