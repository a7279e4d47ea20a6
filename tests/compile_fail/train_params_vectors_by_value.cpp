// SPDX-License-Identifier: Apache-2.0
// Must not compile: params() returns a temporary std::vector of std::vectors (a model of
// several tensors that the temporary owns, by value): the view would dangle, and fda::train
// says so first. (A temporary vector of spans or of tensor handles is fine: it owns nothing.)
#include <fda/fda.hpp>

#include <vector>

struct tensors_worker {
  std::vector<float> a = std::vector<float>(4), b = std::vector<float>(3);
  std::vector<std::vector<float>> params() { return {a, b}; }
  void step() {}
};

int main() {
  fda::local_cluster cluster(2);
  fda::train(cluster, [](std::size_t) { return tensors_worker{}; }, fda::linear_fda{.theta = 1.0}, fda::mean{},
             {.max_steps = 1});
}
