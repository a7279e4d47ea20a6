// SPDX-License-Identifier: Apache-2.0
#pragma once
/// LinearFDA: H = S1 - ((1/K) Σ_k ξ·u_k)² / ||ξ||² ≥ Var for any ξ ≠ 0 (Cauchy–Schwarz:
/// (ξ·ū)² ≤ ||ξ||² ||ū||²). Local state: ||u_k||² and ξ·u_k, two floats, from one fused
/// pass over w, w0 and ξ.
///
/// ξ is the direction of the last global step, (w0 - w0_prev) / ||w0 - w0_prev||: the
/// better it is aligned with ū, the tighter H. In the first round there is no previous
/// model, so ξ is a random unit vector drawn from the run's seed: every worker draws the
/// same ξ without communicating. Dividing by ||ξ||² (computed from the stored ξ) keeps
/// the bound exact even though ξ is rounded to the parameter type.
///
/// `monitor<T, Space>`: ξ lives in the parameters' memory space, in
/// space_traits<Space>::vector<T> (std::vector on the host; thrust::device_vector with
/// <fda/thrust.hpp>), so the fused pass reads it where w and w0 are.
#include <cmath>
#include <concepts>
#include <string_view>
#include <vector>

#include "../detail/splitmix.hpp"
#include "../kernels.hpp"
#include "threshold_monitor.hpp"

namespace fda {

/// LinearFDA: sync when H = (1/K) Σ_k ||u_k||² - ((1/K) Σ_k ξ·u_k)² / ||ξ||² > Θ, an
/// upper bound of Var for any ξ ≠ 0; ξ follows the last global step.
struct linear_fda {
  static constexpr std::string_view name = "linear_fda";  ///< the policy's name in logs and errors
  threshold theta = adaptive{};  ///< Θ: a number (fixed) or fda::adaptive{} (the default: FDA-Opt's rule)

  /// What a worker sends and how the summed states become a decision; holds ξ, of type T
  /// in memory space Space.
  template <class T, class Space = host_space>
  struct estimator {
    using vector = typename space_traits<Space>::template vector<T>;    ///< ξ's container

    /// ξ of the first round: a random unit vector drawn from info.seed (every worker draws the same).
    estimator(const linear_fda&, const run_info& info) : xi(first_xi(info)) { normalize(); }
    vector xi;  ///< shared by every in-process worker, read-only during a round
    double xi_sq_norm = 1.0;  ///< ||ξ||² of the stored (rounded) ξ, which H divides by

    /// Calls f on each member a saved run must restore: ξ, then ||ξ||².
    template <class F>
    void state_fields(F&& f) {
      f(xi);
      f(xi_sq_norm);
    }

    /// Cauchy–Schwarz: (ξ·u)² ≤ ||ξ||² ||u||², up to the rounding of the fused pass.
    std::size_t impossible_field(std::span<const double> s) const {
      return s[1] * s[1] > xi_sq_norm * s[0] * (1.0 + 1e-9) + 1e-300 ? 1 : s.size();
    }

    /// Two values per worker: ||u_k||² and ξ·u_k.
    std::size_t state_size() const { return 2; }
    /// 8 bytes (two floats) in the cost model.
    std::size_t state_bytes() const { return 8; }
    /// "sq_norm", then "xi_dot_drift", for logs.
    const char* field_name(std::size_t i) const { return i == 0 ? "sq_norm" : "xi_dot_drift"; }
    /// Field 0, ||u_k||², can never be negative (a negative one is a faulty state).
    bool non_negative(std::size_t field) const { return field == 0; }
    /// out = {||u||², ξ·u} with u = w - w0, in one fused pass.
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double) const {
      const drift_stats s = drift(w, w0, fda::view(xi));
      out[0] = s.sq_norm;
      out[1] = s.dot;
    }
    /// H = s[0]/k - (s[1]/k)² / ||ξ||² from the state summed over k workers; sync when H > Θ.
    decision judge(std::span<const double> s, std::size_t k, double theta) const {
      const double inv = 1.0 / double(k);
      const double mean_dot = s[1] * inv;  // ξ·ū
      const double h = s[0] * inv - mean_dot * mean_dot / xi_sq_norm;
      return {h > theta, h};
    }
    /// ξ ← direction of the global step just taken; kept when the model did not move.
    template <class X, class Xp>
    void on_sync(const X& new_w0, const Xp& old_w0) {
      const double step = std::sqrt(sq_distance(new_w0, old_w0));
      if (!(step > 0.0 && std::isfinite(step))) return;
      // ξ ← (new − old) / step, element by element in ξ's memory space (every space: the
      // host's formula, so every space stores the host's ξ up to the norm's rounding)
      const auto& vnew = detail::as_view(new_w0);
      const auto vxi = fda::view(xi);
      detail::require_same_size("fda::linear_fda", {"xi", "new_w0"}, vxi, vnew);
      detail::for_each_in_space(detail::step_direction_op{step}, vnew, detail::as_view(old_w0), vxi);
      normalize();
    }

   private:
    /// The first round's ξ: standard normal components by Box–Muller from splitmix64 (the
    /// same on every platform, unlike std::normal_distribution), drawn on the host.
    static vector first_xi(const run_info& info) {
      std::vector<T> x(info.dim);
      std::uint64_t state = info.seed ^ 0x11ea5fdaULL;
      auto uniform = [&] { return (double(detail::splitmix64(state) >> 11) + 0.5) * 0x1p-53; };
      for (auto& v : x) v = T(std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()));
      return vector(x.begin(), x.end());  // (to ξ's memory space)
    }

    void normalize() {
      const double n = std::sqrt(sq_norm(fda::view(xi)));
      detail::for_each_in_space(detail::divide_op{n}, fda::view(xi));  // x ← x / n, in ξ's space
      xi_sq_norm = sq_norm(fda::view(xi));
    }
  };

  /// Space: where the parameters live (host_space, or fda::device_space with <fda/thrust.hpp>).
  template <class T, class Space = host_space>
  using monitor = threshold_monitor<linear_fda, estimator<T, Space>>;
};

}  // namespace fda
