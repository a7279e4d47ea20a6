// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Policy and monitor traits: the one place where fda detects the optional members of a
/// sync policy and of its monitor, and gives each its default (docs/concepts.md: Policy,
/// Monitor). The trainer reads these members only through fda::policy_traits and
/// fda::monitor_traits, never by name elsewhere, so each hook has one spelling and one
/// default, documented here.
#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>

#include "../params.hpp"

namespace fda {

/// What an adaptive Θ calibrates on: the quantity the policy compares with Θ, measured at
/// each sync. Variance-based policies compare an estimate of Var; max_drift compares each
/// worker's own ||u_k||², whose largest value ends the round. A policy says which with
/// `static constexpr fda::calibration calibrates_on = ...` (default: variance).
enum class calibration {
  variance,      ///< sync_info::variance
  max_sq_drift,  ///< sync_info::max_sq_drift
};

namespace detail {

/// The monitor P declares for T parameters in memory space Space; no `type` when it has none.
template <class P, class T, class Space>
struct monitor_of {};
template <class P, class T, class Space>
  requires requires { typename P::template monitor<T, Space>; }
struct monitor_of<P, T, Space> {
  using type = typename P::template monitor<T, Space>;
};
// A monitor<T> without a space parameter serves host parameters only.
template <class P, class T>
  requires(!requires { typename P::template monitor<T, host_space>; }) && requires { typename P::template monitor<T>; }
struct monitor_of<P, T, host_space> {
  using type = typename P::template monitor<T>;
};

// Member variable templates below take their requires-expressions from these concepts:
// nvcc (EDG) evaluates a requires-expression written in such an initializer as false.
template <class P, class T, class Space>
concept declares_monitor = requires { typename monitor_of<P, T, Space>::type; };
template <class P, class T>
concept declares_monitor_without_space =
    requires { typename P::template monitor<T>; } && !requires { typename P::template monitor<T, host_space>; };
template <class M, class F>
concept visits_state_fields = requires(M& m, F& f) { m.state_fields(f); };

template <class P>
constexpr std::string_view policy_name() {
  if constexpr (requires { std::string_view(P::name); })
    return std::string_view(P::name);
  else
    return "(unnamed policy)";
}

}  // namespace detail

/// What fda::train reads from a sync policy P beyond its monitor's protocol: each optional
/// member, detected here once, with its default when P does not declare it.
template <class P>
struct policy_traits {
  /// True when P has `static constexpr std::string_view name` (required: logs, errors and
  /// checkpoints name the policy by it).
  static constexpr bool has_name = requires { std::string_view(P::name); };
  /// P::name; "(unnamed policy)" when P has none.
  static constexpr std::string_view name = detail::policy_name<P>();

  /// The monitor of a run with T parameters in memory space Space: `P::monitor<T, Space>`;
  /// for host_space, `P::monitor<T>` too (a policy that declares no space serves host
  /// parameters only). No type when P declares neither.
  template <class T, class Space = host_space>
  using monitor = typename detail::monitor_of<P, T, Space>::type;

  /// True when P declares a monitor for T parameters in Space (see monitor).
  template <class T, class Space = host_space>
  static constexpr bool has_monitor = detail::declares_monitor<P, T, Space>;

  /// True when P declares `monitor<T>` without a memory-space parameter: it runs on host
  /// parameters only (declare `template <class T, class Space = fda::host_space> monitor`).
  template <class T>
  static constexpr bool monitor_without_space = detail::declares_monitor_without_space<P, T>;

  /// P::host_memory_only: true when the monitor reads the parameters in host memory
  /// whatever their space (exact_variance copies whole drifts), so P cannot run on device
  /// parameters. Default: false.
  static constexpr bool host_memory_only = [] {
    if constexpr (requires { P::host_memory_only; })
      return bool(P::host_memory_only);
    else
      return false;
  }();

  /// P::calibrates_on: the quantity an adaptive Θ calibrates on (fda::calibration).
  /// Default: calibration::variance.
  static constexpr calibration calibrates_on = [] {
    if constexpr (requires { P::calibrates_on; })
      return calibration(P::calibrates_on);
    else
      return calibration::variance;
  }();

  /// True when fda::train can run P on T parameters in memory space Space: P has a monitor
  /// for that space and, off the host, is not host_memory_only.
  template <class Space, class T = float>
  static constexpr bool supports_space =
      has_monitor<T, Space> && (std::same_as<Space, host_space> || !host_memory_only);

  /// p.theta.is_adaptive(): true when p's Θ tunes itself (fda::adaptive), so every sync
  /// also measures what it calibrates on. Default (a schedule; a Θ without is_adaptive()): false.
  static constexpr bool is_adaptive(const P& p) {
    if constexpr (requires { p.theta.is_adaptive(); })
      return p.theta.is_adaptive();
    else
      return false;
  }
};

/// What the trainer reads from a monitor M (the object a policy makes for a run) beyond
/// the protocol fda::sync_policy checks: each optional member, detected here once.
template <class M>
struct monitor_traits {
  /// m.non_negative(field): true when that field of a local state can never be negative
  /// (a squared norm), so a negative value is a fault of kind negative_square
  /// (fda::find_state_fault). Default: false (field names are for messages only).
  static bool non_negative(const M& m, std::size_t field) {
    if constexpr (requires { { m.non_negative(field) } -> std::convertible_to<bool>; })
      return bool(m.non_negative(field));
    else
      return false;
  }

  /// m.impossible_field(state): the index of a field no honest worker can produce (e.g.
  /// |ξ·u| > ||ξ||·||u|| for linear_fda), or state.size() when all is well. Default:
  /// state.size() (no such check).
  static std::size_t impossible_field(const M& m, std::span<const double> state) {
    if constexpr (requires { { m.impossible_field(state) } -> std::convertible_to<std::size_t>; })
      return m.impossible_field(state);
    else
      return state.size();
  }

  /// True when M has `template <class F> void state_fields(F&& f)` for a visitor F.
  template <class F>
  static constexpr bool has_state_fields = detail::visits_state_fields<M, F>;

  /// m.state_fields(f): calls f on every member that changes during a run (Θ, ξ, ...), so a
  /// checkpoint saves and restores them. Default: nothing (a stateless monitor; a monitor
  /// with state but no state_fields restarts it on resume).
  template <class F>
  static void state_fields(M& m, F&& f) {
    if constexpr (has_state_fields<F>) m.state_fields(f);
  }
};

}  // namespace fda
