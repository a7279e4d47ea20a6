#pragma once
/// The sync-policy protocol: what the trainer asks a policy once per local step.
///
/// A policy is a small config struct P (designated initializers). For a run it makes a
/// monitor, `typename P::template monitor<T>(policy, run_info)`, T being the parameter
/// type. One monitor serves all in-process workers: its const members only read shared
/// data (w0, ξ, hash functions) and may run on every worker's thread at once.
///
///   every step s of a round (s = 1, 2, ...), on every worker:
///     if m.checks_at(s):  m.local_state(w, w0, state)    // state_size() doubles
///                         summed = all-reduce-sum(state)  // over the K workers
///     d = m.decide(summed or empty, s)                    // const; identical on every worker
///     if d.sync: ...aggregate...; m.on_sync(new_w0, old_w0, {Var at sync, s})
///
/// Every local state is a sum over workers, so one all-reduce-sum serves all policies.
/// state_bytes() is the cost-model size of one worker's state (docs/algorithm.md: Communication cost: 4-byte
/// floats), whatever the in-memory type; the trainer counts K · state_bytes() per check.
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <span>
#include <string_view>

#include "../error.hpp"
#include "../params.hpp"
#include "../threshold.hpp"

namespace fda {

/// What a monitor needs to know about the run.
struct run_info {
  std::size_t dim = 0;              ///< d, parameters per worker
  std::size_t workers = 0;          ///< K
  std::size_t steps_per_epoch = 0;  ///< local steps per epoch (fedavg, adaptive Θ); 0 = unknown
  std::size_t check_every = 1;      ///< monitoring cadence m: check at steps m, 2m, ... of a round
  std::uint64_t seed = 0;           ///< shared by all workers (ξ of the first round, hashes)
};

/// The outcome of one step: sync or not, and the estimate H that was compared with Θ
/// (NaN when nothing was estimated this step).
struct decision {
  bool sync = false;  ///< true: end the round now
  double estimate = std::numeric_limits<double>::quiet_NaN();  ///< H (NaN: nothing estimated)
};

/// What the trainer reports to on_sync.
struct sync_info {
  double variance = 0.0;        ///< exact Var = (1/K') Σ ||w_k - w̄||² at sync time, over the K' workers averaged
  std::size_t round_steps = 0;  ///< steps since the previous sync
  /// max_k ||w_k - w0||² at sync time over the workers averaged: measured only for a policy
  /// whose adaptive Θ calibrates on it (calibration::max_sq_drift), NaN otherwise.
  double max_sq_drift = std::numeric_limits<double>::quiet_NaN();
};

/// What an adaptive Θ calibrates on: the quantity the policy compares with Θ, measured at
/// each sync. Variance-based policies compare an estimate of Var; max_drift compares each
/// worker's own ||u_k||², whose largest value ends the round. A policy says which with
/// `static constexpr fda::calibration calibrates_on = ...` (default: variance).
enum class calibration {
  variance,      ///< sync_info::variance
  max_sq_drift,  ///< sync_info::max_sq_drift
};

namespace detail {

inline void validate(const char* where, const run_info& info) {
  if (info.workers == 0) fail(where, ": workers = 0 is invalid: a run needs at least one worker");
  if (info.dim == 0) fail(where, ": dim = 0 is invalid: the model has no parameters");
  if (info.check_every == 0) fail(where, ": check_every = 0 is invalid: it must be >= 1");
}

/// The quantity Policy's adaptive Θ calibrates on (see fda::calibration).
template <class Policy>
constexpr calibration calibration_of() {
  if constexpr (requires { Policy::calibrates_on; })
    return Policy::calibrates_on;
  else
    return calibration::variance;
}

/// The dummy view used to check the concept below.
using probe_view = param_view<const float>;

}  // namespace detail

/// A type the trainer can run: its monitor for parameter type T has the protocol above.
template <class P, class T = float>
concept sync_policy = requires { typename P::template monitor<T>; } &&
    std::constructible_from<typename P::template monitor<T>, const P&, const run_info&> &&
    requires(typename P::template monitor<T>& m,
             const typename P::template monitor<T>& cm, std::span<double> out,
             std::span<const double> summed, const detail::probe_view& v) {
      { P::name } -> std::convertible_to<std::string_view>;
      { cm.state_size() } -> std::same_as<std::size_t>;
      { cm.state_bytes() } -> std::same_as<std::size_t>;
      { cm.checks_at(std::size_t{}) } -> std::same_as<bool>;
      cm.local_state(v, v, out);
      { cm.decide(summed, std::size_t{}) } -> std::same_as<decision>;
      m.on_sync(v, v, sync_info{});
      { cm.theta() } -> std::same_as<double>;
      { cm.field_name(std::size_t{}) } -> std::convertible_to<std::string_view>;
    };

/// Why a worker's local state cannot be right.
enum class state_fault_kind {
  not_finite = 1,       ///< NaN or Inf: the worker's parameters hold NaN or Inf
  negative_square = 2,  ///< a squared norm (a field named "sq_norm") below zero
  impossible = 3,       ///< values no model can produce (the monitor's own check, e.g. Cauchy–Schwarz)
};

/// A faulty field of a worker's local state.
struct state_fault {
  std::size_t field = 0;  ///< index of the field in the local state (field_name(field) names it)
  double value = 0.0;     ///< its value
  state_fault_kind kind = state_fault_kind::not_finite;  ///< what is wrong with it
};

/// The first faulty field of a local state, if any: not finite; a squared norm below 0; or
/// what the monitor's `impossible_field(state)` (optional: the index, or state.size() when
/// all is well) reports, e.g. |ξ·u| > ||ξ||·||u|| for linear_fda. Honest workers never
/// produce these; a broken or hostile one may.
template <class Monitor>
std::optional<state_fault> find_state_fault(const Monitor& m, std::span<const double> state) {
  for (std::size_t i = 0; i < state.size(); ++i)
    if (!std::isfinite(state[i])) return state_fault{i, state[i], state_fault_kind::not_finite};
  for (std::size_t i = 0; i < state.size(); ++i)
    if (state[i] < 0.0 && std::string_view(m.field_name(i)) == "sq_norm")
      return state_fault{i, state[i], state_fault_kind::negative_square};
  if constexpr (requires { m.impossible_field(state); }) {
    const std::size_t i = m.impossible_field(state);
    if (i < state.size()) return state_fault{i, state[i], state_fault_kind::impossible};
  }
  return std::nullopt;
}

/// "fda: worker 3 at step 12 sent a local state whose field 'sq_norm' (linear_fda, index 0)
/// is -2: a squared norm cannot be negative".
template <class Monitor>
std::string describe_state_fault(const Monitor& m, std::string_view policy, std::size_t worker,
                                 const state_fault& f, std::size_t step = 0) {
  const char* why = f.kind == state_fault_kind::not_finite        ? "its parameters hold NaN or Inf"
                    : f.kind == state_fault_kind::negative_square ? "a squared norm cannot be negative"
                                                                  : "no model can produce it";
  return detail::concat("fda: worker ", worker, step ? detail::concat(" at step ", step) : std::string(),
                        " sent a local state whose field '", m.field_name(f.field), "' (", policy,
                        ", index ", f.field, ") is ", f.value, ": ", why);
}

/// Throws fda::numeric_error if a worker's local state is faulty (find_state_fault),
/// naming the worker, the step (when known), the policy, the field and the value.
template <class Monitor>
void check_local_state(const Monitor& m, std::string_view policy, std::size_t worker,
                       std::span<const double> state, std::size_t step = 0) {
  if (const auto f = find_state_fault(m, state)) throw numeric_error(describe_state_fault(m, policy, worker, *f, step));
}

}  // namespace fda
