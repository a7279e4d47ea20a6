// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda::threshold_monitor: the monitor shared by every threshold policy (naive, linear,
/// sketch, exact, max-drift), and the estimator protocol through which a policy of your
/// own joins them.
///
/// Threshold policies differ only in their estimator: what a worker puts in its local
/// state and how the summed state becomes a decision. Cadence, the threshold Θ (fixed or
/// adaptive), forced syncs and the checks of summed states are the same for all, and live
/// here once. A threshold policy is
///
///   struct my_policy {
///     static constexpr std::string_view name = "my_policy";  // logs, errors, checkpoints
///     fda::threshold theta = fda::adaptive{};                 // Θ: a number, or adaptive
///     struct estimator { ... };                               // the protocol below
///     template <class T, class Space = fda::host_space>
///     using monitor = fda::threshold_monitor<my_policy, estimator>;
///   };
///
/// An estimator that keeps a d-vector (LinearFDA's ξ) is a template on T and Space and keeps
/// it in `fda::space_traits<Space>::vector<T>`, so that it lives where the parameters do.
///
/// Estimator protocol (E, made once per run; its const members may run on every in-process
/// worker's thread at once, so they only read):
///
/// Required:
///   - `E(const Policy&, const fda::run_info&)`: validates the settings, sets up (ξ, hashes).
///   - `std::size_t state_size() const`: the doubles of one worker's local state.
///   - `std::size_t state_bytes() const`: their bytes in the cost model (4-byte floats).
///   - `field_name(std::size_t field) const`, convertible to std::string_view: names a field
///     in messages (only in messages: no name has a meaning of its own).
///   - `void local_state(w, w0, std::span<double> out, double theta) const`: this worker's
///     state into out (state_size() values); w and w0 are fda::param_view of the run's space.
///   - `fda::decision judge(std::span<const double> summed, std::size_t workers, double theta) const`:
///     the decision from the states summed over the workers (its estimate H, sync if H > Θ).
///   - `void on_sync(new_w0, old_w0)`: after every sync, with views of the new and the old
///     global model.
///
/// Optional (fda::threshold_monitor forwards each; fda::monitor_traits reads it):
///   - `bool non_negative(std::size_t field) const`: true when the field can never be
///     negative (a squared norm); a negative value is then a faulty state (kind
///     negative_square). Default: false for every field.
///   - `std::size_t impossible_field(std::span<const double> state) const`: the index of a
///     field no honest worker can produce (LinearFDA: Cauchy–Schwarz), else state.size().
///     Default: no such check.
///   - `template <class F> void state_fields(F&& f)`: calls f on every member that changes
///     during a run (ξ), so checkpoints save and restore it. Default: nothing saved.
///
/// The policy itself needs `name` and a `theta` convertible to fda::threshold. The class
/// checks all of this when it is instantiated, and names the first member missing.
#include <cmath>
#include <concepts>
#include <span>
#include <string_view>

#include "policy.hpp"

