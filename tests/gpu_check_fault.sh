#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# gpu_check_fault.sh PROGRAM ARGS...: runs gpu_check with a fault injected (--inject-fault ...).
# Passes when the fault comes back as a failure the program reports: exit status 1 (not 0,
# not an abort or another signal), a 'result: FAIL (' line and the word 'injected'.
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 1 ]; then
  if [ "$rc" -gt 128 ]; then
    echo "gpu_check_fault: killed by signal $((rc - 128)) (exit status $rc), expected exit status 1"
  else
    echo "gpu_check_fault: exit status $rc, expected 1"
  fi
  exit 1
fi
printf '%s\n' "$out" | grep -q '^result: FAIL (' || { echo "gpu_check_fault: no 'result: FAIL (' line"; exit 1; }
printf '%s\n' "$out" | grep -q 'injected' || { echo "gpu_check_fault: the output does not say 'injected'"; exit 1; }
echo "gpu_check_fault: ok (exit status 1, the fault reported)"
