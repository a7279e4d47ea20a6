// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Building blocks for a transport's average(), so that a transport written outside the
/// library averages as the in-process cluster and MPI do, bit for bit:
///
///   const std::vector<double> coeff = fda::averaging_coefficients(weights);  // rank order
///   const auto [lo, hi] = fda::share_of(d, k, rank);       // this rank's elements
///   fda::share_averager share(coeff, rule);
///   share.add(lo, hi, out, [&](std::size_t r, std::size_t from, std::size_t n, auto&& f) {
///     fda::for_each_run(model_of_worker[r], from, n, f);  // worker r's elements [from, from + n)
///   });
///   // share.finite(), share.spread(); fda::count_contributors(weights)
///
/// An error that every worker raises alike at the same point (a collective told them all)
/// is thrown as fda::error_everywhere<E>, so that fda::train need not end the job for it.
#include <cstddef>

#include "../detail/average_share.hpp"
#include "../detail/traverse.hpp"
#include "../error.hpp"
#include "average_stats.hpp"

namespace fda {

/// Calls f(j, p, len) for the contiguous runs of the view's elements [lo, lo + n): p points
/// at element lo + j, len elements long (what share_averager::add asks of each worker).
template <class View, class F>
void for_each_run(const View& view, std::size_t lo, std::size_t n, F&& f) {
  detail::for_each_run(view, lo, n, f);
}

/// An error of type E raised by every worker alike (fda::is_raised_everywhere is true for it).
template <class E>
using error_everywhere = detail::everywhere<E>;

}  // namespace fda
