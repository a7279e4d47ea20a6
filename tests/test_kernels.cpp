// SPDX-License-Identifier: Apache-2.0
#include <fda/kernels.hpp>

#include <catch2/catch.hpp>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "support.hpp"

using fda_test::cut;
using fda_test::mixed_magnitude;

TEST_CASE("drift, sq_norm and dot match a long-double reference on 1e7 mixed-magnitude floats") {
  const std::size_t n = 10'000'000;
  const auto w = mixed_magnitude(n, 1), w0 = mixed_magnitude(n, 2), xi = mixed_magnitude(n, 3);
  long double sq = 0, dt = 0, xx = 0, ww = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const long double u = (long double)w[i] - (long double)w0[i];
    sq += u * u;
    dt += (long double)xi[i] * u;
    xx += (long double)xi[i] * xi[i];
    ww += (long double)w[i] * w[i];
  }
  const auto d = fda::drift(w, w0, xi);
  const double e_sq = fda_test::rel_error(d.sq_norm, sq, sq);
  const double e_dot = fda_test::rel_error(d.dot, dt, std::sqrt(xx * sq));
  const double e_norm = fda_test::rel_error(fda::sq_norm(w), ww, ww);
  const double e_dist = fda_test::rel_error(fda::sq_distance(w, w0), sq, sq);
  WARN("relative error at n = 1e7: sq_norm(w - w0) " << e_sq << ", dot " << e_dot
                                                     << ", sq_norm(w) " << e_norm);
  CHECK(e_sq < 1e-6);
  CHECK(e_dot < 1e-6);
  CHECK(e_norm < 1e-6);
  CHECK(e_dist < 1e-6);
  // In practice the blocked double accumulation is far better than the bound asked for.
  CHECK(e_sq < 1e-12);
  CHECK(fda_test::rel_error(fda::dot(xi, w), 0, 1) ==
        fda_test::rel_error(fda::dot(w, xi), 0, 1));
}

TEST_CASE("a multi-segment view gives bit-identical results to its concatenation") {
  const std::size_t n = 100'003;
  const auto w = mixed_magnitude<double>(n, 4), w0 = mixed_magnitude<double>(n, 5),
             xi = mixed_magnitude<double>(n, 6);
  const auto pw = cut(w, 7), pw0 = cut(w0, 8), pxi = cut(xi, 9);
  const auto whole = fda::drift(w, w0, xi);
  const auto pieces = fda::drift(pw, pw0, pxi);
  CHECK(whole.sq_norm == pieces.sq_norm);
  CHECK(whole.dot == pieces.dot);
  CHECK(fda::sq_norm(w) == fda::sq_norm(pw));
  CHECK(fda::dot(w, xi) == fda::dot(pw, pxi));
  CHECK(fda::sq_distance(pw, w0) == fda::sq_distance(w, w0));

  auto y = w;
  auto py = cut(w, 10);
  fda::axpy(0.5, xi, y);
  fda::axpy(0.5, pxi, py);
  std::size_t i = 0;
  bool same = true;
  for (const auto& part : py)
    for (double v : part) same = same && v == y[i++];
  CHECK(same);
  CHECK(i == n);
}

TEST_CASE("element-wise kernels: axpy, scale, copy, fill") {
  std::vector<float> x{1, 2, 3, 4}, y{10, 20, 30, 40};
  fda::axpy(2.0, x, y);
  CHECK(y == std::vector<float>{12, 24, 36, 48});
  fda::scale(0.5, y);
  CHECK(y == std::vector<float>{6, 12, 18, 24});
  std::vector<double> z(4);
  fda::copy(y, z);
  CHECK(z == std::vector<double>{6, 12, 18, 24});
  fda::fill(z, -1.0);
  CHECK(z == std::vector<double>{-1, -1, -1, -1});
}

