// SPDX-License-Identifier: Apache-2.0
// Kernels written once over a memory-space back end: a toy third memory space that supplies
// only the primitives of fda::space_traits (space.hpp), in plain loops over ordinary memory,
// runs every kernel, the AMS sketch and linear_fda through them (as Thrust's own tests do
// with a toy `my_system`). Two toys:
//   - host_order_space sums in the host back end's order (8 lanes by index, a fold per
//     block of 4096): every result must equal the host kernels' bit for bit;
//   - sequential_space sums in plain index order: results within 1e-12 (relative).
// Each counts its primitive calls, to show that the kernels go through them.
#include <fda/kernels.hpp>
#include <fda/policy/linear_fda.hpp>
#include <fda/policy/sketch_fda.hpp>
#include <fda/sketch.hpp>

#include <catch2/catch.hpp>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "support.hpp"

namespace toy {

/// A memory space tag; HostOrder: reductions in the host back end's order.
template <bool HostOrder>
struct space {};
using host_order_space = space<true>;
using sequential_space = space<false>;

/// The toy's owning container: ordinary memory, tagged with the toy space by param_access.
template <class T, class Space>
struct vector {
  std::vector<T> data;
  explicit vector(std::size_t n = 0) : data(n) {}
  template <class It>
  vector(It first, It last) : data(first, last) {}
  std::size_t size() const { return data.size(); }
};

/// Primitive calls, per space.
struct calls {
  int reduce = 0, for_each = 0, sketch = 0, copy = 0;
};
template <class Space>
calls counted;

/// Walks a param_view element by element (its segments in order).
template <class View>
struct walker {
  const View& view;
  std::size_t seg = 0, off = 0;
  auto& next() {
    auto& x = view.segments()[seg][off];
    if (++off == view.segments()[seg].size()) ++seg, off = 0;
    return x;
  }
};

/// Calls f(element_of_each_view&...) for every index, in order.
template <class F, class... V>
void each(F&& f, const V&... views) {
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  std::tuple<walker<V>...> w{walker<V>{views}...};
  for (std::size_t i = 0; i < n; ++i) std::apply([&](auto&... c) { f(i, c.next()...); }, w);
}

/// Σ of N terms over the views: in index order, or in the host's order (lane i mod 8, the
/// lanes folded pairwise at every multiple of 4096 and at the end). Each element's terms are
/// formed into zeros first, then added: the same roundings as acc += a·b, FMA or not.
template <bool HostOrder, std::size_t N, class Term, class... V>
std::array<double, N> sum(const Term& term, const V&... views) {
  std::array<double, N> total{};
  double lanes[N][8] = {};
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  each(
      [&](std::size_t i, const auto&... x) {
        std::array<double, N> part{};
        term(part, x...);
        for (std::size_t k = 0; k < N; ++k) {
          if (!HostOrder) {
            total[k] += part[k];
            continue;
          }
          lanes[k][i % 8] += part[k];
          if ((i + 1) % 4096 == 0 || i + 1 == n) {
            const double* a = lanes[k];
            total[k] += ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
            for (std::size_t l = 0; l < 8; ++l) lanes[k][l] = 0.0;
          }
        }
      },
      views...);
  return total;
}

}  // namespace toy

/// The toy's primitives: nothing else is needed for the kernels, the sketch and linear_fda.
template <bool HostOrder>
struct fda::space_traits<toy::space<HostOrder>> {
  using space = toy::space<HostOrder>;

  template <class T>
  using vector = toy::vector<T, space>;

  template <std::size_t N, class Term, class... V>
  static std::array<double, N> reduce(const Term& term, const V&... views) {
    ++toy::counted<space>.reduce;
    return toy::sum<HostOrder, N>(term, views...);
  }

  template <class Op, class... V>
  static void for_each(const Op& op, const V&... views) {
    ++toy::counted<space>.for_each;
    toy::each([&](std::size_t, auto&... x) { op(x...); }, views...);
  }

