#pragma once
/// Kernels over parameter views: one pass, no temporaries, accumulation in double.
///
/// Every function accepts anything `fda::view` accepts (or a param_view) and checks that
/// the sizes agree, naming the argument that differs. Reductions are deterministic and
/// independent of segmentation (see detail/traverse.hpp).
#include <cmath>

#include "detail/traverse.hpp"
#include "params.hpp"

// Clang contracts a*b+c within one expression wherever the ISA has FMA (-march=native):
// not in these kernels, whose results must not depend on the build (detail/isa.hpp).
#if defined(__clang__)
#pragma float_control(push)
#pragma clang fp contract(off)
#endif

namespace fda {

/// Statistics of a worker's drift u = w - w0 against a direction xi.
struct drift_stats {
  double sq_norm = 0.0;  ///< ||w - w0||²
  double dot = 0.0;      ///< xi · (w - w0)
};

/// ||w - w0||² and xi · (w - w0) in one pass over the three arrays.
template <viewable W, viewable W0, viewable Xi>
drift_stats drift(const W& w, const W0& w0, const Xi& xi) {
  const auto& vw = detail::as_view(w);
  const auto& vw0 = detail::as_view(w0);
  const auto& vxi = detail::as_view(xi);
  detail::require_same_size("fda::drift", {"w", "w0", "xi"}, vw, vw0, vxi);
  const auto t = detail::reduce<2>(
      [](auto& acc, std::size_t l, auto a, auto b, auto x) {
        const double u = double(a) - double(b);
        acc[0][l] += u * u;
        acc[1][l] += double(x) * u;
      },
      vw, vw0, vxi);
  return {t[0], t[1]};
}

/// ||a - b||².
template <viewable A, viewable B>
double sq_distance(const A& a, const B& b) {
  const auto& va = detail::as_view(a);
  const auto& vb = detail::as_view(b);
  detail::require_same_size("fda::sq_distance", {"a", "b"}, va, vb);
  return detail::reduce<1>(
      [](auto& acc, std::size_t l, auto x, auto y) {
        const double u = double(x) - double(y);
        acc[0][l] += u * u;
      },
      va, vb)[0];
}

/// ||v||².
template <viewable V>
double sq_norm(const V& v) {
  return detail::reduce<1>(
      [](auto& acc, std::size_t l, auto x) { acc[0][l] += double(x) * double(x); },
      detail::as_view(v))[0];
}

/// a · b.
template <viewable A, viewable B>
double dot(const A& a, const B& b) {
  const auto& va = detail::as_view(a);
  const auto& vb = detail::as_view(b);
  detail::require_same_size("fda::dot", {"a", "b"}, va, vb);
  return detail::reduce<1>(
      [](auto& acc, std::size_t l, auto x, auto y) { acc[0][l] += double(x) * double(y); }, va,
      vb)[0];
}

/// y ← y + a·x.
template <viewable X, viewable Y>
void axpy(double a, const X& x, Y&& y) {
  const auto& vx = detail::as_view(x);
  const auto& vy = detail::as_view(y);
  detail::require_same_size("fda::axpy", {"y", "x"}, vy, vx);
  using T = typename std::remove_cvref_t<decltype(vy)>::value_type;
  detail::for_each_element([a](auto xi, auto& yi) { yi = T(double(yi) + a * double(xi)); }, vx,
                           vy);
}

/// x ← a·x.
template <viewable X>
void scale(double a, X&& x) {
  const auto& vx = detail::as_view(x);
  using T = typename std::remove_cvref_t<decltype(vx)>::value_type;
  detail::for_each_element([a](auto& xi) { xi = T(a * double(xi)); }, vx);
}

/// dst ← src (element types may differ: float ↔ double).
template <viewable Src, viewable Dst>
void copy(const Src& src, Dst&& dst) {
  const auto& vs = detail::as_view(src);
  const auto& vd = detail::as_view(dst);
  detail::require_same_size("fda::copy", {"dst", "src"}, vd, vs);
  using T = typename std::remove_cvref_t<decltype(vd)>::value_type;
  detail::for_each_element([](auto s, auto& d) { d = T(s); }, vs, vd);
}

/// x ← value everywhere.
template <viewable X>
void fill(X&& x, double value) {
  const auto& vx = detail::as_view(x);
  using T = typename std::remove_cvref_t<decltype(vx)>::value_type;
  detail::for_each_element([v = T(value)](auto& xi) { xi = v; }, vx);
}

/// True when every element is finite (no NaN, no ±Inf).
template <viewable V>
bool all_finite(const V& v) {
  // sum of x·0 is 0 for finite x and NaN otherwise: one branch-free pass.
  return detail::reduce<1>([](auto& acc, std::size_t l, auto x) { acc[0][l] += double(x) * 0.0; },
                           detail::as_view(v))[0] == 0.0;
}

}  // namespace fda

#if defined(__clang__)
#pragma float_control(pop)
#endif
