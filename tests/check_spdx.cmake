# SPDX-License-Identifier: Apache-2.0
# Every source file carries "SPDX-License-Identifier: Apache-2.0" in its first three lines
# (after a #! line), so that a new file cannot forget it: C++ and CUDA sources, CMake
# files, shell and Python scripts, and the extension-less scripts of scripts/ and .ci/.
# Documentation, data (fuzz corpora, results) and JSON are not sources.
# usage: cmake -DSOURCE_DIR=<fda's source tree> -P check_spdx.cmake
set(tag "SPDX-License-Identifier: Apache-2.0")
set(files "${SOURCE_DIR}/CMakeLists.txt")
foreach(dir include tests examples bench fuzz cmake)
  file(GLOB_RECURSE found LIST_DIRECTORIES false
       "${SOURCE_DIR}/${dir}/*.hpp" "${SOURCE_DIR}/${dir}/*.h" "${SOURCE_DIR}/${dir}/*.cpp" "${SOURCE_DIR}/${dir}/*.cu"
       "${SOURCE_DIR}/${dir}/*.cmake" "${SOURCE_DIR}/${dir}/*.in" "${SOURCE_DIR}/${dir}/CMakeLists.txt"
       "${SOURCE_DIR}/${dir}/*.sh" "${SOURCE_DIR}/${dir}/*.py")
  list(APPEND files ${found})
endforeach()
file(GLOB scripts LIST_DIRECTORIES false "${SOURCE_DIR}/scripts/*" "${SOURCE_DIR}/.ci/*")
list(APPEND files ${scripts})
set(missing "")
set(count 0)
foreach(f IN LISTS files)
  if(f MATCHES "/fuzz/corpus/|/tests/data/")
    continue()
  endif()
  file(STRINGS "${f}" head LIMIT_COUNT 3)
  math(EXPR count "${count} + 1")
  string(FIND "${head}" "${tag}" at)
  if(at EQUAL -1)
    file(RELATIVE_PATH rel "${SOURCE_DIR}" "${f}")
    string(APPEND missing "\n  ${rel}")
  endif()
endforeach()
if(count LESS 100)
  message(FATAL_ERROR "check_spdx: only ${count} source files found under ${SOURCE_DIR}: wrong SOURCE_DIR?")
endif()
if(missing)
  message(FATAL_ERROR "check_spdx: these files lack '${tag}' in their first three lines "
                      "(add '// ${tag}' or '# ${tag}' as the first line, after any #! line):${missing}")
endif()
message(STATUS "check_spdx: ${count} source files, each with '${tag}'")
