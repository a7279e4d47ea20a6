// SPDX-License-Identifier: Apache-2.0
#pragma once
/// What a sync computes: the aggregator concept and the pieces every aggregator shares.
///
/// An aggregator is a small config struct A (designated initializers welcome) with
///   - `typename A::template state<T>` for T = float or double (the parameter type),
///     constructible as `state<T>(const A& config, std::size_t dim)`; the constructor
///     validates the config and the state keeps the server's per-element memory (m, v);
///   - `state.apply(x, avg)`: x is the global model w0 (updated in place), avg the
///     (possibly sample-weighted) mean of the workers' models; with Δ = avg - x the
///     aggregator updates x in one fused pass. apply is deterministic, so every rank may
///     run it redundantly after an all-reduce and all end with the same x.
/// Optional members, each read only through fda::aggregator_traits (traits.hpp, where each
/// is documented with its default): `weighted` (weight the mean by sample counts), the
/// state's `static constexpr bool replaces_model` (apply sets x ← avg exactly: the trainer
/// swaps buffers instead, no pass over d) or the aggregator's run-time `bool
/// replaces_model() const` (a variant of several; with K = 1 its syncs are skipped),
/// `combine_rule()` (robust aggregation), the state's `state_fields(f)` (checkpoints), and
/// for checkpoints' run record and logs `static constexpr std::string_view name` and
/// `std::string describe() const` (the name and every setting, e.g. "fedadam{lr=0.01,
/// beta1=0.9, beta2=0.99, tau=0.001, weighted=false}"); every shipped aggregator has both.
/// weights_by_samples, replaces_model and describe_aggregator below are its short forms.
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../detail/traverse.hpp"
#include "../error.hpp"
#include "../params.hpp"
#include "traits.hpp"

namespace fda {

/// True when avg must be the mean weighted by the workers' sample counts n_k:
/// an aggregator opts in with a member `weighted` (aggregator_traits<A>::weighted).
template <class A>
constexpr bool weights_by_samples(const A& a) noexcept {
  return aggregator_traits<A>::weighted(a);
}

/// True when the aggregator's new global model is exactly the average, for every
/// configuration (aggregator_traits<A>::replaces_model<T>()).
template <class A, class T>
constexpr bool replaces_model() {
  return aggregator_traits<A>::template replaces_model<T>();
}

/// replaces_model<A, T>() for this configuration: the aggregator's own `replaces_model()`
/// when it has one (a run-time choice), else the compile-time answer
/// (aggregator_traits<A>::replaces_model<T>(a)).
template <class T, class A>
bool replaces_model(const A& a) {
  return aggregator_traits<A>::template replaces_model<T>(a);
}

namespace detail {

template <class A>
concept has_server_state = requires {
  typename A::template state<float>;
  typename A::template state<double>;
};

template <class A, class T>
concept server_state_for =
    std::constructible_from<typename A::template state<T>, const A&, std::size_t> &&
    requires(typename A::template state<T>& s, std::vector<T>& x, const std::vector<T>& avg,
             param_view<T> px) {
      s.apply(x, avg);
      s.apply(px, avg);
    };

}  // namespace detail

/// A server aggregation rule (mean, weighted_mean, fedavgm, fedadagrad, fedadam, fedyogi, ...).
template <class A>
concept aggregator = std::is_class_v<A> && std::copy_constructible<A> &&
                     detail::has_server_state<A> && detail::server_state_for<A, float> &&
                     detail::server_state_for<A, double>;

namespace detail {

/// `value` in the shortest form that reads back as the same double (std::to_chars):
/// 0.01, 0.30000000000000004, 1e-05, inf, nan.
inline std::string shortest(double value) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  return std::string(buf, end);
}

/// Builds an aggregator's description: name{field=value, ...}, or the bare name when it
/// has no setting. Doubles are written in their shortest round-trip form.
class description {
 public:
  /// Starts the description of the aggregator `name`.
  explicit description(std::string_view name) : text_(name) {}
  /// Appends a setting.
  description& operator()(std::string_view field, double value) { return add(field, shortest(value)); }
  /// Appends a flag (true or false).
  description& operator()(std::string_view field, bool value) { return add(field, value ? "true" : "false"); }
  /// The finished description.
  std::string str() const { return fields_ ? text_ + "}" : text_; }

 private:
  description& add(std::string_view field, const std::string& value) {
    text_ += fields_++ ? ", " : "{";
    text_.append(field).append("=").append(value);
    return *this;
  }
  std::string text_;
  int fields_ = 0;
};

/// Rounds a double result into a parameter or state element.
template <class E>
void store(E& e, double value) {
  e = static_cast<E>(value);
}

/// The one fused pass of every apply: checks that x, avg and the state agree in size
/// (naming them), then calls f(x_i, avg_i, s_i...) on every element, with s = the state's
/// vectors (m, v, ...) in order.
template <class F, class X, class Avg, class... S>
void server_pass(const char* who, std::size_t dim, F f, X& x, const Avg& avg,
                 std::vector<S>&... s) {
  const auto& vx = as_view(x);
  const auto& va = as_view(avg);
  static_assert(!std::is_const_v<typename std::remove_cvref_t<decltype(vx)>::element_type>,
                "fda aggregator: apply(x, avg) updates x in place; pass a mutable model");
  require_same_size(who, {"x", "avg"}, vx, va);
  if (vx.size() != dim)
    fail(who, ": 'x' has ", vx.size(), " elements but the aggregator state was made for dim = ",
         dim);
  for_each_element(f, vx, va, param_view<S>(std::span<S>(s))...);
}

}  // namespace detail

/// What the run record of a checkpoint (and a log) says an aggregator is: a.describe()
/// when it has one (its name and configuration), else A::name, else "(unnamed aggregator)"
/// (a user aggregator with neither: a checkpoint then cannot tell two such apart, nor a
/// change of their settings; give it `name` and `describe()`). aggregator_traits<A>::describe.
template <class A>
std::string describe_aggregator(const A& a) {
  return aggregator_traits<A>::describe(a);
}

namespace detail {
using fda::describe_aggregator;
}  // namespace detail

}  // namespace fda