  /// counters += sk(v): every value into cell hashes.cell(r, i) of row r (cell c < width:
  /// +v at bucket c; else −v at bucket c − width). Host order: the positive and negative
  /// halves summed apart, in index order, then subtracted, as the host kernel does.
  template <class Hashes, class... V>
  static double sketch(const Hashes& hashes, double* counters, const V&... views) {
    ++toy::counted<space>.sketch;
    const std::size_t depth = hashes.depth, width = hashes.width;
    std::vector<double> cells(depth * 2 * width, 0.0);
    each(
        [&](std::size_t i, const auto&... x) {
          const double v = value(x...);
          for (std::size_t r = 0; r < depth; ++r) {
            const std::size_t c = std::size_t(hashes.cell(r, i));
            if (HostOrder) cells[r * 2 * width + c] += v;
            else counters[r * width + c % width] += c < width ? v : -v;
          }
        },
        views...);
    if (HostOrder)
      for (std::size_t r = 0; r < depth; ++r)
        for (std::size_t j = 0; j < width; ++j)
          counters[r * width + j] += cells[r * 2 * width + j] - cells[r * 2 * width + width + j];
    const auto square = [](auto& acc, const auto&... x) {
      const double v = value(x...);
      acc[0] += fda::detail::mul(v, v);
    };
    return toy::sum<HostOrder, 1>(square, views...)[0];
  }

  /// dst ← src between host memory and the toy space, either way.
  template <class S, class SS, class D, class DS>
    requires(std::same_as<SS, fda::host_space> || std::same_as<DS, fda::host_space>)
  static void copy(const fda::param_view<S, SS>& src, const fda::param_view<D, DS>& dst) {
    ++toy::counted<space>.copy;
    toy::each([](std::size_t, const auto& s, auto& d) { d = std::remove_cvref_t<decltype(d)>(s); }, src, dst);
  }

 private:
  template <class A>
  static double value(const A& a) {
    return double(a);
  }
  template <class A, class B>
  static double value(const A& a, const B& b) {
    return double(a) - double(b);
  }
};

/// toy::vector is viewed as memory of its toy space.
template <class T, class Space>
struct fda::param_access<toy::vector<T, Space>> {
  static fda::param_view<T, Space> view(toy::vector<T, Space>& v) {
    return fda::param_view<T, Space>(std::span<T>(v.data));
  }
  static fda::param_view<const T, Space> view(const toy::vector<T, Space>& v) {
    return fda::param_view<const T, Space>(std::span<const T>(v.data));
  }
};

