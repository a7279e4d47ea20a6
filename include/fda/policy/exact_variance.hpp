// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The oracle: Var = S1 - ||ū||² computed exactly from every worker's full drift u_k.
/// Local state 1 + d floats — for validation and experiments, never for deployment.
#include <string_view>

#include "../kernels.hpp"
#include "threshold_monitor.hpp"

namespace fda {

/// The oracle: sync when the exact Var = (1/K) Σ_k ||u_k||² - ||ū||² exceeds Θ. Every
/// check sends whole drifts (1 + d floats per worker): for validation and experiments.
struct exact_variance {
  static constexpr std::string_view name = "exact_variance";  ///< the policy's name in logs and errors
  threshold theta = adaptive{};  ///< Θ: a number (fixed) or fda::adaptive{} (the default: FDA-Opt's rule)
  /// The local state copies the drift into host memory element by element: fda::train
  /// refuses device parameters for this policy (docs/gpu.md).
  static constexpr bool host_memory_only = true;

  /// What a worker sends and how the summed states become a decision.
  struct estimator {
    /// Takes d from the run.
    estimator(const exact_variance&, const run_info& info) : dim(info.dim) {}
    std::size_t dim;  ///< d, parameters per worker
    /// 1 + d values per worker: ||u_k||² and u_k.
    std::size_t state_size() const { return 1 + dim; }
    /// 4·(1 + d) bytes in the cost model.
    std::size_t state_bytes() const { return 4 * (1 + dim); }
    /// "sq_norm" for value 0, "drift" for the others, for logs.
    const char* field_name(std::size_t i) const { return i == 0 ? "sq_norm" : "drift"; }
    /// Field 0, ||u_k||², can never be negative (a negative one is a faulty state).
    bool non_negative(std::size_t field) const { return field == 0; }
    /// out = {||u||², u} with u = w - w0.
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double) const {
      detail::require_same_size("fda::exact_variance", {"w", "w0"}, w, w0);
      double* u = out.data() + 1;
      detail::for_each_element([&u](auto a, auto b) { *u++ = double(a) - double(b); }, w, w0);
      out[0] = sq_norm(out.subspan(1));
    }
    /// H = s[0]/k - ||s[1..d]/k||² = Var exactly; sync when H > Θ.
    decision judge(std::span<const double> s, std::size_t k, double theta) const {
      const double inv = 1.0 / double(k);
      const double mean_sq = sq_norm(s.subspan(1)) * inv * inv;  // ||ū||²
      const double h = s[0] * inv - mean_sq;
      return {h > theta, h};
    }
    /// Nothing to update at a sync.
    template <class X, class Xp>
    void on_sync(const X&, const Xp&) {}
  };

  /// The monitor of a run with parameters of type T. Space is there for the protocol:
  /// host_memory_only makes fda::train refuse any space but the host's.
  template <class T, class Space = host_space>
  using monitor = threshold_monitor<exact_variance, estimator>;
};

}  // namespace fda
