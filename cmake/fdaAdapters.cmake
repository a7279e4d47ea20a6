# SPDX-License-Identifier: Apache-2.0
# The targets of fda's opt-in adapters. Each one links fda::fda and what its header needs,
# and is defined only when that is found (a missing dependency leaves the target undefined
# and fails nothing):
#
#   fda::eigen        <fda/eigen.hpp>       Eigen3::Eigen (Eigen 3.4)
#   fda::idx          <fda/data/idx.hpp>    ZLIB::ZLIB
#   fda::mpi          <fda/mpi.hpp>         Boost::mpi (Boost 1.74+) and MPI::MPI_CXX
#   fda::benchmark    <fda/benchmark.hpp>   benchmark::benchmark (Google Benchmark)
#   fda::thrust_omp   <fda/thrust.hpp> on Thrust's OpenMP back end, with any C++20 compiler:
#                     the Thrust headers (a SYSTEM include directory),
#                     THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP, OpenMP::OpenMP_CXX
#   fda::torch        <fda/torch.hpp>       LibTorch (find_package(Torch): Debian's libtorch-dev
#                     1.13, or a LibTorch found through Torch_DIR / CMAKE_PREFIX_PATH); not
#                     looked for when FDA_TORCH is OFF (the sanitizer presets: LibTorch is not
#                     built with sanitizers)
#   fda::zmq          <fda/zmq.hpp>         cppzmq and libzmq 4.3+ with CURVE (Debian: cppzmq-dev,
#                     libzmq3-dev); a libzmq without CURVE still defines it (--insecure only)
#   fda::thrust_cuda  <fda/thrust.hpp> on Thrust's CUDA back end, for CUDA sources (nvcc finds
#                     Thrust by itself): THRUST_DEVICE_SYSTEM_CUDA and -std=c++20 (CMake 3.25
#                     has no C++20 flag for nvcc 13); defined when a CUDA compiler is found
#
# The Thrust headers: FDA_THRUST_INCLUDE_DIR when set, else the CUDA Toolkit's
# (<toolkit>/include/cccl since CUDA 13, <toolkit>/include before), else the system's
# (Debian 12: libthrust-dev, Thrust 1.17, in /usr/include). A Thrust older than 1.17 is not
# used.
#
# Used twice: by CMakeLists.txt in the build tree (plain INTERFACE libraries fda_<name> with
# ALIASes fda::<name>, visible to a project that adds fda as a subdirectory) and by the
# installed fdaConfig.cmake (IMPORTED INTERFACE targets). Both call
# fda_find_adapter_dependencies() then fda_add_adapter_targets(<BUILD|IMPORTED>).

# The oldest Thrust fda's headers are checked against (Debian 12's libthrust-dev): 1.17.
set(FDA_THRUST_MIN_VERSION 101700)

