// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Max-drift ("geometric monitoring", Kamp et al. 2018), a baseline: each worker checks
/// its own ||u_k||² > Θ; the round ends when any worker violates. Local state: one flag
/// (counted as 1 byte); summed, it is the number of violators.
#include <cmath>
#include <string_view>

#include "../kernels.hpp"
#include "threshold_monitor.hpp"

namespace fda {

/// Max-drift (Kamp et al. 2018), a baseline: sync as soon as one worker's own drift
/// ||u_k||² exceeds Θ. Bounds each worker's drift, not the variance.
struct max_drift {
  static constexpr std::string_view name = "max_drift";  ///< the policy's name in logs and errors
  threshold theta = adaptive{};  ///< Θ: a number (fixed) or fda::adaptive{} (the default: FDA-Opt's rule)
  /// An adaptive Θ calibrates on what this policy compares with Θ: the largest ||u_k||² at
  /// each sync (it also holds the common drift ||ū||², so Var would set Θ far too low).
  static constexpr calibration calibrates_on = calibration::max_sq_drift;

  /// What a worker sends and how the summed states become a decision.
  struct estimator {
    /// Nothing to set up.
    estimator(const max_drift&, const run_info&) {}
    /// One value per worker: the flag ||u_k||² > Θ.
    std::size_t state_size() const { return 1; }
    /// 1 byte (a flag) in the cost model.
    std::size_t state_bytes() const { return 1; }
    /// "violation", for logs.
    const char* field_name(std::size_t) const { return "violation"; }
    /// out[0] = 1 if ||w - w0||² > Θ, else 0; the drift itself when it is NaN or Inf, so
    /// that a non-finite model is caught as a faulty state instead of voting "no".
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double theta) const {
      const double drift = sq_distance(w, w0);
      out[0] = !std::isfinite(drift) ? drift : drift > theta ? 1.0 : 0.0;
    }
    /// The estimate reported is the number of violating workers.
    decision judge(std::span<const double> s, std::size_t, double) const {
      return {s[0] > 0.0, s[0]};
    }
    /// Nothing to update at a sync.
    template <class X, class Xp>
    void on_sync(const X&, const Xp&) {}
  };

  /// The monitor of a run with parameters of type T in memory space Space (the kernels
  /// dispatch on the views' space; the estimator keeps no per-parameter vector).
  template <class T, class Space = host_space>
  using monitor = threshold_monitor<max_drift, estimator>;
};

}  // namespace fda
