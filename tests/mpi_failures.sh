#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs tests/mpi_failures.cpp's jobs under mpirun and checks that each ends, with a
# non-zero status and the expected message, well within 60 seconds.
# Usage: mpi_failures.sh MPIEXEC NP PROGRAM
set -uo pipefail
mpiexec=$1 np=$2 program=$3
status=0

run() {  # mode, expected text, expected count of that text (0: at least one)
  local mode=$1 text=$2 want=$3 out rc start elapsed n
  start=$(date +%s)
  out=$(timeout 90 "$mpiexec" --oversubscribe -np "$np" "$program" "$mode" 2>&1)
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  n=$(grep -c -- "$text" <<<"$out")
  echo "== $mode: exit $rc after ${elapsed}s, '$text' x$n"
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$elapsed" -ge 60 ] || [ "$n" -lt 1 ] ||
     { [ "$want" -gt 0 ] && [ "$n" -ne "$want" ]; }; then
    echo "FAILED: $mode"
    echo "$out" | tail -20
    status=1
  fi
}

run sizes "has 101 parameters but worker 0 has 100" "$np"
run throw "failed, aborting the MPI job: worker's step failed on purpose" 1
run exit "exit" 0
run cluster-sizes "has 101 parameters but worker 0 has 100" "$np"
run cluster-throw "of $((np * 3)) (MPI rank $((np - 1))) failed, aborting the MPI job: worker's step failed on purpose" 1
exit $status
