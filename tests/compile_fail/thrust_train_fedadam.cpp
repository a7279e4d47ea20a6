// SPDX-License-Identifier: Apache-2.0
// Must not compile: the server optimizers update host memory, so fda::train refuses them for
// device parameters with one static_assert line.
#include <fda/fda.hpp>
#include <fda/thrust.hpp>

struct device_worker {
  thrust::device_vector<float> w = thrust::device_vector<float>(10);
  thrust::device_vector<float>& params() { return w; }
  void step() {}
};

int main() {
  fda::local_cluster cluster(2);
  fda::train(cluster, [](std::size_t) { return device_worker{}; }, fda::linear_fda{.theta = 1.0}, fda::fedadam{},
             {.max_steps = 1});
}
