// SPDX-License-Identifier: Apache-2.0
// Must not compile: over MPI too, params() returning a std::vector by value is refused with
// fda::train's own first error (the view would dangle), not one deep inside fda::view.
#include <fda/fda.hpp>
#include <fda/mpi.hpp>
#include <boost/mpi/environment.hpp>

#include <vector>

struct copying_worker {
  std::vector<double> w = std::vector<double>(4);
  std::vector<double> params() { return w; }
  void step() {}
};

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv);
  boost::mpi::communicator world;
  fda::mpi_comm comm(world);
  copying_worker w;
  fda::train(comm, w, fda::linear_fda{.theta = 1.0}, fda::mean{}, {.max_steps = 1});
}
