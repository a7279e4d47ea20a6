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
/// state_bytes() is the cost-model size of one worker's state (fda-spec.md §7: 4-byte
/// floats), whatever the in-memory type; the trainer counts K · state_bytes() per check.
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
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
  bool sync = false;
  double estimate = std::numeric_limits<double>::quiet_NaN();
};

/// What the trainer reports to on_sync.
struct sync_info {
  double variance = 0.0;        ///< exact Var = (1/K) Σ ||w_k - w̄||² at sync time
  std::size_t round_steps = 0;  ///< steps since the previous sync
};

namespace detail {

inline void validate(const char* where, const run_info& info) {
  if (info.workers == 0) fail(where, ": workers = 0 is invalid: a run needs at least one worker");
  if (info.dim == 0) fail(where, ": dim = 0 is invalid: the model has no parameters");
  if (info.check_every == 0) fail(where, ": check_every = 0 is invalid: it must be >= 1");
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

/// Throws fda::numeric_error unless every value of a worker's local state is finite,
/// naming the worker, the step (when known), the policy and the field.
template <class Monitor>
void check_local_state(const Monitor& m, std::string_view policy, std::size_t worker,
                       std::span<const double> state, std::size_t step = 0) {
  for (std::size_t i = 0; i < state.size(); ++i)
    if (!std::isfinite(state[i]))
      throw numeric_error(detail::concat(
          "fda: worker ", worker, step ? detail::concat(" at step ", step) : std::string(),
          " sent a local state whose field '", m.field_name(i), "' (", policy, ", index ", i,
          ") is ", state[i], ": its parameters hold NaN or Inf"));
}

}  // namespace fda
