// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda: Federated Dynamic Averaging. The core umbrella: views, kernels, the AMS sketch,
/// every sync policy and threshold, every server aggregator, the communicator concept, the
/// in-process cluster, the simulated network and fda::train. <fda/testing.hpp> (the
/// conformance suite for plug-ins) is included separately. Standard library only (CMake target fda::fda, which links nothing).
///
/// The opt-in adapters are separate headers, each with the CMake target that adds its
/// dependency (defined when that dependency is found; README.md, "Use from CMake"):
///   <fda/eigen.hpp>       Eigen parameters                     fda::eigen (Eigen3::Eigen)
///   <fda/data/idx.hpp>    IDX data sets, gzip or plain         fda::idx (ZLIB::ZLIB)
///   <fda/mpi.hpp>         one worker per MPI rank (Boost.MPI)  fda::mpi (Boost::mpi, MPI::MPI_CXX)
///   <fda/thrust.hpp>      parameters in device memory          fda::thrust_omp (Thrust's OpenMP
///                         back end, any C++20 compiler) or fda::thrust_cuda (CUDA sources, nvcc)
#include "aggregate.hpp"
#include "error.hpp"
#include "kernels.hpp"
#include "params.hpp"
#include "policy.hpp"
#include "sketch.hpp"
#include "threshold.hpp"
#include "version.hpp"
#include "callbacks.hpp"
#include "comm/averaging.hpp"
#include "comm/communicator.hpp"
#include "comm/local_cluster.hpp"
#include "comm/simulated_network.hpp"
#include "options.hpp"
#include "train.hpp"
#include "worker.hpp"
