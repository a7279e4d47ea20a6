// SPDX-License-Identifier: Apache-2.0
// Linked through fda::thrust_omp: a device vector on Thrust's OpenMP back end.
#include <fda/thrust.hpp>

int consumer_thrust_omp() {
  const thrust::device_vector<float> w(3, 2.0f);
  return fda::sq_norm(w) == 12.0 ? 0 : 1;
}
