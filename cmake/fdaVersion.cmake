# SPDX-License-Identifier: Apache-2.0
# fda's version, read from its one source, include/fda/version.hpp.
#
# fda_read_version(<source dir> <out var>): sets <out var> to MAJOR.MINOR.PATCH from the
# FDA_VERSION_MAJOR/_MINOR/_PATCH macros, and fails when FDA_VERSION (the string) says
# otherwise or when CHANGELOG.md's latest released section ("## [X.Y.Z] - date", the first
# after "## [Unreleased]") names another version. Usable before project() and in -P scripts.
function(fda_read_version source_dir out_var)
  file(STRINGS "${source_dir}/include/fda/version.hpp" lines REGEX "^#define FDA_VERSION")
  foreach(part MAJOR MINOR PATCH)
    string(REGEX MATCH "#define FDA_VERSION_${part} ([0-9]+)" _ "${lines}")
    if(CMAKE_MATCH_1 STREQUAL "")
      message(FATAL_ERROR "include/fda/version.hpp defines no FDA_VERSION_${part}")
    endif()
    set(${part} "${CMAKE_MATCH_1}")
  endforeach()
  set(version "${MAJOR}.${MINOR}.${PATCH}")
  string(REGEX MATCH "#define FDA_VERSION \"([^\"]*)\"" _ "${lines}")
  if(NOT CMAKE_MATCH_1 STREQUAL version)
    message(FATAL_ERROR "include/fda/version.hpp: FDA_VERSION \"${CMAKE_MATCH_1}\" but FDA_VERSION_MAJOR/MINOR/PATCH "
                        "say ${version}: update them together")
  endif()
  set(changelog "${source_dir}/CHANGELOG.md")
  if(EXISTS "${changelog}")
    file(STRINGS "${changelog}" headings REGEX "^## \\[[0-9]+\\.[0-9]+\\.[0-9]+\\]")
    list(GET headings 0 latest)
    string(REGEX MATCH "^## \\[([0-9]+\\.[0-9]+\\.[0-9]+)\\]" _ "${latest}")
    if(NOT CMAKE_MATCH_1 STREQUAL version)
      message(FATAL_ERROR "CHANGELOG.md's latest released section is ${CMAKE_MATCH_1} but include/fda/version.hpp says "
                          "${version}: release with scripts/release VERSION, which updates both")
    endif()
  endif()
  set(${out_var} "${version}" PARENT_SCOPE)
endfunction()