# Finds, quietly, what the adapters need (a dependency the project already found, as a
# target, is not searched again). A macro: in the build tree its variables (MPIEXEC_*,
# MPI_CXX_INCLUDE_DIRS, Boost_INCLUDE_DIRS) reach tests/, examples/ and bench/.
macro(fda_find_adapter_dependencies)
  get_property(_fda_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT TARGET Eigen3::Eigen)
    find_package(Eigen3 3.4 QUIET NO_MODULE)
  endif()
  if(NOT TARGET ZLIB::ZLIB)
    find_package(ZLIB QUIET)
  endif()
  if("CXX" IN_LIST _fda_languages)
    if(NOT TARGET MPI::MPI_CXX)
      find_package(MPI QUIET COMPONENTS CXX)
    endif()
    if(NOT TARGET OpenMP::OpenMP_CXX)
      find_package(OpenMP QUIET COMPONENTS CXX)
    endif()
  endif()
  if(NOT TARGET Boost::mpi)
    find_package(Boost 1.74 QUIET COMPONENTS mpi)
  endif()
  if(NOT TARGET benchmark::benchmark)
    find_package(benchmark QUIET)
  endif()
  if(NOT TARGET cppzmq)
    find_package(cppzmq QUIET)
  endif()
  if(NOT DEFINED FDA_TORCH OR FDA_TORCH)
    if(NOT TARGET torch AND "CXX" IN_LIST _fda_languages)
      find_package(Torch QUIET)
    endif()
  endif()
  # A CUDA compiler: the project's CUDA language, else nvcc (CUDACXX, CUDA_HOME, CUDA_PATH,
  # /usr/local/cuda, PATH).
  set(_fda_cudacxx_dir "")
  if(DEFINED ENV{CUDACXX})
    get_filename_component(_fda_cudacxx_dir "$ENV{CUDACXX}" DIRECTORY)
  endif()
  find_program(FDA_NVCC nvcc HINTS ${_fda_cudacxx_dir} ENV CUDA_HOME ENV CUDA_PATH PATH_SUFFIXES bin
               PATHS /usr/local/cuda/bin DOC "nvcc, for fda::thrust_cuda and the CUDA tests")
  # Thrust: the CUDA Toolkit's first, then the system's.
  set(FDA_THRUST_INCLUDE_DIR "" CACHE PATH
      "Thrust's include directory for fda::thrust_omp (empty: the CUDA Toolkit's, else the system's)")
  set(_fda_toolkit_dirs "")
  foreach(_fda_compiler IN ITEMS "${CMAKE_CUDA_COMPILER}" "${FDA_NVCC}")
    if(_fda_compiler)
      get_filename_component(_fda_dir "${_fda_compiler}" DIRECTORY)
      get_filename_component(_fda_dir "${_fda_dir}" DIRECTORY)
      list(APPEND _fda_toolkit_dirs "${_fda_dir}")
    endif()
  endforeach()
  find_path(FDA_THRUST_TOOLKIT_INCLUDE_DIR thrust/version.h
    HINTS ${_fda_toolkit_dirs} ENV CUDA_HOME ENV CUDA_PATH PATH_SUFFIXES include/cccl include
    PATHS /usr/local/cuda NO_DEFAULT_PATH DOC "The CUDA Toolkit's Thrust headers (CCCL)")
  find_path(FDA_THRUST_SYSTEM_INCLUDE_DIR thrust/version.h
    DOC "The system's Thrust headers (Debian: libthrust-dev)")
  set(FDA_THRUST_DIR "")       # what fda::thrust_omp uses
  set(FDA_THRUST_VERSION "")   # its THRUST_VERSION (MMMmmmpp)
  set(FDA_THRUST_WHY "")       # why there is none, or why a Thrust found is not used
  set(_fda_thrust_why "")
  if(FDA_THRUST_INCLUDE_DIR)
    set(_fda_candidates "${FDA_THRUST_INCLUDE_DIR}")
  else()
    set(_fda_candidates "")
    foreach(_fda_dir IN ITEMS "${FDA_THRUST_TOOLKIT_INCLUDE_DIR}" "${FDA_THRUST_SYSTEM_INCLUDE_DIR}")
      if(_fda_dir AND NOT _fda_dir IN_LIST _fda_candidates)
        list(APPEND _fda_candidates "${_fda_dir}")
      endif()
    endforeach()
  endif()
  foreach(_fda_dir IN LISTS _fda_candidates)
    set(_fda_version "")
    if(EXISTS "${_fda_dir}/thrust/version.h")
      file(STRINGS "${_fda_dir}/thrust/version.h" _fda_version REGEX "^#define[ \t]+THRUST_VERSION[ \t]+[0-9]+")
      string(REGEX REPLACE "^#define[ \t]+THRUST_VERSION[ \t]+([0-9]+).*" "\\1" _fda_version "${_fda_version}")
    endif()
    if(NOT _fda_version)
      list(APPEND _fda_thrust_why "${_fda_dir} holds no thrust/version.h")
    elseif(_fda_version LESS FDA_THRUST_MIN_VERSION)
      list(APPEND _fda_thrust_why "the Thrust in ${_fda_dir} (THRUST_VERSION ${_fda_version}) is older than 1.17")
    elseif(NOT FDA_THRUST_DIR)
      set(FDA_THRUST_DIR "${_fda_dir}")
      set(FDA_THRUST_VERSION "${_fda_version}")
    endif()
  endforeach()
  if(NOT FDA_THRUST_DIR)
    list(APPEND _fda_thrust_why "no Thrust 1.17+ headers found (Debian: libthrust-dev, or the CUDA Toolkit)")
    list(JOIN _fda_thrust_why ", " FDA_THRUST_WHY)  # (no ';': the reason goes into test commands)
  endif()
endmacro()

