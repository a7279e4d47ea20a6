// SPDX-License-Identifier: Apache-2.0
// Must not compile: a kernel given a device view and a host view would read device memory on
// the host; the host kernel's static_assert says so in one line.
#include <fda/thrust.hpp>

int main() {
  thrust::device_vector<float> w(10);
  std::vector<float> w0(10);
  return int(fda::sq_distance(w, w0));
}
