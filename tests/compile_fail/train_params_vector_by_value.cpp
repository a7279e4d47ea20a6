// SPDX-License-Identifier: Apache-2.0
// Must not compile: params() returns its parameters as a std::vector by value, so the
// trainer's view would dangle; fda::train says so in its first error (not deep in fda::view).
#include <fda/fda.hpp>

#include <vector>

struct copying_worker {
  std::vector<float> w = std::vector<float>(4);
  std::vector<float> params() { return w; }
  void step() {}
};

int main() {
  fda::local_cluster cluster(2);
  fda::train(cluster, [](std::size_t) { return copying_worker{}; }, fda::linear_fda{.theta = 1.0}, fda::mean{},
             {.max_steps = 1});
}
