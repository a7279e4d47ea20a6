# SPDX-License-Identifier: Apache-2.0
# Sourced by the tools' shell tests: expect_refused TEXT COMMAND...: COMMAND must exit with
# status 2 (a usage error) and say TEXT on stderr. Under `timeout`: a value wrongly taken
# would start a full run, which then fails the test quickly (status 124). Needs fail().
expect_refused() {
  local want=$1 msg status
  shift
  set +e
  msg=$(timeout 120 "$@" 2>&1 >/dev/null)
  status=$?
  set -e
  [ "$status" -eq 2 ] || fail "'$*' exited with $status, not 2: $msg"
  grep -qF -- "$want" <<<"$msg" || fail "'$*' did not say '$want': $msg"
  echo "ok, refused: $*"
}
