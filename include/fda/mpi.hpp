// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The MPI transport (opt-in: needs Boost.MPI and an MPI library; link fda::mpi):
///   fda::mpi_comm      one worker per rank (fda/mpi/comm.hpp)
///   fda::mpi_cluster   several worker threads per rank, K = ranks · N (fda/mpi/cluster.hpp)
/// Both are bit-identical to the in-process cluster of the same K (docs/distributed.md).
#include "mpi/cluster.hpp"
#include "mpi/comm.hpp"
