// SPDX-License-Identifier: Apache-2.0
// Must not compile: exact_variance's monitor copies the drift through host memory, so
// fda::train refuses it for device parameters with one static_assert line.
#include <fda/fda.hpp>
#include <fda/thrust.hpp>

struct device_worker {
  thrust::device_vector<float> w = thrust::device_vector<float>(10);
  thrust::device_vector<float>& params() { return w; }
  void step() {}
};

int main() {
  fda::local_cluster cluster(2);
  fda::train(cluster, [](std::size_t) { return device_worker{}; }, fda::exact_variance{.theta = 1.0}, fda::mean{},
             {.max_steps = 1});
}
