#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fda-keys: writes the 2(K + 1) key files with their modes (secret 0600, public 0644, whatever
# the umask), refuses bad values with status 2, refuses to overwrite (status 1, naming the
# file, nothing written) unless --force.
# usage: fda_keys_cli.sh path/to/fda-keys work-dir
set -euo pipefail
bin=$1
dir=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"
keys=$dir/keys

umask 000  # the modes must not depend on it
"$bin" "$keys" --workers 3 > "$dir/out.txt" || fail "fda-keys $keys --workers 3 exited with $?"
umask 022
[ "$(stat -c %a "$keys")" = 700 ] || fail "the new key directory has mode $(stat -c %a "$keys"), not 700"
[ "$(find "$keys" -type f | wc -l)" -eq 8 ] || fail "expected 8 files: $(ls -l "$keys")"
for name in hub worker-0 worker-1 worker-2; do
  [ "$(stat -c %a "$keys/$name.key")" = 600 ] || fail "$name.key has mode $(stat -c %a "$keys/$name.key"), not 600"
  [ "$(stat -c %a "$keys/$name.pub")" = 644 ] || fail "$name.pub has mode $(stat -c %a "$keys/$name.pub"), not 644"
  for ext in key pub; do
    [ "$(grep -vc '^#' "$keys/$name.$ext")" -eq 1 ] || fail "$name.$ext does not hold exactly one key line"
    grep -v '^#' "$keys/$name.$ext" | grep -qE '^.{40}$' || fail "$name.$ext: the key is not 40 characters"
  done
  grep -q '^# fda CURVE secret key' "$keys/$name.key" || fail "$name.key lacks its comment line"
done
grep -q 'worker 2: .*worker-2.key, .*worker-2.pub and .*hub.pub' "$dir/out.txt" ||
  fail "no recipients: $(cat "$dir/out.txt")"
grep -q 'the hub: .*hub.key' "$dir/out.txt" || fail "the hub's files are not listed: $(cat "$dir/out.txt")"
"$bin" --help | grep -q 'worker-<r>.key' || fail "--help does not describe the files"

source "$(dirname "$0")/refusals.sh"
expect_2() { expect_refused "$1" "$bin" "${@:2}"; }  # rejected with status 2, the message naming $1
expect_2 fda-keys: "$dir/zero" --workers 0
expect_2 --workers "$dir/zero" --workers 0
expect_2 fda-keys: "$dir/abc" --workers abc
expect_2 --workers "$dir/abc" --workers abc
expect_2 --workers "$dir/big" --workers 100001
expect_2 fda-keys: --workers 2
[ ! -e "$dir/zero" ] && [ ! -e "$dir/abc" ] && [ ! -e "$dir/big" ] || fail "a refused command created its directory"

# A second run: refused (status 1), naming an existing file, the keys untouched; --force replaces them.
before=$(cat "$keys"/*.pub)
set +e
msg=$("$bin" "$keys" --workers 3 2>&1 >/dev/null)
status=$?
set -e
[ "$status" -eq 1 ] || fail "a second run exited with $status, not 1: $msg"
grep -qE "^fda-keys: .*$keys/(hub|worker-[0-9])\.(key|pub).*already exists" <<<"$msg" ||
  fail "did not name the file: $msg"
[ "$(cat "$keys"/*.pub)" = "$before" ] || fail "a refused run changed the keys"
"$bin" "$keys" --workers 3 --force > /dev/null || fail "--force exited with $?"
[ "$(cat "$keys"/*.pub)" != "$before" ] || fail "--force did not write new keys"
[ "$(stat -c %a "$keys/worker-1.key")" = 600 ] ||
  fail "--force: worker-1.key has mode $(stat -c %a "$keys/worker-1.key")"
echo "fda-keys CLI test passed"
