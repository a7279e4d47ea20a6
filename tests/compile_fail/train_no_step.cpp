// SPDX-License-Identifier: Apache-2.0
// Must not compile: a worker without step(); fda::train names what is missing.
#include <fda/fda.hpp>

#include <vector>

struct params_only {
  std::vector<float> w = std::vector<float>(4);
  std::vector<float>& params() { return w; }
};

int main() {
  fda::local_cluster cluster(2);
  fda::train(cluster, [](std::size_t) { return params_only{}; }, fda::linear_fda{.theta = 1.0}, fda::mean{},
             {.max_steps = 1});
}
