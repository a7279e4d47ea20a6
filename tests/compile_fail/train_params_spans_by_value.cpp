// SPDX-License-Identifier: Apache-2.0
// Must not compile: params() returns a temporary std::vector of spans (a model of several
// tensors, by value): fda::view refuses a temporary container, and fda::train says so first.
#include <fda/fda.hpp>

#include <span>
#include <vector>

struct tensors_worker {
  std::vector<float> a = std::vector<float>(4), b = std::vector<float>(3);
  std::vector<std::span<float>> params() { return {std::span<float>(a), std::span<float>(b)}; }
  void step() {}
};

int main() {
  fda::local_cluster cluster(2);
  fda::train(cluster, [](std::size_t) { return tensors_worker{}; }, fda::linear_fda{.theta = 1.0}, fda::mean{},
             {.max_steps = 1});
}
