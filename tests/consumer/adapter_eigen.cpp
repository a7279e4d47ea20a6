// SPDX-License-Identifier: Apache-2.0
// Linked through fda::eigen: fda::view of an Eigen vector.
#include <fda/eigen.hpp>
#include <fda/kernels.hpp>

int consumer_eigen() {
  Eigen::VectorXf v(3);
  v << 1, 2, 2;
  return fda::sq_norm(v) == 9.0 ? 0 : 1;
}
