// SPDX-License-Identifier: Apache-2.0
// Must not compile: a worker without params(); fda::train names what is missing.
#include <fda/fda.hpp>

struct stepping_only {
  void step() {}
};

int main() {
  fda::local_cluster cluster(2);
  fda::train(cluster, [](std::size_t) { return stepping_only{}; }, fda::linear_fda{.theta = 1.0}, fda::mean{},
             {.max_steps = 1});
}
