// SPDX-License-Identifier: Apache-2.0
// Linked through fda::mpi (Boost.MPI, MPI): compiled and linked; run only when asked
// (fda_consumer --mpi), since starting MPI is mpirun's business.
#include <fda/mpi.hpp>

#include <boost/mpi/environment.hpp>

int consumer_mpi(bool run) {
  if (!run) return 0;
  boost::mpi::environment env;
  boost::mpi::communicator world;
  const fda::mpi_comm comm(world);
  return comm.size() == std::size_t(world.size()) ? 0 : 1;
}
