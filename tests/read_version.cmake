# SPDX-License-Identifier: Apache-2.0
# Prints "fda version X.Y.Z" for the tree SOURCE_DIR, or fails as configuring would
# (cmake/fdaVersion.cmake: include/fda/version.hpp against CHANGELOG.md).
# usage: cmake -DSOURCE_DIR=<tree> -DFDA_CMAKE_DIR=<fda's cmake/> -P read_version.cmake
include("${FDA_CMAKE_DIR}/fdaVersion.cmake")
fda_read_version("${SOURCE_DIR}" version)
message(STATUS "fda version ${version}")
