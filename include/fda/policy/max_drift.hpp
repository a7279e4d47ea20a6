#pragma once
/// Max-drift ("geometric monitoring", Kamp et al. 2018), a baseline: each worker checks
/// its own ||u_k||² > Θ; the round ends when any worker violates. Local state: one flag
/// (counted as 1 byte); summed, it is the number of violators.
#include <string_view>

#include "../kernels.hpp"
#include "threshold_monitor.hpp"

namespace fda {

struct max_drift {
  static constexpr std::string_view name = "max_drift";
  threshold theta = adaptive{};

  struct estimator {
    estimator(const max_drift&, const run_info&) {}
    std::size_t state_size() const { return 1; }
    std::size_t state_bytes() const { return 1; }
    const char* field_name(std::size_t) const { return "violation"; }
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double theta) const {
      out[0] = sq_distance(w, w0) > theta ? 1.0 : 0.0;
    }
    /// The estimate reported is the number of violating workers.
    decision judge(std::span<const double> s, std::size_t, double) const {
      return {s[0] > 0.0, s[0]};
    }
    template <class X, class Xp>
    void on_sync(const X&, const Xp&) {}
  };

  template <class T>
  using monitor = detail::threshold_monitor<max_drift, estimator>;
};

}  // namespace fda
