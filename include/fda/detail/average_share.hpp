// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The averaging kernel every transport runs on its share of the elements (public through
/// <fda/comm/averaging.hpp>, for transports written outside the library).
///
/// The K workers' models are averaged element by element in double, adding the workers in
/// rank order 0, 1, ..., K-1; a transport splits the d elements into K shares
/// (share_of) and each rank averages its own. Doing this with the same code, the same share
/// boundaries and the same blocks on every transport is what makes the in-process cluster
/// and MPI agree bit for bit.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "../aggregate/combine_rule.hpp"
#include "traverse.hpp"

namespace fda {

/// [begin, end) of the elements rank r handles when n elements are split over k ranks.
inline std::pair<std::size_t, std::size_t> share_of(std::size_t n, std::size_t k, std::size_t r) {
  return {n * r / k, n * (r + 1) / k};
}

/// coeff[r] = weight[r] / Σ weights, the sum taken in rank order.
inline std::vector<double> averaging_coefficients(std::span<const double> weights) {
  double total = 0.0;
  for (double w : weights) total += w;
  std::vector<double> coeff(weights.size());
  for (std::size_t r = 0; r < weights.size(); ++r) coeff[r] = weights[r] / total;
  return coeff;
}

/// Averages one share, a block at a time, and keeps two sums over it: a finiteness probe
/// (Σ x·0: NaN iff some average is not finite) and the workers' spread about the average,
/// Σ_k ||w_k − avg||², computed while the block is in cache. Workers of weight 0 (left out)
/// take part in neither. Both use lanes
/// (blocked_sum), so neither is a serial chain of additions.
///
/// The share may be fed in consecutive pieces (MPI receives it in chunks); a piece must
/// start at a block boundary counted from the share's beginning, so that the blocks, and
/// with them every rounding, are those of one pass over the whole share.
class share_averager {
 public:
  /// An averager with coefficients coeff[r] (averaging_coefficients of the weights) and
  /// `rule` (the mean, or an order statistic of the workers of non-zero coefficient).
  explicit share_averager(std::vector<double> coeff, combine_rule rule = {})
      : owned_(std::move(coeff)), coeff_(owned_), rule_(rule) {
    find_voters();
  }
  /// The same, borrowing the k coefficients at coeff (they must outlive the averager): with
  /// many workers, ranks that share one table need not copy K coefficients each.
  share_averager(const double* coeff, std::size_t k, combine_rule rule) : coeff_(coeff, k), rule_(rule) {
    find_voters();
  }
  share_averager(const share_averager&) = delete;  // (coeff_ may point into owned_)
  share_averager& operator=(const share_averager&) = delete;

  /// Averages elements [lo, hi) into out[lo, hi). worker_runs(r, lo, n, f) must call
  /// f(j, p, len) for the contiguous runs of worker r's elements [lo, lo + n): p points at
  /// element lo + j, len elements long.
  template <class U, class Runs>
  void add(std::size_t lo, std::size_t hi, std::span<U> out, Runs&& worker_runs) {
    auto zero_if_finite = [](auto& a, std::size_t l, double x) { a[0][l] += x * 0.0; };
    auto squared_gap = [](auto& a, std::size_t l, auto x, double m) {
      const double u = double(x) - m;
      a[0][l] += u * u;
    };
    for (; lo < hi; lo += detail::block) {
      const std::size_t n = std::min(detail::block, hi - lo);
      if (rule_.is_mean()) {
        std::fill(acc_, acc_ + n, 0.0);
        for (std::size_t r = 0; r < coeff_.size(); ++r) {
          const double c = coeff_[r];
          if (c == 0.0) continue;  // a worker left out (weight 0) may hold anything, even NaN
          worker_runs(r, lo, n, [&](std::size_t j, const auto* p, std::size_t len) {
            for (std::size_t i = 0; i < len; ++i) acc_[j + i] += c * double(p[i]);
          });
        }
      } else {  // the voters' values of the block, then one order statistic per element
        for (std::size_t v = 0; v < voters_.size(); ++v)
          worker_runs(voters_[v], lo, n, [&](std::size_t j, const auto* p, std::size_t len) {
            for (std::size_t i = 0; i < len; ++i) values_[v * detail::block + j + i] = double(p[i]);
          });
        for (std::size_t i = 0; i < n; ++i) {
          for (std::size_t v = 0; v < voters_.size(); ++v) column_[v] = values_[v * detail::block + i];
          acc_[i] = rule_(column_);
        }
      }
      for (std::size_t i = 0; i < n; ++i) {
        out[lo + i] = U(acc_[i]);
        acc_[i] = double(out[lo + i]);  // the spread is about the average as stored
      }
      probe_.add_piece(0, n, zero_if_finite, static_cast<const double*>(acc_));
      for (std::size_t r = 0; r < coeff_.size(); ++r)
        if (coeff_[r] != 0.0)
          worker_runs(r, lo, n, [&](std::size_t j, const auto* p, std::size_t len) {
            spread_.add_piece(j, len, squared_gap, p, static_cast<const double*>(acc_ + j));
          });
      probe_.end_piece(1, 1);
      spread_.end_piece(1, 1);
    }
  }

  /// True when every element averaged so far is finite.
  bool finite() const { return probe_.total[0] == 0.0; }
  /// Σ_k ||w_k − avg||² over the elements averaged so far and the workers of non-zero weight.
  double spread() const { return spread_.total[0]; }

 private:
  void find_voters() {
    if (rule_.is_mean()) return;
    for (std::size_t r = 0; r < coeff_.size(); ++r)
      if (coeff_[r] > 0.0) voters_.push_back(r);
    values_.resize(voters_.size() * detail::block);
    column_.resize(voters_.size());
  }

  std::vector<double> owned_;
  std::span<const double> coeff_;
  combine_rule rule_;
  std::vector<std::size_t> voters_;  // order rules: the workers with a non-zero weight
  std::vector<double> values_, column_;
  double acc_[detail::block];
  detail::blocked_sum<1> probe_, spread_;
};

namespace detail {
using fda::averaging_coefficients;
using fda::share_averager;
using fda::share_of;
}  // namespace detail

}  // namespace fda
