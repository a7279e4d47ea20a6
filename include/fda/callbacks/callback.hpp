// SPDX-License-Identifier: Apache-2.0
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
///
/// A callback with a member named like a hook that cannot be called with what the trainer
/// passes (above; on_epoch with epoch_info<double>& on float workers, a hook taking a
/// non-const reference to run_info, a non-const hook of a callback passed as const) does
/// not compile: fda::train's first error names the hook and what it is called with
/// (detail::check_callbacks). The name is found with `&C::on_epoch`, so this covers a
/// single non-template member function (or a data member, such as a std::function); a
/// template or overloaded hook is taken as it is: called when it can be, else skipped.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
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
  /// The workers' current models averaged as the aggregator weights them (without workers
  /// left out): what fda::evaluate_average evaluates. With fda::mean, the model to deploy.
  std::span<const T> averaged_model = {};
  /// The server's global model x from the last sync (the initial model before any): with a
  /// server optimizer (fedavgm, fedadam, ...) the FedOpt model, which differs from the average.
  std::span<const T> global_model = {};
  std::map<std::string, double> metrics = {};  ///< filled by evaluators, read by loggers
  /// Simulated communication time so far, in seconds (fda::simulated_network); 0 on a
  /// transport that simulates none. (Last: initializers written before it still compile.)
  double network_seconds = 0;
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

/// True when C names a hook: a single non-template member (function or data) of that name.
template <class C>
concept names_on_begin = requires { &C::on_begin; };
/// True when C names on_step (see names_on_begin).
template <class C>
concept names_on_step = requires { &C::on_step; };
/// True when C names on_sync (see names_on_begin).
template <class C>
concept names_on_sync = requires { &C::on_sync; };
/// True when C names on_epoch (see names_on_begin).
template <class C>
concept names_on_epoch = requires { &C::on_epoch; };
/// True when C names on_end (see names_on_begin).
template <class C>
concept names_on_end = requires { &C::on_end; };

/// For callback C (possibly const, as the trainer holds it) and T parameters: each hook that
/// C names but the trainer cannot call with what it passes.
template <class T, class C>
struct unusable_hooks {
  using B = std::remove_cv_t<C>;
  static constexpr bool on_begin = names_on_begin<B> && !std::is_invocable_v<on_begin_hook, C&, const run_info&>;
  static constexpr bool on_step = names_on_step<B> && !std::is_invocable_v<on_step_hook, C&, const step_info&>;
  static constexpr bool on_sync = names_on_sync<B> && !std::is_invocable_v<on_sync_hook, C&, const sync_record&>;
  static constexpr bool on_epoch = names_on_epoch<B> && !std::is_invocable_v<on_epoch_hook, C&, epoch_info<T>&>;
  static constexpr bool on_end = names_on_end<B> && !std::is_invocable_v<on_end_hook, C&, const result&>;
};

/// The first hook that callback C names but the trainer cannot call, or "" when there is none.
template <class T, class C>
constexpr std::string_view unusable_hook() {
  using U = unusable_hooks<T, C>;
  return U::on_begin ? "on_begin" : U::on_step ? "on_step" : U::on_sync ? "on_sync" : U::on_epoch ? "on_epoch"
       : U::on_end   ? "on_end"
                     : "";
}

/// Fails to compile, naming the hook and its argument, when callback C (as the trainer
/// holds it: C or const C) has a hook the trainer cannot call for T parameters; true otherwise.
template <class T, class C>
constexpr bool check_callback() {
  using B = std::remove_cv_t<C>;
  if constexpr (unusable_hooks<T, C>::on_begin) {
    static_assert(!std::is_invocable_v<on_begin_hook, B&, const run_info&>,
                  "fda: a callback passed as a const object has an on_begin that is not const: pass the callback "
                  "non-const, or make on_begin a const member function");
    static_assert(std::is_invocable_v<on_begin_hook, B&, const run_info&>,
                  "fda: a callback's on_begin cannot be called with const fda::run_info&: take const "
                  "fda::run_info& (or a copy)");
  }
  if constexpr (unusable_hooks<T, C>::on_step) {
    static_assert(!std::is_invocable_v<on_step_hook, B&, const step_info&>,
                  "fda: a callback passed as a const object has an on_step that is not const: pass the callback "
                  "non-const, or make on_step a const member function");
    static_assert(std::is_invocable_v<on_step_hook, B&, const step_info&>,
                  "fda: a callback's on_step cannot be called with const fda::step_info&: take const "
                  "fda::step_info& (or a copy)");
  }
  if constexpr (unusable_hooks<T, C>::on_sync) {
    static_assert(!std::is_invocable_v<on_sync_hook, B&, const sync_record&>,
                  "fda: a callback passed as a const object has an on_sync that is not const: pass the callback "
                  "non-const, or make on_sync a const member function");
    static_assert(std::is_invocable_v<on_sync_hook, B&, const sync_record&>,
                  "fda: a callback's on_sync cannot be called with const fda::sync_record&: take const "
                  "fda::sync_record& (or a copy)");
  }
  if constexpr (unusable_hooks<T, C>::on_epoch) {
    static_assert(!std::is_invocable_v<on_epoch_hook, B&, epoch_info<T>&>,
                  "fda: a callback passed as a const object has an on_epoch that is not const: pass the callback "
                  "non-const, or make on_epoch a const member function");
    static_assert(std::is_invocable_v<on_epoch_hook, B&, epoch_info<T>&>,
                  "fda: a callback's on_epoch cannot be called with fda::epoch_info<T>& for this run's T (float "
                  "or double): take fda::epoch_info<T>& (or const&), or make it a template");
  }
  if constexpr (unusable_hooks<T, C>::on_end) {
    static_assert(!std::is_invocable_v<on_end_hook, B&, const result&>,
                  "fda: a callback passed as a const object has an on_end that is not const: pass the callback "
                  "non-const, or make on_end a const member function");
    static_assert(std::is_invocable_v<on_end_hook, B&, const result&>,
                  "fda: a callback's on_end cannot be called with const fda::result&: take const fda::result& "
                  "(or a copy)");
  }
  return true;
}

/// check_callback for every callback of a run: Callbacks is the trainer's std::tuple of them
/// (values or references, as fda::train stores them), T the run's parameter type. Once per
/// run, from fda::train (both transports), before anything runs.
template <class T, class Callbacks>
constexpr bool check_callbacks() {
  return []<class... C>(std::type_identity<std::tuple<C...>>) {
    return (check_callback<T, std::remove_reference_t<C>>() && ... && true);
  }(std::type_identity<Callbacks>{});
}

}  // namespace detail
}  // namespace fda
