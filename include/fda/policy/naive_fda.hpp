// SPDX-License-Identifier: Apache-2.0
#pragma once
/// NaiveFDA: H = S1 = (1/K) Σ_k ||u_k||² ≥ Var, since Var = S1 - ||ū||² (docs/algorithm.md: Estimators).
/// Local state: ||u_k||², one float.
#include <string_view>

#include "../kernels.hpp"
#include "threshold_monitor.hpp"

namespace fda {

/// NaiveFDA: sync when H = (1/K) Σ_k ||u_k||² > Θ; an upper bound of Var that drops ||ū||².
struct naive_fda {
  static constexpr std::string_view name = "naive_fda";  ///< the policy's name in logs and errors
  threshold theta = adaptive{};  ///< Θ: a number (fixed) or fda::adaptive{} (the default: FDA-Opt's rule)

  /// What a worker sends and how the summed states become a decision.
  struct estimator {
    /// Nothing to set up.
    estimator(const naive_fda&, const run_info&) {}
    /// One value per worker: ||u_k||².
    std::size_t state_size() const { return 1; }
    /// 4 bytes (one float) in the cost model.
    std::size_t state_bytes() const { return 4; }
    /// "sq_norm", for logs.
    const char* field_name(std::size_t) const { return "sq_norm"; }
    /// Field 0, ||u_k||², can never be negative (a negative one is a faulty state).
    bool non_negative(std::size_t field) const { return field == 0; }
    /// out[0] = ||w - w0||².
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double) const {
      out[0] = sq_distance(w, w0);
    }
    /// H = s[0] / k from the state summed over k workers; sync when H > Θ.
    decision judge(std::span<const double> s, std::size_t k, double theta) const {
      const double h = s[0] / double(k);
      return {h > theta, h};
    }
    /// Nothing to update at a sync.
    template <class X, class Xp>
    void on_sync(const X&, const Xp&) {}
  };

  /// The monitor of a run with parameters of type T in memory space Space (the kernels
  /// dispatch on the views' space; the estimator keeps no per-parameter vector).
  template <class T, class Space = host_space>
  using monitor = threshold_monitor<naive_fda, estimator>;
};

}  // namespace fda