namespace {

using fda_test::mixed_magnitude;

template <class T, class Space>
toy::vector<T, Space> to_toy(const std::vector<T>& v) {
  return toy::vector<T, Space>(v.begin(), v.end());
}

/// v cut into segments of pseudo-random lengths, viewed as one multi-segment toy view.
template <class Space, class T>
fda::param_view<T, Space> toy_view_of(std::vector<std::vector<T>>& parts) {
  fda::param_view<T, Space> all;
  for (auto& p : parts) all.append(std::span<T>(p));
  return all;
}

/// Equal (host order: `exact`) or within 1e-12 relative to `scale`.
bool close(double got, double want, bool exact, double scale = 0.0) {
  if (exact) return got == want || (std::isnan(got) && std::isnan(want));
  const double s = scale > 0.0 ? scale : std::fabs(want);
  return std::fabs(got - want) <= 1e-12 * s;
}

const std::size_t sizes[] = {1, 7, 4095, 4096, 4097, 50'003};

}  // namespace

TEMPLATE_TEST_CASE("every kernel runs on a toy memory space's primitives and matches the host", "",
                   toy::host_order_space, toy::sequential_space) {
  using Space = TestType;
  constexpr bool exact = std::same_as<Space, toy::host_order_space>;
  for (const std::size_t n : sizes) {
    INFO("n = " << n);
    const auto w = mixed_magnitude<float>(n, 1), w0 = mixed_magnitude<float>(n, 2), xi = mixed_magnitude<float>(n, 3);
    const auto wd = mixed_magnitude<double>(n, 4);
    const auto tw = to_toy<float, Space>(w), tw0 = to_toy<float, Space>(w0), txi = to_toy<float, Space>(xi);
    const auto twd = to_toy<double, Space>(wd);
    auto parts = fda_test::cut(w, 5);
    const auto pw = toy_view_of<Space>(parts);  // several segments, cut elsewhere than the others
    const toy::calls before = toy::counted<Space>;

    const auto h = fda::drift(w, w0, xi), t = fda::drift(tw, tw0, txi), tp = fda::drift(pw, tw0, txi);
    CHECK(close(t.sq_norm, h.sq_norm, exact));
    CHECK(close(t.dot, h.dot, exact, std::sqrt(fda::sq_norm(xi) * h.sq_norm)));
    CHECK(tp.sq_norm == t.sq_norm);  // segmentation never matters
    CHECK(tp.dot == t.dot);
    CHECK(close(fda::sq_norm(tw), fda::sq_norm(w), exact));
    CHECK(close(fda::sq_norm(twd), fda::sq_norm(wd), exact));
    CHECK(close(fda::sq_distance(twd, tw0), fda::sq_distance(wd, w0), exact));
    CHECK(close(fda::dot(tw, txi), fda::dot(w, xi), exact, std::sqrt(fda::sq_norm(w) * fda::sq_norm(xi))));
    CHECK(fda::all_finite(tw));
    CHECK(toy::counted<Space>.reduce - before.reduce == 7);

    // Element-wise kernels: the host's formula per element, so bit-identical in both toys.
    auto hy = wd;
    auto ty = to_toy<double, Space>(wd);
    fda::axpy(0.37, w, hy);
    fda::axpy(0.37, tw, ty);
    fda::scale(-1.25, hy);
    fda::scale(-1.25, ty);
    CHECK(ty.data == hy);
    std::vector<float> hf(n);
    toy::vector<float, Space> tf(n);
    fda::copy(hy, hf);
    fda::copy(ty, tf);  // double → float in the toy space
    CHECK(tf.data == hf);
    fda::fill(tf, 0.1);
    CHECK(tf.data == std::vector<float>(n, 0.1f));
    CHECK(toy::counted<Space>.for_each - before.for_each == 4);

    // Between host memory and the toy space: the toy's copy primitive, both ways.
    std::vector<double> back(n);
    fda::copy(ty, back);
    CHECK(back == hy);
    fda::copy(w, tf);  // float host → float toy
    CHECK(tf.data == w);
    CHECK(toy::counted<Space>.copy - before.copy == 2);

    auto bad = ty;
    bad.data[n / 2] = std::numeric_limits<double>::quiet_NaN();
    CHECK_FALSE(fda::all_finite(bad));
    CHECK_THROWS_WITH(fda::drift(tw, to_toy<float, Space>(std::vector<float>(n + 1)), txi),
                      Catch::Contains("'w0' has " + std::to_string(n + 1) + " elements but 'w' has"));
  }
}

TEMPLATE_TEST_CASE("the AMS sketch runs on a toy memory space's sketch primitive", "", toy::host_order_space,
                   toy::sequential_space) {
  using Space = TestType;
  constexpr bool exact = std::same_as<Space, toy::host_order_space>;
  for (const std::size_t n : sizes) {
    INFO("n = " << n);
    const auto w = mixed_magnitude<float>(n, 11), w0 = mixed_magnitude<float>(n, 12);
    const auto tw = to_toy<float, Space>(w), tw0 = to_toy<float, Space>(w0);
    const int before = toy::counted<Space>.sketch;
    fda::ams_sketch<double> h(5, 250, 3), t(5, 250, 3);
    h.add(w, 0.5);
    t.add(tw, 0.5);
    double scale = 0.0;
    for (double c : h.data()) scale = std::max(scale, std::fabs(c));
    for (std::size_t i = 0; i < h.data().size(); ++i) CHECK(close(t.data()[i], h.data()[i], exact, scale));
    CHECK(close(t.estimate_sq_norm(), h.estimate_sq_norm(), exact));

    // Two views (sketch_fda's w − w0), through the dispatch sketch_fda uses.
    const fda::detail::sketch_hashes hashes("test", 7, 100, 9);
    std::vector<double> ch(7 * 100, 0.0), ct(7 * 100, 0.0);
    const double sh = fda::detail::sketch_in_space(hashes, ch.data(), fda::view(w), fda::view(w0));
    const double st = fda::detail::sketch_in_space(hashes, ct.data(), fda::view(tw), fda::view(tw0));
    CHECK(close(st, sh, exact));
    scale = 0.0;
    for (double c : ch) scale = std::max(scale, std::fabs(c));
    for (std::size_t i = 0; i < ch.size(); ++i) CHECK(close(ct[i], ch[i], exact, scale));
    CHECK(toy::counted<Space>.sketch - before == 2);
  }
}

TEMPLATE_TEST_CASE("linear_fda's estimator and monitor keep xi in a toy memory space", "", toy::host_order_space,
                   toy::sequential_space) {
  using Space = TestType;
  constexpr bool exact = std::same_as<Space, toy::host_order_space>;
  // Host order: the toy stores the host's ξ exactly (float). Index order: ξ's norm differs
  // in the last bits, so ξ is compared in double, to 1e-12.
  using T = std::conditional_t<exact, float, double>;
  const std::size_t n = 30'011, k = 3;
  const fda::run_info info{.dim = n, .workers = k, .seed = 5};
  const fda::linear_fda policy{.theta = 1e-3};

  fda::linear_fda::estimator<T> eh(policy, info);
  fda::linear_fda::estimator<T, Space> et(policy, info);
  static_assert(std::same_as<typename decltype(et)::vector, toy::vector<T, Space>>);
  auto same_xi = [&] {
    REQUIRE(et.xi.size() == eh.xi.size());
    bool ok = close(et.xi_sq_norm, eh.xi_sq_norm, exact);
    for (std::size_t i = 0; i < n; ++i) ok = ok && close(double(et.xi.data[i]), double(eh.xi[i]), exact);
    return ok;
  };
  CHECK(same_xi());  // the first round's random unit ξ

  const auto w0 = mixed_magnitude<T>(n, 20, 1.0), w1 = mixed_magnitude<T>(n, 21, 1.0);
  const auto tw0 = to_toy<T, Space>(w0), tw1 = to_toy<T, Space>(w1);
  const int for_each_before = toy::counted<Space>.for_each;
  eh.on_sync(fda::view(w1), fda::view(w0));
  et.on_sync(fda::view(tw1), fda::view(tw0));
  CHECK(toy::counted<Space>.for_each - for_each_before == 2);  // ξ ← (w1 − w0) / step, ξ ← ξ / ||ξ||
  CHECK(same_xi());  // the direction of the step

  // The monitor: local states and decisions through the toy's primitives.
  fda::linear_fda::monitor<T> mh(policy, info);
  fda::linear_fda::monitor<T, Space> mt(policy, info);
  std::vector<double> sh(mh.state_size(), 0.0), st(mt.state_size(), 0.0), one(mh.state_size());
  for (std::size_t r = 0; r < k; ++r) {
    auto w = w0;
    fda::axpy(1.0, fda_test::gaussian<T>(n, 30 + r, 0.01), w);
    const auto tw = to_toy<T, Space>(w);
    mh.local_state(w, w0, one);
    for (std::size_t i = 0; i < one.size(); ++i) sh[i] += one[i];
    mt.local_state(tw, tw0, one);
    for (std::size_t i = 0; i < one.size(); ++i) st[i] += one[i];
  }
  CHECK(close(st[0], sh[0], exact));
  CHECK(close(st[1], sh[1], exact, std::sqrt(sh[0])));
  const auto dh = mh.decide(sh, 1), dt = mt.decide(st, 1);
  CHECK(dt.sync == dh.sync);
  CHECK(close(dt.estimate, dh.estimate, exact, sh[0]));
  mh.on_sync(w1, w0, {0.0, 1});
  mt.on_sync(tw1, tw0, {0.0, 1});

  // sketch_fda's monitor: the sketch of w − w0 on the toy space.
  fda::sketch_fda::monitor<T> kh(fda::sketch_fda{.theta = 1e-3}, info);
  fda::sketch_fda::monitor<T, Space> kt(fda::sketch_fda{.theta = 1e-3}, info);
  std::vector<double> ah(kh.state_size()), at(kt.state_size());
  kh.local_state(w1, w0, ah);
  kt.local_state(tw1, tw0, at);
  double scale = 0.0;
  for (double c : ah) scale = std::max(scale, std::fabs(c));
  for (std::size_t i = 0; i < ah.size(); ++i) CHECK(close(at[i], ah[i], exact, scale));
}
