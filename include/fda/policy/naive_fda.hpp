#pragma once
/// NaiveFDA: H = S1 = (1/K) Σ_k ||u_k||² ≥ Var, since Var = S1 - ||ū||² (fda-spec.md §3).
/// Local state: ||u_k||², one float.
#include <string_view>

#include "../kernels.hpp"
#include "threshold_monitor.hpp"

namespace fda {

struct naive_fda {
  static constexpr std::string_view name = "naive_fda";
  threshold theta = adaptive{};

  struct estimator {
    estimator(const naive_fda&, const run_info&) {}
    std::size_t state_size() const { return 1; }
    std::size_t state_bytes() const { return 4; }
    const char* field_name(std::size_t) const { return "sq_norm"; }
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double) const {
      out[0] = sq_distance(w, w0);
    }
    decision judge(std::span<const double> s, std::size_t k, double theta) const {
      const double h = s[0] / double(k);
      return {h > theta, h};
    }
    template <class X, class Xp>
    void on_sync(const X&, const Xp&) {}
  };

  template <class T>
  using monitor = detail::threshold_monitor<naive_fda, estimator>;
};

}  // namespace fda
