// SPDX-License-Identifier: Apache-2.0
// Must not compile: params() holds ints, which fda::view does not understand; fda::train says
// that the element type is not float or double, and how to teach fda::view a type.
#include <fda/fda.hpp>

#include <vector>

struct int_worker {
  std::vector<int> w = std::vector<int>(4);
  std::vector<int>& params() { return w; }
  void step() {}
};

int main() {
  fda::local_cluster cluster(2);
  fda::train(cluster, [](std::size_t) { return int_worker{}; }, fda::linear_fda{.theta = 1.0}, fda::mean{},
             {.max_steps = 1});
}
