#pragma once
/// The oracle: Var = S1 - ||ū||² computed exactly from every worker's full drift u_k.
/// Local state 1 + d floats — for validation and experiments, never for deployment.
#include <string_view>

#include "../kernels.hpp"
#include "threshold_monitor.hpp"

namespace fda {

struct exact_variance {
  static constexpr std::string_view name = "exact_variance";
  threshold theta = adaptive{};

  struct estimator {
    estimator(const exact_variance&, const run_info& info) : dim(info.dim) {}
    std::size_t dim;
    std::size_t state_size() const { return 1 + dim; }
    std::size_t state_bytes() const { return 4 * (1 + dim); }
    const char* field_name(std::size_t i) const { return i == 0 ? "sq_norm" : "drift"; }
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double) const {
      detail::require_same_size("fda::exact_variance", {"w", "w0"}, w, w0);
      double* u = out.data() + 1;
      detail::for_each_element([&u](auto a, auto b) { *u++ = double(a) - double(b); }, w, w0);
      out[0] = sq_norm(out.subspan(1));
    }
    decision judge(std::span<const double> s, std::size_t k, double theta) const {
      const double inv = 1.0 / double(k);
      const double mean_sq = sq_norm(s.subspan(1)) * inv * inv;  // ||ū||²
      const double h = s[0] * inv - mean_sq;
      return {h > theta, h};
    }
    template <class X, class Xp>
    void on_sync(const X&, const Xp&) {}
  };

  template <class T>
  using monitor = detail::threshold_monitor<exact_variance, estimator>;
};

}  // namespace fda
