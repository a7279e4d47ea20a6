// SPDX-License-Identifier: Apache-2.0
// Must not compile: a callback whose on_epoch takes fda::epoch_info<double>& on float workers
// would never be called (the trainer passes fda::epoch_info<float>&); fda::train says so.
#include <fda/fda.hpp>

#include <vector>

struct float_worker {
  std::vector<float> w = std::vector<float>(4);
  std::vector<float>& params() { return w; }
  void step() {}
};

struct epoch_counter {
  int epochs = 0;
  void on_epoch(fda::epoch_info<double>&) { ++epochs; }
};

int main() {
  fda::local_cluster cluster(2);
  epoch_counter counter;
  fda::train(cluster, [](std::size_t) { return float_worker{}; }, fda::linear_fda{.theta = 1.0}, fda::mean{},
             {.max_steps = 4, .steps_per_epoch = 2}, counter);
  return counter.epochs;
}
