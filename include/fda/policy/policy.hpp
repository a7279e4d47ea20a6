// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The sync-policy protocol: what the trainer asks a policy once per local step.
///
/// A policy is a small config struct P (designated initializers). For a run it makes a
/// monitor, `typename P::template monitor<T, Space>(policy, run_info)`, T being the
/// parameter type and Space their memory space (fda::policy_traits<P>::monitor resolves
/// it; a policy declaring only `monitor<T>` runs on host parameters only). One monitor
/// serves all in-process workers: its const members only read shared data (w0, ξ, hash
/// functions) and may run on every worker's thread at once.
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
///
/// Optional members of a policy and of a monitor (host_memory_only, calibrates_on,
/// non_negative, impossible_field, state_fields, ...) are read only through
/// fda::policy_traits and fda::monitor_traits (traits.hpp), where each is documented. A
/// threshold policy writes an estimator instead of a monitor: fda::threshold_monitor.
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
#include "traits.hpp"

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

namespace detail {

inline void validate(const char* where, const run_info& info) {
  if (info.workers == 0) fail(where, ": workers = 0 is invalid: a run needs at least one worker");
  if (info.dim == 0) fail(where, ": dim = 0 is invalid: the model has no parameters");
  if (info.check_every == 0) fail(where, ": check_every = 0 is invalid: it must be >= 1");
}

/// A view of T parameters in Space, to check a monitor's protocol with.
template <class T, class Space>
using probe_view = param_view<const T, Space>;

/// The monitor protocol of the header comment, for M made from policy P.
template <class M, class P, class T, class Space>
concept policy_monitor =
    std::constructible_from<M, const P&, const run_info&> &&
    requires(M& m, const M& cm, std::span<double> out, std::span<const double> summed,
             const probe_view<T, Space>& v) {
      { cm.state_size() } -> std::same_as<std::size_t>;
      { cm.state_bytes() } -> std::same_as<std::size_t>;
      { cm.checks_at(std::size_t{}) } -> std::same_as<bool>;
      cm.local_state(v, v, out);
      { cm.decide(summed, std::size_t{}) } -> std::same_as<decision>;
      m.on_sync(v, v, sync_info{});
      { cm.theta() } -> std::same_as<double>;
      { cm.field_name(std::size_t{}) } -> std::convertible_to<std::string_view>;
    };

}  // namespace detail

/// A type the trainer can run on T parameters in memory space Space: it has a name, and
/// its monitor for T and Space (`fda::policy_traits<P>::monitor`) has the protocol above.
/// fda::train explains a policy that is not one with detail::diagnose_policy.
template <class P, class T = float, class Space = host_space>
concept sync_policy = policy_traits<P>::has_name && policy_traits<P>::template supports_space<Space, T> &&
                      detail::policy_monitor<typename policy_traits<P>::template monitor<T, Space>, P, T, Space>;