# fda_add_adapter_targets(BUILD|IMPORTED): defines the targets whose dependencies
# fda_find_adapter_dependencies() found. Sets, in the caller's scope, fda_<name>_FOUND and,
# for each missing one, fda_<name>_WHY (what is missing and which Debian package has it).
function(fda_add_adapter_targets mode)
  set(names eigen idx mpi benchmark torch zmq thrust_omp thrust_cuda)
  set(why_eigen "Eigen 3.4 not found (Debian: libeigen3-dev)")
  set(why_idx "zlib not found (Debian: zlib1g-dev)")
  set(why_mpi "Boost.MPI 1.74+ or MPI not found (Debian: libboost-mpi-dev openmpi-bin)")
  set(why_benchmark "Google Benchmark not found (Debian: libbenchmark-dev)")
  if(DEFINED FDA_TORCH AND NOT FDA_TORCH)
    set(why_torch "FDA_TORCH is OFF (LibTorch not looked for)")
  else()
    set(why_torch "LibTorch not found (Debian: libtorch-dev; or set Torch_DIR)")
  endif()
  set(why_zmq "cppzmq or libzmq not found (Debian: cppzmq-dev libzmq3-dev)")
  set(why_thrust_omp "${FDA_THRUST_WHY}")
  if(NOT TARGET OpenMP::OpenMP_CXX)
    set(why_omp "OpenMP not found for the C++ compiler (GCC: libgomp, part of g++. clang: libomp-dev)")
    if(FDA_THRUST_DIR)
      set(why_thrust_omp "${why_omp}")
    else()
      string(APPEND why_thrust_omp ", and ${why_omp}")
    endif()
  endif()
  set(why_thrust_cuda "no CUDA compiler (nvcc: install the CUDA Toolkit, or set CUDA_HOME or CUDACXX)")

  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  set(have_eigen FALSE)
  set(have_idx FALSE)
  set(have_mpi FALSE)
  set(have_benchmark FALSE)
  set(have_torch FALSE)
  set(have_zmq FALSE)
  set(have_thrust_omp FALSE)
  set(have_thrust_cuda FALSE)
  if(TARGET Eigen3::Eigen)
    set(have_eigen TRUE)
  endif()
  if(TARGET ZLIB::ZLIB)
    set(have_idx TRUE)
  endif()
  if(TARGET Boost::mpi AND TARGET MPI::MPI_CXX)
    set(have_mpi TRUE)
  endif()
  if(TARGET benchmark::benchmark)
    set(have_benchmark TRUE)
  endif()
  if(TARGET torch AND (NOT DEFINED FDA_TORCH OR FDA_TORCH))
    set(have_torch TRUE)
  endif()
  if(TARGET cppzmq)
    set(have_zmq TRUE)
  endif()
  if(FDA_THRUST_DIR AND TARGET OpenMP::OpenMP_CXX)
    set(have_thrust_omp TRUE)
  endif()
  if("CUDA" IN_LIST languages OR CMAKE_CUDA_COMPILER OR FDA_NVCC)
    set(have_thrust_cuda TRUE)
  endif()

  foreach(name IN LISTS names)
    set(fda_${name}_FOUND ${have_${name}} PARENT_SCOPE)
    if(NOT have_${name})
      set(fda_${name}_WHY "${why_${name}}" PARENT_SCOPE)
      continue()
    endif()
    unset(fda_${name}_WHY PARENT_SCOPE)
    if(TARGET fda::${name})
      continue()
    endif()
    if(mode STREQUAL "BUILD")
      set(target fda_${name})
      add_library(${target} INTERFACE)
      add_library(fda::${name} ALIAS ${target})
      target_link_libraries(${target} INTERFACE fda::fda)
    else()
      set(target fda::${name})
      add_library(${target} INTERFACE IMPORTED)
      target_link_libraries(${target} INTERFACE fda::fda)
    endif()
    if(name STREQUAL "eigen")
      target_link_libraries(${target} INTERFACE Eigen3::Eigen)
    elseif(name STREQUAL "idx")
      target_link_libraries(${target} INTERFACE ZLIB::ZLIB)
    elseif(name STREQUAL "mpi")
      target_link_libraries(${target} INTERFACE Boost::mpi MPI::MPI_CXX)
    elseif(name STREQUAL "benchmark")
      target_link_libraries(${target} INTERFACE benchmark::benchmark)
    elseif(name STREQUAL "torch")
      # TORCH_LIBRARIES: the torch target and what it needs (c10); its include directories
      # come as SYSTEM (an imported target's), so fda's -Werror does not judge LibTorch.
      if(TORCH_LIBRARIES)
        target_link_libraries(${target} INTERFACE ${TORCH_LIBRARIES})
      else()  # Torch found by the enclosing project, whose variables this scope does not see
        target_link_libraries(${target} INTERFACE torch)
      endif()
    elseif(name STREQUAL "zmq")
      target_link_libraries(${target} INTERFACE cppzmq)
    elseif(name STREQUAL "thrust_omp")
      # (A directory the compiler searches anyway, such as /usr/include, is left off the
      # command line: -isystem /usr/include would break libstdc++'s #include_next.)
      target_include_directories(${target} SYSTEM INTERFACE "${FDA_THRUST_DIR}")
      target_compile_definitions(${target} INTERFACE THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP)
      target_link_libraries(${target} INTERFACE OpenMP::OpenMP_CXX)
    elseif(name STREQUAL "thrust_cuda")
      # For CUDA sources only; -ffp-contract=off keeps the host compiler (GCC, clang) from
      # fusing a*b + c, as fda::fda does for C++ sources.
      target_compile_definitions(${target} INTERFACE
        $<$<COMPILE_LANGUAGE:CUDA>:THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_CUDA>)
      target_compile_options(${target} INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>
        $<$<COMPILE_LANG_AND_ID:CUDA,NVIDIA>:-Xcompiler=-ffp-contract=off>)
    endif()
  endforeach()
endfunction()
