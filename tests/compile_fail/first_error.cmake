# SPDX-License-Identifier: Apache-2.0
# cmake -DCOMPILE=<compiler;flags...> -DSOURCE=<file.cpp> -DEXPECT=<regex> -P first_error.cmake
# Compiles SOURCE with -fsyntax-only and passes when the compiler refuses it and its first
# error line matches EXPECT (so the message a user reads first is the one that explains).
execute_process(COMMAND ${COMPILE} -fsyntax-only ${SOURCE} RESULT_VARIABLE status
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(status EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
string(REGEX MATCH "[^\n]*error:[^\n]*" first "${out}${err}")
if(NOT first MATCHES "${EXPECT}")
  message(FATAL_ERROR "the first error of ${SOURCE} does not match '${EXPECT}':\n${first}\n\nfull output:\n${err}")
endif()
message(STATUS "first error: ${first}")
