// SPDX-License-Identifier: Apache-2.0
// Must not compile: the MPI transport takes host parameters only (no CUDA-aware MPI path);
// fda::train over MPI says so in one static_assert line pointing to docs/gpu.md.
#include <fda/fda.hpp>
#include <fda/mpi.hpp>
#include <boost/mpi/environment.hpp>
#include <fda/thrust.hpp>

struct device_worker {
  thrust::device_vector<float> w = thrust::device_vector<float>(10);
  thrust::device_vector<float>& params() { return w; }
  void step() {}
};

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv);
  boost::mpi::communicator world;
  fda::mpi_comm comm(world);
  device_worker w;
  fda::train(comm, w, fda::linear_fda{.theta = 1.0}, fda::mean{}, {.max_steps = 1});
}
