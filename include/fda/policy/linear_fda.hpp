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
#include <cmath>
#include <string_view>
#include <vector>

#include "../detail/splitmix.hpp"
#include "../kernels.hpp"
#include "threshold_monitor.hpp"

namespace fda {

struct linear_fda {
  static constexpr std::string_view name = "linear_fda";
  threshold theta = adaptive{};

  template <class T>
  struct estimator {
    estimator(const linear_fda&, const run_info& info) : xi(info.dim) {
      // Standard normal components by Box–Muller from splitmix64: the same on every
      // platform, unlike std::normal_distribution.
      std::uint64_t state = info.seed ^ 0x11ea5fdaULL;
      auto uniform = [&] { return (double(detail::splitmix64(state) >> 11) + 0.5) * 0x1p-53; };
      for (auto& x : xi) x = T(std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()));
      normalize();
    }
    std::vector<T> xi;  ///< shared by every in-process worker, read-only during a round
    double xi_sq_norm = 1.0;

    template <class F>
    void state_fields(F&& f) {
      f(xi);
      f(xi_sq_norm);
    }

    std::size_t state_size() const { return 2; }
    std::size_t state_bytes() const { return 8; }
    const char* field_name(std::size_t i) const { return i == 0 ? "sq_norm" : "xi_dot_drift"; }
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double) const {
      const drift_stats s = drift(w, w0, xi);
      out[0] = s.sq_norm;
      out[1] = s.dot;
    }
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
      auto out = xi.begin();
      detail::for_each_element([&](auto a, auto b) { *out++ = T((double(a) - double(b)) / step); },
                               new_w0, old_w0);
      normalize();
    }

   private:
    void normalize() {
      const double n = std::sqrt(sq_norm(xi));
      for (auto& x : xi) x = T(double(x) / n);
      xi_sq_norm = sq_norm(xi);
    }
  };

  template <class T>
  using monitor = detail::threshold_monitor<linear_fda, estimator<T>>;
};

}  // namespace fda