TEST_CASE("kernels reject views of different sizes and name the argument") {
  std::vector<float> a(10), b(9), c(10);
  CHECK_THROWS_WITH(fda::drift(a, b, c), Catch::Contains("'w0' has 9 elements but 'w' has 10"));
  CHECK_THROWS_WITH(fda::drift(a, c, b), Catch::Contains("'xi' has 9 elements"));
  CHECK_THROWS_AS(fda::dot(a, b), fda::invalid_argument);
  CHECK_THROWS_AS(fda::axpy(1.0, a, b), fda::invalid_argument);
  CHECK_THROWS_AS(fda::copy(a, b), fda::invalid_argument);
  CHECK_THROWS_AS(fda::sq_distance(a, b), fda::invalid_argument);
}

TEST_CASE("all_finite finds NaN and infinities anywhere") {
  std::vector<float> v(10'000, 1.0f);
  CHECK(fda::all_finite(v));
  v[7777] = std::numeric_limits<float>::quiet_NaN();
  CHECK_FALSE(fda::all_finite(v));
  v[7777] = -std::numeric_limits<float>::infinity();
  CHECK_FALSE(fda::all_finite(v));
  v[7777] = std::numeric_limits<float>::max();
  CHECK(fda::all_finite(v));
}

namespace {
/// Runs the kernels on at most path `p` while alive (detail/isa.hpp), then restores the default.
struct isa_scope {
  explicit isa_scope(fda::detail::isa p) { fda::detail::isa_ceiling = p; }
  ~isa_scope() { fda::detail::isa_ceiling = fda::detail::isa::avx512; }
  isa_scope(const isa_scope&) = delete;
  isa_scope& operator=(const isa_scope&) = delete;
};

const char* isa_name(fda::detail::isa p) {
  using fda::detail::isa;
  return p == isa::avx512 ? "avx512" : p == isa::avx2 ? "avx2" : p == isa::sse2 ? "sse2" : "portable";
}

bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }
}  // namespace

TEST_CASE("every instruction-set path gives the reductions of the portable one, bit for bit") {
  // Workers on different machines must make the same decisions: the ISA the kernels run
  // in (picked per CPU at run time) must not change a bit. Mixed magnitudes make any change
  // of rounding visible (an FMA contraction, which rounds a*b+c once, would show here).
  using fda::detail::isa;
  const isa best = fda::detail::cpu_isa();
  WARN("kernel paths on this CPU: portable up to " << isa_name(best));
  const std::size_t n = 100'003;
  const auto w = mixed_magnitude(n, 11), w0 = mixed_magnitude(n, 12), xi = mixed_magnitude(n, 13);
  const auto wd = mixed_magnitude<double>(n, 14), w0d = mixed_magnitude<double>(n, 15);
  const auto pw = cut(w, 16);
  const auto pwd = cut(wd, 17);
  const auto run = [&] {
    const auto a = fda::drift(pw, w0, xi), b = fda::drift(wd, w0d, w), c = fda::drift(pwd, w0, xi);
    return std::vector<double>{a.sq_norm, a.dot, b.sq_norm, b.dot, c.sq_norm, c.dot,
                               fda::sq_norm(w), fda::sq_norm(pwd), fda::dot(w, xi), fda::dot(wd, w0),
                               fda::sq_distance(w, w0), fda::sq_distance(pwd, w0d), double(fda::all_finite(w))};
  };
  std::vector<double> want;
  {
    const isa_scope scope(isa::portable);
    REQUIRE(fda::detail::active_isa() == isa::portable);
    want = run();
  }
  int paths = 0;
  for (const isa p : {isa::sse2, isa::avx2, isa::avx512}) {
    if (p > best) continue;
    const isa_scope scope(p);
    INFO("path " << isa_name(p));
    REQUIRE(fda::detail::active_isa() == p);
    const auto got = run();
    for (std::size_t i = 0; i < want.size(); ++i) {
      INFO("result " << i << ": " << got[i] << " vs " << want[i]);
      CHECK(same_bits(got[i], want[i]));
    }
    ++paths;
  }
  CHECK(fda::detail::active_isa() == best);
  if (best != isa::portable) CHECK(paths >= 1);
}