namespace detail {

/// Which member of the monitor protocol M lacks, as one static_assert (diagnose_policy).
template <class M, class P, class T, class Space>
constexpr bool diagnose_monitor() {
  using V = const probe_view<T, Space>&;
  if constexpr (!std::constructible_from<M, const P&, const run_info&>)
    static_assert(always_false<M>, "fda::train: the policy's monitor (M, in the note above) cannot be made as "
                                   "monitor(const Policy&, const fda::run_info&): give it that constructor");
  else if constexpr (!requires(const M& m) { { m.state_size() } -> std::same_as<std::size_t>; })
    static_assert(always_false<M>, "fda::train: the policy's monitor has no std::size_t state_size() const "
                                   "(the doubles of a worker's local state)");
  else if constexpr (!requires(const M& m) { { m.state_bytes() } -> std::same_as<std::size_t>; })
    static_assert(always_false<M>, "fda::train: the policy's monitor has no std::size_t state_bytes() const "
                                   "(a local state's bytes in the cost model)");
  else if constexpr (!requires(const M& m, std::size_t s) { { m.checks_at(s) } -> std::same_as<bool>; })
    static_assert(always_false<M>, "fda::train: the policy's monitor has no bool checks_at(std::size_t "
                                   "steps_in_round) const");
  else if constexpr (!requires(const M& m, V v, std::span<double> out) { m.local_state(v, v, out); })
    static_assert(always_false<M>, "fda::train: the policy's monitor has no local_state(w, w0, std::span<double> "
                                   "out) const taking fda::param_view<const T, Space> views");
  else if constexpr (!requires(const M& m, std::span<const double> s) {
                       { m.decide(s, std::size_t{}) } -> std::same_as<decision>;
                     })
    static_assert(always_false<M>, "fda::train: the policy's monitor has no decide(std::span<const double> summed, "
                                   "std::size_t steps_in_round) const returning fda::decision");
  else if constexpr (!requires(M& m, V v) { m.on_sync(v, v, sync_info{}); })
    static_assert(always_false<M>, "fda::train: the policy's monitor has no on_sync(new_w0, old_w0, const "
                                   "fda::sync_info&) taking fda::param_view<const T, Space> views");
  else if constexpr (!requires(const M& m) { { m.theta() } -> std::same_as<double>; })
    static_assert(always_false<M>, "fda::train: the policy's monitor has no double theta() const (NaN for a schedule)");
  else if constexpr (!requires(const M& m, std::size_t i) { { m.field_name(i) } -> std::convertible_to<std::string_view>; })
    static_assert(always_false<M>, "fda::train: the policy's monitor has no field_name(std::size_t field) const "
                                   "returning a string");
  return true;
}

/// Whether Policy is a sync policy for T parameters in Space, and if not, one static_assert that
/// says why (the first of: no name; a monitor<T> without a memory space, off the host; no
/// monitor; a host_memory_only policy off the host; a member of the monitor protocol
/// missing). fda::train reaches it before anything else about the policy; true for a policy.
template <class Policy, class T, class Space>
constexpr bool diagnose_policy() {
  using traits = policy_traits<Policy>;
  constexpr bool on_host = std::same_as<Space, host_space>;
  if constexpr (!traits::has_name)
    static_assert(always_false<Policy>,
                  "fda::train: the policy (Policy, in the note above) has no name: give it `static constexpr "
                  "std::string_view name = \"my_policy\";` (logs, errors and checkpoints name it)");
  else if constexpr (!on_host && traits::template monitor_without_space<T>)
    static_assert(always_false<Policy>,
                  "fda::train: the policy (Policy, in the note above) declares monitor<T> without a memory space, "
                  "so it cannot run on device parameters: declare template <class T, class Space = "
                  "fda::host_space> monitor and keep per-run vectors in fda::space_traits<Space>::vector<T> "
                  "(docs/concepts.md)");
  else if constexpr (!traits::template has_monitor<T, Space>)
    static_assert(always_false<Policy>,
                  "fda::train: the policy (Policy, in the note above) has no monitor: declare template <class T, "
                  "class Space = fda::host_space> monitor (a class, or fda::threshold_monitor<Policy, Estimator>) "
                  "(docs/concepts.md)");
  else if constexpr (!on_host && traits::host_memory_only)
    static_assert(always_false<Policy>,
                  "fda::train: this policy's monitor reads the parameters in host memory (exact_variance): with "
                  "device parameters use linear_fda, sketch_fda, naive_fda, max_drift or a schedule (docs/gpu.md)");
  else
    diagnose_monitor<typename traits::template monitor<T, Space>, Policy, T, Space>();
  return true;
}

/// Stands in for the monitor of a policy that has none for the run, once diagnose_policy
/// has said why: the trainer then compiles on, so that message is the only error.
struct unusable_monitor {
  template <class P>
  unusable_monitor(const P&, const run_info&) {}
  std::size_t state_size() const { return 0; }
  std::size_t state_bytes() const { return 0; }
  const char* field_name(std::size_t) const { return "none"; }
  double theta() const { return 0.0; }
  bool checks_at(std::size_t) const { return false; }
  template <class W, class W0>
  void local_state(const W&, const W0&, std::span<double>) const {}
  decision decide(std::span<const double>, std::size_t) const { return {}; }
  template <class X, class Xp>
  void on_sync(const X&, const Xp&, const sync_info&) {}
};

}  // namespace detail

/// Why a worker's local state cannot be right.
enum class state_fault_kind {
  not_finite = 1,       ///< NaN or Inf: the worker's parameters hold NaN or Inf
  negative_square = 2,  ///< a field the monitor declares non_negative (a squared norm) below zero
  impossible = 3,       ///< values no model can produce (the monitor's own check, e.g. Cauchy–Schwarz)
};

/// A faulty field of a worker's local state.
struct state_fault {
  std::size_t field = 0;  ///< index of the field in the local state (field_name(field) names it)
  double value = 0.0;     ///< its value
  state_fault_kind kind = state_fault_kind::not_finite;  ///< what is wrong with it
};

/// The first faulty field of a local state, if any: not finite; below 0 where the monitor
/// declares the field non_negative (a squared norm); or what the monitor's
/// `impossible_field(state)` reports, e.g. |ξ·u| > ||ξ||·||u|| for linear_fda (both
/// optional: fda::monitor_traits). Honest workers never produce these; a broken or hostile
/// one may.
template <class Monitor>
std::optional<state_fault> find_state_fault(const Monitor& m, std::span<const double> state) {
  using traits = monitor_traits<Monitor>;
  for (std::size_t i = 0; i < state.size(); ++i)
    if (!std::isfinite(state[i])) return state_fault{i, state[i], state_fault_kind::not_finite};
  for (std::size_t i = 0; i < state.size(); ++i)
    if (state[i] < 0.0 && traits::non_negative(m, i)) return state_fault{i, state[i], state_fault_kind::negative_square};
  const std::size_t i = traits::impossible_field(m, state);
  if (i < state.size()) return state_fault{i, state[i], state_fault_kind::impossible};
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
