// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Aggregator traits: the one place where fda detects the optional members of an
/// aggregator and of its server state, and gives each its default (docs/concepts.md:
/// Aggregator). The trainer, checkpoints and logs read these members only through
/// fda::aggregator_traits, so each hook has one spelling and one default, documented here.
#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>

#include "combine_rule.hpp"

namespace fda {

namespace detail {

// A member variable template takes its requires-expression from a concept: nvcc (EDG)
// evaluates one written in such an initializer as false.
template <class S, class F>
concept server_state_fields = requires(S& s, F& f) { s.state_fields(f); };

template <class A>
constexpr std::string_view aggregator_name() {
  if constexpr (requires { std::string_view(A::name); })
    return std::string_view(A::name);
  else
    return "(unnamed aggregator)";
}

}  // namespace detail

/// What fda::train reads from an aggregator A beyond its required `state<T>` with
/// `apply(x, avg)`: each optional member, detected here once, with its default.
template <class A>
struct aggregator_traits {
  /// True when A has `static constexpr std::string_view name`.
  static constexpr bool has_name = requires { std::string_view(A::name); };
  /// A::name, in checkpoints' run record and logs; "(unnamed aggregator)" when A has none.
  static constexpr std::string_view name = detail::aggregator_name<A>();

  /// True when A has `std::string describe() const` (its name and every setting).
  static constexpr bool has_describe = requires(const A& a) {
    { a.describe() } -> std::convertible_to<std::string>;
  };

  /// What a checkpoint's run record and logs say `a` is: a.describe(), else A::name, else
  /// "(unnamed aggregator)" (a checkpoint then cannot tell two such aggregators apart, nor a
  /// change of their settings: give a custom one `name` and `describe()`).
  static std::string describe(const A& a) {
    if constexpr (has_describe)
      return std::string(a.describe());
    else
      return std::string(name);
  }

  /// a.weighted (a field, or a static constant): true when the trainer must weight the
  /// workers' mean by their sample counts (the workers' samples()). Default: false.
  static constexpr bool weighted(const A& a) noexcept {
    if constexpr (requires { a.weighted; })
      return static_cast<bool>(a.weighted);
    else
      return false;
  }

  /// `state<T>::replaces_model` (a static constant): true when apply sets x ← avg exactly for
  /// every configuration, so the trainer swaps buffers instead of running apply (no pass
  /// over d) and may run on device parameters. Default: false.
  template <class T>
  static constexpr bool replaces_model() {
    if constexpr (requires { A::template state<T>::replaces_model; })
      return A::template state<T>::replaces_model;
    else
      return false;
  }

  /// replaces_model<T>() for this configuration: `a.replaces_model()` when A has it (an
  /// aggregator chosen at run time, a variant of several), else the compile-time answer.
  /// With K = 1 such an aggregator's syncs are skipped (the average of one model is that model).
  template <class T>
  static bool replaces_model(const A& a) {
    if constexpr (requires { { a.replaces_model() } -> std::convertible_to<bool>; })
      return static_cast<bool>(a.replaces_model());
    else
      return replaces_model<T>();
  }

  /// True when A has `fda::combine_rule combine_rule() const`: an order statistic (robust
  /// aggregation: coordinate_median, trimmed_mean), which needs host parameters.
  static constexpr bool is_robust = requires(const A& a) { a.combine_rule(); };

  /// a.combine_rule(): how the workers' values of one element become the aggregate.
  /// Default: the weighted mean.
  static fda::combine_rule combine_rule(const A& a) {
    if constexpr (is_robust)
      return a.combine_rule();
    else
      return {};
  }

  /// True when the server state S (A::state<T>) has `template <class F> void state_fields(F&& f)`.
  template <class S, class F>
  static constexpr bool has_state_fields = detail::server_state_fields<S, F>;

  /// s.state_fields(f) on the server state s (A::state<T>): calls f on every member that
  /// changes during a run (momentum, moments), so a checkpoint saves and restores them.
  /// Default: nothing (a stateless server; a state without state_fields restarts on resume).
  template <class S, class F>
  static void state_fields(S& s, F&& f) {
    if constexpr (has_state_fields<S, F>) s.state_fields(f);
  }
};

/// The aggregator's rule for combining the workers' values: its combine_rule(), or the mean
/// (aggregator_traits<A>::combine_rule).
template <class A>
combine_rule combine_rule_of(const A& a) {
  return aggregator_traits<A>::combine_rule(a);
}

namespace detail {
using fda::combine_rule_of;
}  // namespace detail

}  // namespace fda
