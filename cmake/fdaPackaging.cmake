# SPDX-License-Identifier: Apache-2.0
# Packages, by CPack (`cpack` in the build tree; scripts/release runs it):
#   libfda-dev_<version>_all.deb     the headers, the CMake package, fda.pc, the docs
#   fda-tools_<version>_<arch>.deb   fda-train, fda-bench, fda-hub, fda-keys and the plot script (when built)
#   fda-<version>.tar.gz             the source tree (cpack --config CPackSourceConfig.cmake)
# Install components: dev (the library) and tools (examples/CMakeLists.txt).
set(CPACK_PACKAGE_NAME fda)
set(CPACK_PACKAGE_VENDOR "the fda authors")
set(CPACK_PACKAGE_CONTACT "fda maintainers <fda@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_GENERATOR DEB)  # (which installs under /usr, its default prefix)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL dev)
if(TARGET fda-train)
  list(APPEND CPACK_COMPONENTS_ALL tools)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <name>_<version>-<release>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libfda-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_ARCHITECTURE all)
# (CPack writes CPACK_PACKAGE_DESCRIPTION_SUMMARY as the synopsis, then these lines.)
set(CPACK_DEBIAN_DEV_DESCRIPTION "The header-only C++20 library: fda decides when the workers of a
distributed or federated training run must synchronize (FDA's variance monitoring;
FedAvg and FedOpt baselines) and does it. The core needs only the standard library;
the adapters (Eigen, Boost.MPI, Thrust, Google Benchmark, zlib) are opt-in headers
with their own CMake targets.")
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS
    "libeigen3-dev, libboost-mpi-dev, libthrust-dev, zlib1g-dev, libbenchmark-dev, libtorch-dev, cppzmq-dev")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME fda-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION science)
set(CPACK_DEBIAN_TOOLS_DESCRIPTION "The command-line tools.
fda-train: federated training on Fashion-MNIST comparing sync policies.
fda-bench: what a sync policy's monitoring costs at a given model size and K.
fda-hub: the coordinator of a federated run over ZeroMQ (CURVE-authenticated).
fda-keys: the CURVE key pairs of such a run.")
# The shared libraries the tools link, found by dpkg-shlibdeps (dpkg-dev), and what they
# use at run time: the dataset and matplotlib for --plot.
set(CPACK_DEBIAN_TOOLS_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_TOOLS_PACKAGE_RECOMMENDS "dataset-fashion-mnist, python3-matplotlib")

set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_PACKAGE_FILE_NAME "fda-${PROJECT_VERSION}")
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/\\\\.git$" "/build/" "/results/" "/\\\\.cache/" "__pycache__")
include(CPack)