namespace fda {

/// An estimator of fda::threshold_monitor for Policy (the protocol above), whose local_state
/// and on_sync take views of memory space Space.
template <class E, class Policy, class Space = host_space>
concept threshold_estimator =
    std::constructible_from<E, const Policy&, const run_info&> &&
    requires(E& e, const E& ce, std::span<double> out, std::span<const double> summed, std::size_t i,
             double theta, const detail::probe_view<float, Space>& v) {
      { ce.state_size() } -> std::same_as<std::size_t>;
      { ce.state_bytes() } -> std::same_as<std::size_t>;
      { ce.field_name(i) } -> std::convertible_to<std::string_view>;
      ce.local_state(v, v, out, theta);
      { ce.judge(summed, i, theta) } -> std::same_as<decision>;
      e.on_sync(v, v);
    };

namespace detail {

/// Whether E is an estimator for Policy, and if not, one static_assert naming the first
/// member missing (local_state and on_sync are checked where they are called, with the
/// run's views). threshold_monitor checks it when it is instantiated.
template <class Policy, class E>
constexpr bool diagnose_estimator() {
  if constexpr (!policy_traits<Policy>::has_name)
    static_assert(always_false<E>, "fda::threshold_monitor: the policy has no name: give it "
                                   "`static constexpr std::string_view name = \"my_policy\";`");
  else if constexpr (!requires(const Policy& p) { { p.theta } -> std::convertible_to<threshold>; })
    static_assert(always_false<E>, "fda::threshold_monitor: the policy has no member theta convertible to "
                                   "fda::threshold (a number, fda::fixed or fda::adaptive)");
  else if constexpr (!std::constructible_from<E, const Policy&, const run_info&>)
    static_assert(always_false<E>, "fda::threshold_monitor: the estimator (E, in the note above) cannot be made "
                                   "as E(const Policy&, const fda::run_info&)");
  else if constexpr (!requires(const E& e) { { e.state_size() } -> std::same_as<std::size_t>; })
    static_assert(always_false<E>, "fda::threshold_monitor: the estimator has no std::size_t state_size() const "
                                   "(the doubles of a worker's local state)");
  else if constexpr (!requires(const E& e) { { e.state_bytes() } -> std::same_as<std::size_t>; })
    static_assert(always_false<E>, "fda::threshold_monitor: the estimator has no std::size_t state_bytes() const "
                                   "(a local state's bytes in the cost model)");
  else if constexpr (!requires(const E& e, std::size_t i) { { e.field_name(i) } -> std::convertible_to<std::string_view>; })
    static_assert(always_false<E>, "fda::threshold_monitor: the estimator has no field_name(std::size_t field) const "
                                   "returning a string");
  else if constexpr (!requires(const E& e, std::span<const double> s, std::size_t k, double theta) {
                       { e.judge(s, k, theta) } -> std::same_as<decision>;
                     })
    static_assert(always_false<E>, "fda::threshold_monitor: the estimator has no judge(std::span<const double> summed, "
                                   "std::size_t workers, double theta) const returning fda::decision");
  else if constexpr (requires { &E::non_negative; } &&
                     !requires(const E& e, std::size_t i) { { e.non_negative(i) } -> std::same_as<bool>; })
    static_assert(always_false<E>, "fda::threshold_monitor: the estimator's non_negative cannot be called as "
                                   "bool non_negative(std::size_t field) const");
  else if constexpr (requires { &E::impossible_field; } &&
                     !requires(const E& e, std::span<const double> s) { { e.impossible_field(s) } -> std::same_as<std::size_t>; })
    static_assert(always_false<E>, "fda::threshold_monitor: the estimator's impossible_field cannot be called as "
                                   "std::size_t impossible_field(std::span<const double> state) const");
  return true;
}

}  // namespace detail

/// The monitor of a threshold policy: Policy's settings (name, theta) and an Estimator of
/// the protocol above. Checks every `check_every` steps while Θ is finite; syncs when the
/// estimator's judgement says so, or when an adaptive Θ's round limit forces it.
template <class Policy, class Estimator>
class threshold_monitor {
  static_assert(detail::diagnose_estimator<Policy, Estimator>());  // (its own static_assert names the member)

 public:
  using estimator_type = Estimator;  ///< the estimator this monitor runs

  /// Validates `info` and Θ (fda::invalid_argument, naming the policy), then makes the estimator.
  threshold_monitor(const Policy& p, const run_info& info)
      : info_((detail::validate(name(), info), info)), theta_(name(), p.theta, info.steps_per_epoch),
        estimator_(p, info) {}

  /// The doubles of one worker's local state (the estimator's).
  std::size_t state_size() const { return estimator_.state_size(); }
  /// A local state's bytes in the cost model (the estimator's).
  std::size_t state_bytes() const { return estimator_.state_bytes(); }
  /// The name of field i, for messages (the estimator's).
  auto field_name(std::size_t i) const { return estimator_.field_name(i); }
  /// The current Θ (+∞ while an adaptive Θ calibrates).
  double theta() const { return theta_.theta(); }
  /// The estimator, for inspection.
  const Estimator& estimator() const { return estimator_; }

