#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The release packages, built and used as a Debian user would (no root: dpkg -x into a
# scratch root): cpack makes libfda-dev (architecture all) and, when the tools are built,
# fda-tools; a consumer project builds against the unpacked headers with find_package and
# with pkg-config; find_package(fda 0.2) accepts them and 9.0 and 0.1 are refused; the
# unpacked fda-bench and fda-train run, fda-train --plot through the installed plot.py;
# the source tarball holds the tree without build outputs.
# usage: package_deb.sh BUILD_DIR SOURCE_DIR CXX WORK_DIR VERSION
set -euo pipefail
build=$1 source=$2 cxx=$3 work=$4 version=$5
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/root"

(cd "$build" && cpack -B "$work/pkg" > "$work/cpack.log" 2>&1) || fail "cpack: $(tail -20 "$work/cpack.log")"
dev=$(ls "$work/pkg"/libfda-dev_"$version"-*_all.deb 2>/dev/null) || fail "no libfda-dev_${version}-*_all.deb in $(ls "$work/pkg")"
echo "built: $(cd "$work/pkg" && ls ./*.deb)"
[ "$(dpkg-deb -f "$dev" Architecture)" = all ] || fail "libfda-dev is not architecture all"
suggests=$(dpkg-deb -f "$dev" Suggests)
for p in libeigen3-dev libboost-mpi-dev libthrust-dev zlib1g-dev libtorch-dev cppzmq-dev; do
  grep -q "$p" <<<"$suggests" || fail "libfda-dev does not suggest $p: $suggests"
done
contents=$(dpkg-deb -c "$dev")
grep -q './usr/share/doc/fda/LICENSE' <<<"$contents" || fail "libfda-dev holds no LICENSE"
grep -q './usr/share/cmake/fda/fdaConfigVersion.cmake' <<<"$contents" || fail "libfda-dev holds no CMake version file"
dpkg -x "$dev" "$work/root"
prefix=$work/root/usr

# find_package, then pkg-config, against the unpacked package.
cmake -S "$source/tests/consumer" -B "$work/find_package" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" -DFDA_CONSUMER_ADAPTERS=eigen,idx > "$work/find_package.log" 2>&1 ||
  fail "configure against the package: $(tail -20 "$work/find_package.log")"
cmake --build "$work/find_package" >> "$work/find_package.log" 2>&1 || fail "build: $(tail -20 "$work/find_package.log")"
grep -q "fda $version found in $prefix/share/cmake/fda" "$work/find_package.log" || fail "find_package did not find the package's fda"
"$work/find_package/fda_consumer"
"$source/tests/consumer/pkg_config.sh" pkg-config "$cxx" "$prefix" "$source/tests/consumer/main.cpp" "$work/pc" "$version"

# Version requests: SameMinorVersion.
request() {  # $1: the version asked for
  cmake -S "$source/tests/package" -B "$work/request-$1" -DCMAKE_PREFIX_PATH="$prefix" -DFDA_REQUEST="$1" 2>&1
}
major_minor=${version%.*}
out=$(request "$major_minor") || fail "find_package(fda $major_minor) refused: $out"
grep -q "fda $version accepted for request $major_minor" <<<"$out" || fail "find_package(fda $major_minor): $out"
echo "ok: find_package(fda $major_minor) accepted fda $version"
for bad in 9.0 0.1; do
  out=$(request "$bad") && fail "find_package(fda $bad) accepted fda $version"
  flat=$(tr -s ' \n' '  ' <<<"$out")  # (CMake wraps its message)
  grep -q "compatible with requested version \"$bad\"" <<<"$flat" || fail "find_package(fda $bad): $out"
  echo "ok: find_package(fda $bad) refused"
done

# The tools, when packaged.
if tools=$(ls "$work/pkg"/fda-tools_"$version"-*.deb 2>/dev/null); then
  dpkg -x "$tools" "$work/root"
  "$prefix/bin/fda-bench" --policy linear --dim 1000 --min-time 0.01 > "$work/bench.txt" 2>&1 || fail "fda-bench: $(cat "$work/bench.txt")"
  grep -q '^linear' "$work/bench.txt" || fail "fda-bench printed no row: $(cat "$work/bench.txt")"
  if [ -x "$prefix/bin/fda-keys" ]; then  # the ZeroMQ tools, when built
    "$prefix/bin/fda-keys" "$work/keys" --workers 2 > /dev/null || fail "fda-keys did not run"
    [ -f "$work/keys/worker-1.key" ] || fail "fda-keys wrote no worker-1.key"
    "$prefix/bin/fda-hub" --help > /dev/null || fail "fda-hub --help did not run"
    echo "ok: fda-keys and fda-hub run"
  fi
  # The installed plot.py, marked so that its use shows (not the source tree's copy).
  sed -i 's/^import sys$/import sys\nopen(sys.argv[2] + ".installed-script", "w").close()/' "$prefix/share/fda/plot.py"
  if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    "$prefix/bin/fda-train" --model softmax -k 2 --epochs 1 --train-subset 200 --batch 10 --policy linear --quiet \
      --plot "$work/plot.png" > "$work/train.txt" 2>&1 || fail "fda-train: $(cat "$work/train.txt")"
    [ -s "$work/plot.png" ] && [ -f "$work/plot.png.installed-script" ] ||
      fail "fda-train --plot did not use the installed plot.py: $(cat "$work/train.txt")"
    echo "ok: fda-train --plot ran $prefix/share/fda/plot.py"
  else
    echo "note: no python3-matplotlib: fda-train --plot not tried"
  fi
else
  echo "note: fda-tools not built here (no fda-train): its package not tried"
fi

# The source tarball.
(cd "$build" && cpack --config CPackSourceConfig.cmake -B "$work/src" > "$work/cpack-source.log" 2>&1) ||
  fail "cpack source: $(tail -20 "$work/cpack-source.log")"
tarball=$work/src/fda-$version.tar.gz
[ -f "$tarball" ] || fail "no $tarball"
listing=$(tar -tzf "$tarball")
for f in LICENSE CHANGELOG.md CMakeLists.txt include/fda/fda.hpp scripts/test; do
  grep -qx "fda-$version/$f" <<<"$listing" || fail "the source tarball lacks $f"
done
if grep -qE "^fda-$version/(build|\.git|results)/" <<<"$listing"; then fail "the source tarball holds build outputs"; fi
echo "ok: $(basename "$tarball"), $(wc -l <<<"$listing") entries"
echo "package_deb: PASS"
