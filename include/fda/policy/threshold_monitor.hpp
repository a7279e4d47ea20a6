#pragma once
/// The monitor shared by every threshold policy (naive, linear, sketch, exact, max-drift).
///
/// The policies differ only in their estimator: what a worker puts in its local state
/// and how the summed state becomes a decision. Cadence, threshold and forced syncs are
/// the same for all, and live here once.
#include <span>

#include "policy.hpp"

namespace fda::detail {

/// Estimator protocol (E):
///   E(const Policy&, const run_info&)
///   std::size_t state_size() const;  std::size_t state_bytes() const;
///   const char* field_name(std::size_t) const;
///   void local_state(w, w0, std::span<double> out, double theta) const;
///   decision judge(std::span<const double> summed, std::size_t workers, double theta) const;
///   void on_sync(new_w0, old_w0);
template <class Policy, class Estimator>
class threshold_monitor {
 public:
  threshold_monitor(const Policy& p, const run_info& info)
      : info_((validate(Policy::name.data(), info), info)),
        theta_(Policy::name.data(), p.theta, info.steps_per_epoch),
        estimator_(p, info) {}

  std::size_t state_size() const { return estimator_.state_size(); }
  std::size_t state_bytes() const { return estimator_.state_bytes(); }
  const char* field_name(std::size_t i) const { return estimator_.field_name(i); }
  double theta() const { return theta_.theta(); }

  /// No check while Θ is +∞ (calibrating, or no round has measured variance yet): no
  /// estimate could exceed it, and the round ends when forced.
  bool checks_at(std::size_t steps_in_round) const {
    return std::isfinite(theta_.theta()) && steps_in_round % info_.check_every == 0;
  }

  template <viewable W, viewable W0>
  void local_state(const W& w, const W0& w0, std::span<double> out) const {
    if (out.size() != state_size())
      fail(Policy::name, ": local state buffer has ", out.size(), " values, expected ", state_size());
    estimator_.local_state(as_view(w), as_view(w0), out, theta_.theta());
  }

  decision decide(std::span<const double> summed, std::size_t steps_in_round) const {
    decision d;
    if (!summed.empty()) {
      for (std::size_t i = 0; i < summed.size(); ++i)
        if (!std::isfinite(summed[i]))
          throw numeric_error(concat("fda: the summed local state field '", field_name(i), "' (",
                                     Policy::name, ", index ", i, ") is ", summed[i]));
      d = estimator_.judge(summed, info_.workers, theta_.theta());
    }
    d.sync = d.sync || theta_.forces_sync(steps_in_round);
    return d;
  }

  /// An adaptive Θ calibrates on the policy's quantity (fda::calibration); ξ and the like
  /// follow the global step.
  template <viewable X, viewable Xp>
  void on_sync(const X& new_w0, const Xp& old_w0, const sync_info& info) {
    constexpr bool on_drift = calibration_of<Policy>() == calibration::max_sq_drift;
    theta_.on_sync(on_drift ? info.max_sq_drift : info.variance, info.round_steps);
    estimator_.on_sync(as_view(new_w0), as_view(old_w0));
  }

  /// The index of a field no honest worker can produce, or state.size() (see find_state_fault).
  std::size_t impossible_field(std::span<const double> state) const {
    if constexpr (requires { estimator_.impossible_field(state); })
      return estimator_.impossible_field(state);
    else
      return state.size();
  }

  /// Visits what changes during a run: Θ's state and the estimator's (ξ for linear_fda).
  template <class F>
  void state_fields(F&& f) {
    theta_.state_fields(f);
    if constexpr (requires { estimator_.state_fields(f); }) estimator_.state_fields(f);
  }

 private:
  run_info info_;
  threshold_state theta_;
  Estimator estimator_;
};

}  // namespace fda::detail
