// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Robust aggregation: per-element order statistics of the workers' models, which a few
/// faulty or hostile workers (huge values, flipped signs, NaN) cannot drag away.
///
///   coordinate_median   x_i ← median_k w_k,i
///   trimmed_mean{trim}  x_i ← mean of w_k,i after dropping the ⌊trim · K⌋ smallest and
///                       largest values (NaN counts as the largest)
/// Both ignore sample weights (a worker with weight 0, e.g. excluded for a bad local state,
/// does not vote). Each element costs a sort of K values: O(d · K log K) per sync instead of
/// O(d · K) for the mean. The ordered reduction makes them bit-identical across transports;
/// over MPI they always take that path.
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>

#include "combine_rule.hpp"
#include "../error.hpp"
#include "mean.hpp"

namespace fda {

/// The per-element median of the workers' models.
struct coordinate_median {
  static constexpr std::string_view name = "coordinate_median";  ///< in checkpoints' run record and logs
  /// "coordinate_median" (no settings).
  std::string describe() const { return std::string(name); }
  /// No server memory: the new global model is the median itself.
  template <class T>
  using state = detail::mean_state<T>;
  /// How the trainer combines the workers' values of an element.
  fda::combine_rule combine_rule() const { return {0.5}; }
};

/// The per-element mean after dropping the ⌊trim · K⌋ smallest and largest values.
struct trimmed_mean {
  static constexpr std::string_view name = "trimmed_mean";  ///< in checkpoints' run record and logs
  double trim = 0.1;  ///< fraction dropped at each end, in [0, 0.5)
  /// "trimmed_mean{trim=0.1}", trim in its shortest round-trip form.
  std::string describe() const { return detail::description(name)("trim", trim).str(); }

  /// No server memory; the constructor checks trim.
  template <class T>
  struct state : detail::mean_state<T> {
    /// Checks that trim is in [0, 0.5) (so finite).
    state(const trimmed_mean& config, std::size_t dim) : detail::mean_state<T>(config, dim) {
      if (!(config.trim >= 0.0 && config.trim < 0.5))
        detail::fail("fda::trimmed_mean: trim = ", config.trim, " is invalid: it must be in [0, 0.5)");
    }
  };
  /// How the trainer combines the workers' values of an element.
  fda::combine_rule combine_rule() const { return {trim}; }
};

}  // namespace fda
