#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A downstream program built with nothing but pkg-config: finds the fda installed under
# PREFIX through PKG_CONFIG_PATH, compiles main.cpp with `pkg-config --cflags fda` and
# the standard the .pc file names, and runs it.
# usage: pkg_config.sh PKG_CONFIG CXX PREFIX main.cpp WORK_DIR EXPECTED_VERSION
set -euo pipefail
pkg_config=$1 cxx=$2 prefix=$3 source=$4 dir=$5 expected=$6
export PKG_CONFIG_PATH="$prefix/share/pkgconfig"
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
"$pkg_config" --exists --print-errors fda
version=$("$pkg_config" --modversion fda)
[ "$version" = "$expected" ] || { echo "FAIL: pkg-config says fda $version, the project is $expected" >&2; exit 1; }
cflags=$("$pkg_config" --cflags fda)
std=$("$pkg_config" --variable=cxxstd fda)
echo "fda $version: --cflags '$cflags', cxxstd '$std'"
# The headers must come from the prefix (and the prefix path must be the one we gave).
include=$("$pkg_config" --variable=includedir fda)
[ -f "$include/fda/version.hpp" ] || { echo "FAIL: no fda/version.hpp under includedir $include" >&2; exit 1; }
mkdir -p "$dir"
# shellcheck disable=SC2086  # cflags is a list of flags
"$cxx" -std="$std" $cflags -DFDA_EXPECTED_VERSION="\"$expected\"" "$source" -o "$dir/fda_consumer_pc"
"$dir/fda_consumer_pc"
