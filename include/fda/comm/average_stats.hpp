// SPDX-License-Identifier: Apache-2.0
#pragma once
/// What a transport's average() reports besides the average itself.
#include <algorithm>
#include <cstddef>
#include <span>

namespace fda {

/// What comm.average() reports besides the average itself.
struct average_stats {
  bool finite = true;   ///< every element of the average is finite
  double spread = 0.0;  ///< Σ_k ||w_k − average||² over the workers the average took
  std::size_t contributors = 0;  ///< the workers the average took: those of non-zero weight
};

/// The number of workers with a non-zero weight, which an average takes.
inline std::size_t count_contributors(std::span<const double> weights) {
  return std::size_t(std::count_if(weights.begin(), weights.end(), [](double w) { return w != 0.0; }));
}

namespace detail {
using fda::count_contributors;
}  // namespace detail

}  // namespace fda
