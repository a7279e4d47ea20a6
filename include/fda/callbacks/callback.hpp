#pragma once
/// Callbacks in the manner of ensmallen: any object with some of the hooks below. Traits
/// detect which hooks a callback has, so it writes only those it needs; a hook that
/// returns bool stops training by returning true. Hooks run on one thread at a time,
/// once per run (never once per worker), in the order the callbacks were given.
///
///   on_begin(const run_info&)                  before the first step
///   on_step(const step_info&)                  after every in-parallel step
///   on_sync(const sync_record&)                after every synchronization
///   on_epoch(epoch_info<T>&)                   at every epoch end (needs steps_per_epoch)
///   on_end(const result&)                      after the last step
///
/// epoch_info carries the averaged model (an instrument, not communication) and a metric
/// table that callbacks fill and read in order: an evaluator first writes
/// "test_accuracy", a logger or stop-at-target after it reads it.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../options.hpp"
#include "../policy/policy.hpp"

namespace fda {

/// After every in-parallel step.
struct step_info {
  std::size_t step = 0;         ///< steps done so far (1-based after the first)
  std::size_t total_steps = 0;  ///< the run's length
  std::size_t syncs = 0;        ///< syncs so far
  std::uint64_t monitor_bytes = 0;  ///< monitoring bytes so far (cost model)
  std::uint64_t sync_bytes = 0;     ///< sync bytes so far (cost model)
  bool synced = false;  ///< this step ended with a sync
  double estimate = 0;  ///< H of this step's check (NaN when none)
  double theta = 0;     ///< Θ in force
  double wall_seconds = 0;  ///< time since the run began
};

/// At the end of an epoch.
template <class T>
struct epoch_info {
  std::size_t epoch = 0;  ///< epochs done (1-based)
  std::size_t step = 0;   ///< steps done so far
  std::size_t total_steps = 0;  ///< the run's length
  std::size_t syncs = 0;        ///< syncs so far
  std::uint64_t monitor_bytes = 0;  ///< monitoring bytes so far (cost model)
  std::uint64_t sync_bytes = 0;     ///< sync bytes so far (cost model)
  double theta = 0;         ///< Θ in force at the epoch's end
  double wall_seconds = 0;  ///< time since the run began
  std::span<const T> averaged_model = {};  ///< mean of the workers' current models
  std::map<std::string, double> metrics = {};  ///< filled by evaluators, read by loggers
};

namespace detail {

/// One function object per hook: callable exactly when the callback has that hook.
struct on_begin_hook {
  template <class C, class... A>
  auto operator()(C& c, A&&... a) const -> decltype(c.on_begin(std::forward<A>(a)...)) {
    return c.on_begin(std::forward<A>(a)...);
  }
};
struct on_step_hook {
  template <class C, class... A>
  auto operator()(C& c, A&&... a) const -> decltype(c.on_step(std::forward<A>(a)...)) {
    return c.on_step(std::forward<A>(a)...);
  }
};
struct on_sync_hook {
  template <class C, class... A>
  auto operator()(C& c, A&&... a) const -> decltype(c.on_sync(std::forward<A>(a)...)) {
    return c.on_sync(std::forward<A>(a)...);
  }
};
struct on_epoch_hook {
  template <class C, class... A>
  auto operator()(C& c, A&&... a) const -> decltype(c.on_epoch(std::forward<A>(a)...)) {
    return c.on_epoch(std::forward<A>(a)...);
  }
};
struct on_end_hook {
  template <class C, class... A>
  auto operator()(C& c, A&&... a) const -> decltype(c.on_end(std::forward<A>(a)...)) {
    return c.on_end(std::forward<A>(a)...);
  }
};

/// Calls the hook on every callback that has it, in order; true when one asks to stop
/// (the others still run: a logger sees the step that a stopper ended).
template <class Hook, class... A, class... C>
bool call_hooks(Hook hook, std::tuple<C...>& callbacks, A&... args) {
  bool stop = false;
  std::apply(
      [&](auto&... c) {
        [[maybe_unused]] auto one = [&](auto& cb) {
          if constexpr (std::is_invocable_v<Hook, decltype(cb), A&...>) {
            using R = std::invoke_result_t<Hook, decltype(cb), A&...>;
            if constexpr (std::is_convertible_v<R, bool>)
              stop = static_cast<bool>(hook(cb, args...)) || stop;
            else
              hook(cb, args...);
          }
        };
        (one(c), ...);
      },
      callbacks);
  return stop;
}

/// True when some callback wants a hook (so the trainer can skip the work it needs).
template <class Hook, class Tuple, class... A>
inline constexpr bool any_has_hook = false;
template <class Hook, class... C, class... A>
inline constexpr bool any_has_hook<Hook, std::tuple<C...>, A...> =
    (std::is_invocable_v<Hook, C&, A&...> || ...);

}  // namespace detail
}  // namespace fda
