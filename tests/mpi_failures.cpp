// SPDX-License-Identifier: Apache-2.0
// A job in which one rank fails on purpose, for tests/mpi_failures.sh:
//   mpi_failures sizes   the last rank's model has one parameter more: every rank must
//                        report it and exit 2 (no hang)
//   mpi_failures throw   the last rank's worker throws at step 50: fda::train aborts the job
//   mpi_failures exit    the last rank's process exits at step 50 without a word: mpirun
//                        must end the job
//   mpi_failures cluster-sizes, cluster-throw   the same as sizes and throw with three
//                        workers per rank (fda::mpi_cluster), the last worker failing
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <fda/aggregate.hpp>
#include <fda/mpi.hpp>
#include <fda/policy.hpp>

namespace {
struct worker {
  std::vector<float> w;
  std::string fail;  // what this worker does at step 50
  std::size_t t = 0;
  std::vector<float>& params() { return w; }
  void step() {
    ++t;
    for (auto& x : w) x += 0.001f;
    if (t == 50 && fail == "throw") throw std::runtime_error("worker's step failed on purpose");
    if (t == 50 && fail == "exit") std::_Exit(3);
  }
};
}  // namespace

/// The cluster-* modes: three worker threads per rank, the run's last worker failing.
int run_cluster(const boost::mpi::communicator& world, const std::string& mode) {
  fda::mpi_cluster cluster(world, 3);
  const std::size_t last = cluster.size() - 1;
  auto make = [&](std::size_t r) {
    return worker{std::vector<float>(mode == "cluster-sizes" && r == last ? 101 : 100, 0.0f),
                  r == last ? mode.substr(8) : ""};
  };
  try {
    fda::train(cluster, make, fda::linear_fda{.theta = 1.0}, fda::mean{}, {.max_steps = 100000});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s\n", world.rank(), e.what());
    return 2;
  }
  return 0;
}

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::serialized);
  boost::mpi::communicator world;
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode.starts_with("cluster-")) return run_cluster(world, mode);
  const bool last = world.rank() == world.size() - 1;
  worker w{std::vector<float>(mode == "sizes" && last ? 101 : 100, 0.0f), last ? mode : ""};
  fda::mpi_comm comm(world);
  try {
    fda::train(comm, w, fda::linear_fda{.theta = 1.0}, fda::mean{}, {.max_steps = 100000});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s\n", world.rank(), e.what());
    return 2;
  }
  return 0;
}
