// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Kernels over parameter views: one pass, no temporaries, accumulation in double.
///
/// Every function accepts anything `fda::view` accepts (or a param_view) and checks that
/// the sizes agree, naming the argument that differs. Each is written once: it checks, then
/// hands the per-element term or op of detail/terms.hpp to the primitives of the views'
/// memory space, fda::space_traits<Space> (space.hpp): the host's (blocked, vectorized,
/// deterministic and independent of segmentation: detail/traverse.hpp), the device's
/// (<fda/thrust.hpp>), or a user's. The views of one call must share a memory space, but
/// copy, which also moves between host memory and another space.
#include <array>
#include <concepts>
#include <cstddef>
#include <type_traits>

#include "detail/terms.hpp"
#include "detail/traverse.hpp"
#include "params.hpp"

namespace fda {

/// Statistics of a worker's drift u = w - w0 against a direction xi.
struct drift_stats {
  double sq_norm = 0.0;  ///< ||w - w0||²
  double dot = 0.0;      ///< xi · (w - w0)
};

namespace detail {

/// The memory space of a param_view type (cv and references ignored).
template <class V>
using space_of = typename std::remove_cvref_t<V>::space;

/// The one memory space of the views V...: a mix does not compile (it would read memory
/// of one space as if it were another's).
template <class First, class... Rest>
struct common_space {
  static_assert((std::same_as<space_of<First>, space_of<Rest>> && ...),
                "fda: a kernel was given views of different memory spaces (a host kernel was "
                "given a view of device memory, or the reverse): pass views of one memory space; "
                "fda::copy moves parameters between spaces, and device views need <fda/thrust.hpp>");
  using type = space_of<First>;
};

/// The primitives of the views' common memory space.
template <class... V>
using backend_of = space_traits<typename common_space<V...>::type>;

/// Σ of N terms over equally long views, in their memory space (space_traits::reduce).
template <std::size_t N, class Term, class... V>
std::array<double, N> reduce_in_space(const Term& term, const V&... views) {
  return backend_of<V...>::template reduce<N>(term, views...);
}

/// op on every element of equally long views, in their memory space (space_traits::for_each).
template <class Op, class... V>
void for_each_in_space(const Op& op, const V&... views) {
  backend_of<V...>::for_each(op, views...);
}

/// dst ← src between two memory spaces: the copy primitive of the space that has one
/// (a space other than host memory supplies it, both ways).
template <class Src, class Dst>
void copy_across_spaces(const Src& src, const Dst& dst) {
  using to = space_traits<space_of<Dst>>;
  using from = space_traits<space_of<Src>>;
  if constexpr (requires { to::copy(src, dst); })
    to::copy(src, dst);
  else if constexpr (requires { from::copy(src, dst); })
    from::copy(src, dst);
  else
    static_assert(always_false<Src>,
                  "fda::copy: no copy between these memory spaces: the space other than host "
                  "memory supplies fda::space_traits<Space>::copy(src, dst), both ways (docs/concepts.md)");
}

}  // namespace detail

/// ||w - w0||² and xi · (w - w0) in one pass over the three arrays.
template <viewable W, viewable W0, viewable Xi>
drift_stats drift(const W& w, const W0& w0, const Xi& xi) {
  const auto& vw = detail::as_view(w);
  const auto& vw0 = detail::as_view(w0);
  const auto& vxi = detail::as_view(xi);
  detail::require_same_size("fda::drift", {"w", "w0", "xi"}, vw, vw0, vxi);
  const auto t = detail::reduce_in_space<2>(detail::drift_term{}, vw, vw0, vxi);
  return {t[0], t[1]};
}

/// ||a - b||².
template <viewable A, viewable B>
double sq_distance(const A& a, const B& b) {
  const auto& va = detail::as_view(a);
  const auto& vb = detail::as_view(b);
  detail::require_same_size("fda::sq_distance", {"a", "b"}, va, vb);
  return detail::reduce_in_space<1>(detail::sq_distance_term{}, va, vb)[0];
}

/// ||v||².
template <viewable V>
double sq_norm(const V& v) {
  return detail::reduce_in_space<1>(detail::sq_norm_term{}, detail::as_view(v))[0];
}

/// a · b.
template <viewable A, viewable B>
double dot(const A& a, const B& b) {
  const auto& va = detail::as_view(a);
  const auto& vb = detail::as_view(b);
  detail::require_same_size("fda::dot", {"a", "b"}, va, vb);
  return detail::reduce_in_space<1>(detail::dot_term{}, va, vb)[0];
}

/// y ← y + a·x.
template <viewable X, viewable Y>
void axpy(double a, const X& x, Y&& y) {
  const auto& vx = detail::as_view(x);
  const auto& vy = detail::as_view(y);
  detail::require_same_size("fda::axpy", {"y", "x"}, vy, vx);
  detail::for_each_in_space(detail::axpy_op{a}, vx, vy);
}

/// x ← a·x.
template <viewable X>
void scale(double a, X&& x) {
  detail::for_each_in_space(detail::scale_op{a}, detail::as_view(x));
}

/// dst ← src (element types may differ: float ↔ double). The views may also be of host
/// memory and of another space (device memory with <fda/thrust.hpp>), either way.
template <viewable Src, viewable Dst>
void copy(const Src& src, Dst&& dst) {
  const auto& vs = detail::as_view(src);
  const auto& vd = detail::as_view(dst);
  detail::require_same_size("fda::copy", {"dst", "src"}, vd, vs);
  if constexpr (std::same_as<detail::space_of<decltype(vs)>, detail::space_of<decltype(vd)>>)
    detail::for_each_in_space(detail::copy_op{}, vs, vd);
  else
    detail::copy_across_spaces(vs, vd);
}

/// x ← value everywhere.
template <viewable X>
void fill(X&& x, double value) {
  const auto& vx = detail::as_view(x);
  using T = typename std::remove_cvref_t<decltype(vx)>::value_type;
  detail::for_each_in_space(detail::fill_op<T>{T(value)}, vx);
}

/// True when every element is finite (no NaN, no ±Inf).
template <viewable V>
bool all_finite(const V& v) {
  // sum of x·0 is 0 for finite x and NaN otherwise: one branch-free pass.
  return detail::reduce_in_space<1>(detail::finite_term{}, detail::as_view(v))[0] == 0.0;
}

}  // namespace fda
