// SPDX-License-Identifier: Apache-2.0
#pragma once
/// How a sync combines the workers' values of one parameter: the weighted mean, or an order
/// statistic (robust aggregation). An aggregator that wants an order statistic says so with
/// a member `fda::combine_rule combine_rule() const` (coordinate_median, trimmed_mean), read
/// by fda::aggregator_traits and fda::combine_rule_of (traits.hpp).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

namespace fda {

/// How the K values of one element become the aggregate: the weighted mean (trim < 0), or
/// an order statistic that a few wild workers cannot move (robust aggregation): the values
/// of the workers with a non-zero weight are sorted (NaN last) and v[drop, m − drop) is
/// averaged, m being their number and drop = ⌊trim · m⌋ (trimmed mean); trim ≥ 0.5 takes
/// the median (the middle value, or the mean of the middle two).
struct combine_rule {
  double trim = -1.0;  ///< < 0: the weighted mean; [0, 0.5): trimmed mean; >= 0.5: median

  /// True for the weighted mean (no order statistic).
  bool is_mean() const { return trim < 0.0; }
  /// The order statistic of the voters' values `v` (sorted in place, NaN last).
  double operator()(std::span<double> v) const {
    std::sort(v.begin(), v.end(), [](double a, double b) { return a < b || (!std::isnan(a) && std::isnan(b)); });
    const std::size_t m = v.size();
    if (trim >= 0.5) return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    const auto drop = std::size_t(trim * double(m));
    double s = 0.0;
    for (std::size_t i = drop; i < m - drop; ++i) s += v[i];
    return s / double(m - 2 * drop);
  }
};

namespace detail {
using fda::combine_rule;
}  // namespace detail

}  // namespace fda