  /// No check while Θ is +∞ (calibrating, or no round has measured variance yet): no
  /// estimate could exceed it, and the round ends when forced.
  bool checks_at(std::size_t steps_in_round) const {
    return std::isfinite(theta_.theta()) && steps_in_round % info_.check_every == 0;
  }

  /// This worker's local state into out (state_size() values), from its parameters w and
  /// the global model w0.
  template <viewable W, viewable W0>
  void local_state(const W& w, const W0& w0, std::span<double> out) const {
    if (out.size() != state_size())
      detail::fail(name(), ": local state buffer has ", out.size(), " values, expected ", state_size());
    const auto& vw = detail::as_view(w);
    const auto& vw0 = detail::as_view(w0);
    if constexpr (requires { estimator_.local_state(vw, vw0, out, 0.0); })
      estimator_.local_state(vw, vw0, out, theta_.theta());
    else
      static_assert(detail::always_false<W>, "fda::threshold_monitor: the estimator has no local_state(w, w0, "
                                     "std::span<double> out, double theta) const taking these views (W, W0 "
                                     "in the note above: their memory space is the run's)");
  }

  /// The decision from the local states summed over the workers (empty: no check this
  /// step); throws fda::numeric_error when a summed field is not finite.
  decision decide(std::span<const double> summed, std::size_t steps_in_round) const {
    decision d;
    if (!summed.empty()) {
      for (std::size_t i = 0; i < summed.size(); ++i)
        if (!std::isfinite(summed[i]))
          throw numeric_error(detail::concat("fda: the summed local state field '", field_name(i), "' (",
                                             name(), ", index ", i, ") is ", summed[i]));
      d = estimator_.judge(summed, info_.workers, theta_.theta());
    }
    d.sync = d.sync || theta_.forces_sync(steps_in_round);
    return d;
  }

  /// After a sync: an adaptive Θ calibrates on the policy's quantity (fda::calibration);
  /// the estimator follows the global step (ξ).
  template <viewable X, viewable Xp>
  void on_sync(const X& new_w0, const Xp& old_w0, const sync_info& info) {
    constexpr bool on_drift = policy_traits<Policy>::calibrates_on == calibration::max_sq_drift;
    theta_.on_sync(on_drift ? info.max_sq_drift : info.variance, info.round_steps);
    const auto& vn = detail::as_view(new_w0);
    const auto& vo = detail::as_view(old_w0);
    if constexpr (requires { estimator_.on_sync(vn, vo); })
      estimator_.on_sync(vn, vo);
    else
      static_assert(detail::always_false<X>, "fda::threshold_monitor: the estimator has no on_sync(new_w0, old_w0) "
                                     "taking these views (X, Xp in the note above: their memory space is the run's)");
  }

  /// The estimator's non_negative(field); false when it has none (see find_state_fault).
  bool non_negative(std::size_t field) const {
    if constexpr (requires { estimator_.non_negative(field); })
      return estimator_.non_negative(field);
    else
      return false;
  }

  /// The estimator's impossible_field(state); state.size() when it has none.
  std::size_t impossible_field(std::span<const double> state) const {
    if constexpr (requires { estimator_.impossible_field(state); })
      return estimator_.impossible_field(state);
    else
      return state.size();
  }

  /// Visits what changes during a run: Θ's state, then the estimator's (ξ for linear_fda).
  template <class F>
  void state_fields(F&& f) {
    theta_.state_fields(f);
    if constexpr (requires { estimator_.state_fields(f); }) estimator_.state_fields(f);
  }

 private:
  static const char* name() { return policy_traits<Policy>::name.data(); }

  run_info info_;
  detail::threshold_state theta_;
  Estimator estimator_;
};

}  // namespace fda
