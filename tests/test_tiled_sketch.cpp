// SPDX-License-Identifier: Apache-2.0
// fda::tiled_sketch: the map of its definition bit for bit, every instruction set alike,
// linearity, segmentation, refusals, the in-tile norm, and accuracy against the classic
// sketch on four shapes of drift, with tiles of adjacent elements as the negative control.
#include <fda/tiled_sketch.hpp>
#include <fda/sketch.hpp>
#include <fda/kernels.hpp>

#include <catch2/catch.hpp>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "support.hpp"

using fda_test::gaussian;

namespace {
constexpr std::size_t lanes = 16, panel = 4099;

/// The element that is lane k of global tile t among n elements, or n when there is none.
/// tiled_sketch.hpp's layout, written out: panels of 16 · 4099 elements, tile t of a panel
/// holding elements t, t + P, ..., P = 4099 (or ceil(rest / 16) in the last panel).
std::size_t strided(std::size_t n, std::size_t t, std::size_t k) {
  const std::size_t q = t / panel, first = q * lanes * panel, size = std::min(n - first, lanes * panel);
  const std::size_t off = k * ((size + lanes - 1) / lanes) + t % panel;
  return off < size ? first + off : n;
}
/// The negative control: tile t is elements 16t .. 16t + 15.
std::size_t adjacent(std::size_t n, std::size_t t, std::size_t k) { return std::min(n, lanes * t + k); }

/// Global tile ids of n elements under `strided` (the contiguous layout uses ceil(n / 16)).
std::size_t tile_ids(std::size_t n) {
  const std::size_t full = n / (lanes * panel), rest = n % (lanes * panel);
  return full * panel + (rest + lanes - 1) / lanes;
}

struct reference {
  std::vector<double> counters;
  double sq_norm = 0, mass_sq = 0;
};

/// The tiled sketch of v by its definition: every hash word evaluated directly (no
/// tables), each tile's sum and mass in float in lane order from +0, each bucket's tiles
/// summed in double in tile order per panel, the panels in order; ||v||² and Σ m_t² in 8
/// lanes (tile mod 8) per chunk of 64 tiles of a panel, chunk totals in order.
template <class T>
reference tiled_by_definition(const std::vector<T>& v, std::size_t depth, std::size_t width, std::uint64_t seed,
                              bool contiguous = false) {
  const fda::detail::tiled_hashes h("test", depth, width, seed);
  const auto at = contiguous ? adjacent : strided;
  const std::size_t n = v.size(), ids = contiguous ? (n + lanes - 1) / lanes : tile_ids(n);
  reference out;
  out.counters.assign(depth * width, 0.0);
  std::vector<double> panel_cells(depth * width, 0.0);
  double lane_sq[8] = {}, lane_m2[8] = {};
  for (std::size_t t = 0; t < ids; ++t) {
    float tile[lanes];
    float mass = 0.0f;
    for (std::size_t k = 0; k < lanes; ++k) {
      const std::size_t i = at(n, t, k);
      tile[k] = i < n ? float(v[i]) : 0.0f;
      mass += tile[k] * tile[k];
    }
    for (std::size_t r = 0; r < depth; ++r) {
      const std::uint64_t y = h.word(r, t);
      float sum = 0.0f;
      for (std::size_t k = 0; k < lanes; ++k) sum += (y >> (32 + k)) & 1 ? -tile[k] : tile[k];
      panel_cells[r * width + ((std::uint64_t(std::uint32_t(y)) * width) >> 32)] += double(sum);
    }
    if (t + 1 == ids || (t + 1) % panel == 0) {  // a panel's buckets join the total
      for (std::size_t c = 0; c < depth * width; ++c) out.counters[c] += panel_cells[c];
      std::fill(panel_cells.begin(), panel_cells.end(), 0.0);
    }
    const std::size_t j = contiguous ? t % 64 : (t % panel) % 64;
    lane_sq[j % 8] += double(mass);
    lane_m2[j % 8] += double(mass) * double(mass);
    if (j == 63 || t + 1 == ids || (!contiguous && (t + 1) % panel == 0)) {
      out.sq_norm += ((lane_sq[0] + lane_sq[4]) + (lane_sq[2] + lane_sq[6])) + ((lane_sq[1] + lane_sq[5]) + (lane_sq[3] + lane_sq[7]));
      out.mass_sq += ((lane_m2[0] + lane_m2[4]) + (lane_m2[2] + lane_m2[6])) + ((lane_m2[1] + lane_m2[5]) + (lane_m2[3] + lane_m2[7]));
      std::fill(lane_sq, lane_sq + 8, 0.0);
      std::fill(lane_m2, lane_m2 + 8, 0.0);
    }
  }
  return out;
}

/// Bit-equal vectors of doubles.
bool bit_equal(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint64_t>(a[i]) != std::bit_cast<std::uint64_t>(b[i])) return false;
  return true;
}

std::vector<double> kernel_counters(const fda::detail::tiled_hashes& h, const auto&... views) {
  std::vector<double> c(h.depth * h.width, 0.0);
  const auto s = fda::detail::tiled_accumulate(h, c.data(), fda::view(views)...);
  c.push_back(s.sq_norm);
  c.push_back(s.mass_sq);
  return c;
}
}  // namespace

TEST_CASE("the tiled sketch is the map of its definition, bit for bit, at every size and depth") {
  for (std::size_t n : {1ul, 15ul, 16ul, 17ul, 1000ul, 65'583ul, 65'584ul, 65'589ul, 200'003ul}) {
    for (std::size_t depth : {1, 2, 5}) {
      const auto v = fda_test::mixed_magnitude(n, n + depth, 2.0);
      const fda::detail::tiled_hashes h("test", depth, 250, 7 + depth);
      const reference want = tiled_by_definition(v, depth, 250, 7 + depth);
      auto expect = want.counters;
      expect.push_back(want.sq_norm);
      expect.push_back(want.mass_sq);
      INFO("n = " << n << ", depth " << depth);
      CHECK(bit_equal(kernel_counters(h, v), expect));
      // ||v||² agrees with the library's blocked sum to rounding (a different order).
      CHECK(want.sq_norm == Approx(fda::sq_norm(v)).epsilon(1e-6));
    }
  }
}

TEST_CASE("the tiled sketch of a − b is the sketch of the float difference; a segmented view is its concatenation") {
  const std::size_t n = 150'001;
  const auto a = gaussian(n, 1), b = gaussian(n, 2);
  std::vector<float> diff(n);
  for (std::size_t i = 0; i < n; ++i) diff[i] = a[i] - b[i];
  const fda::detail::tiled_hashes h("test", 5, 250, 3);
  const auto want = kernel_counters(h, diff);
  CHECK(bit_equal(kernel_counters(h, a, b), want));
  CHECK(bit_equal(kernel_counters(h, fda_test::cut(a, 4), b), want));
  CHECK(bit_equal(kernel_counters(h, fda_test::cut(a, 5), fda_test::cut(b, 6)), want));
  // A double view is rounded to float per element.
  std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end());
  std::vector<double> dd(n);
  for (std::size_t i = 0; i < n; ++i) dd[i] = double(float(ad[i] - bd[i]));
  CHECK(bit_equal(kernel_counters(h, ad, bd), kernel_counters(h, dd)));
}

TEST_CASE("every instruction-set path computes the same tiled sketch, bit for bit") {
  using fda::detail::isa;
  const isa best = fda::detail::cpu_isa();
  const auto a = gaussian(70'001, 21), b = gaussian(70'001, 22);
  const auto pa = fda_test::cut(a, 23);
  const auto pd = fda_test::cut(gaussian<double>(70'001, 24), 25);
  for (std::size_t depth : {1, 3, 5, 8}) {
    for (std::size_t width : {2, 250, 333}) {
      const fda::detail::tiled_hashes h("test", depth, width, 31 + depth);
      const auto run = [&] {
        auto c = kernel_counters(h, pa, b);
        for (double x : kernel_counters(h, a)) c.push_back(x);
        for (double x : kernel_counters(h, pd, a)) c.push_back(x);
        return c;
      };
      fda::detail::isa_ceiling = isa::portable;
      const auto want = run();
      for (const isa p : {isa::sse2, isa::avx2, isa::avx512}) {
        if (p > best) continue;
        fda::detail::isa_ceiling = p;
        INFO("depth " << depth << ", width " << width << ", path " << int(p));
        CHECK(bit_equal(run(), want));
      }
      fda::detail::isa_ceiling = isa::avx512;
    }
  }
  CHECK(fda::detail::active_isa() == best);
}

TEST_CASE("tiled sketch: linearity, equal seeds, merges refused across shapes, bad shapes named") {
  const std::size_t d = 100'000;
  const auto a = gaussian(d, 2), b = gaussian(d, 3);
  std::vector<float> sum(d);
  for (std::size_t i = 0; i < d; ++i) sum[i] = a[i] + b[i];
  fda::tiled_sketch<float> ska(5, 250, 11), skb(5, 250, 11), sks(5, 250, 11), skc(5, 250, 11);
  ska.add(a);
  skb.add(b);
  sks.add(sum);
  skc.add(a, -2.5);
  auto merged = ska;
  merged += skb;
  auto scaled = ska;
  scaled *= -2.5;
  double worst_sum = 0, worst_scale = 0;
  for (std::size_t i = 0; i < merged.data().size(); ++i) {
    worst_sum = std::max(worst_sum, double(std::fabs(merged.data()[i] - sks.data()[i])));
    worst_scale = std::max(worst_scale, double(std::fabs(scaled.data()[i] - skc.data()[i])));
  }
  CHECK(worst_sum < 1e-3);  // counters of ~400 · 16 terms of size ~1, float tile sums
  CHECK(worst_scale < 1e-3);
  CHECK(std::fabs(ska.data()[0] - skb.data()[0]) > 1e-2);

  fda::tiled_sketch<float> s1(5, 250, 99), s2(5, 250, 99), s3(5, 250, 100), s4(5, 250, 99);
  s1.add(a);
  s2.add(a);
  s3.add(a);
  s4.add(fda_test::cut(a, 5));
  CHECK(s1 == s2);
  CHECK(s1 == s4);
  CHECK_FALSE(s1 == s3);
  CHECK(s1.epsilon() == Approx(1.0 / std::sqrt(250.0)));
  s1.clear();
  CHECK(s1.estimate_sq_norm() == 0.0);
  CHECK(s1.tile_norm() == 0.0);

  CHECK_THROWS_WITH(fda::tiled_sketch<float>(0, 250), Catch::Contains("depth = 0"));
  CHECK_THROWS_WITH(fda::tiled_sketch<float>(5, 1), Catch::Contains("width = 1"));
  CHECK_THROWS_WITH(fda::tiled_sketch<float>(5, 65537), Catch::Contains("width = 65537 is invalid"));
  // A shape too large is refused before its counters are allocated (not std::bad_alloc).
  CHECK_THROWS_WITH(fda::tiled_sketch<float>(std::size_t{1} << 40, 250), Catch::Contains("depth = 1099511627776 is invalid"));
  CHECK_THROWS_WITH(fda::ams_sketch<float>(std::size_t{1} << 40, 250), Catch::Contains("depth = 1099511627776 is invalid"));
  fda::tiled_sketch<float> x(5, 250, 1), y(5, 251, 1), z(5, 250, 2);
  CHECK_THROWS_WITH(x += y, Catch::Contains("width 251"));
  CHECK_THROWS_WITH(x += z, Catch::Contains("seed 2"));
  CHECK_THROWS_AS(x += z, fda::invalid_argument);
}

TEST_CASE("the tile norm is (Σ_t m_t²)^(1/4) exactly after one add, and an upper bound after merges") {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    const std::size_t n = 1000 + rng() % 100'000;
    const auto a = fda_test::mixed_magnitude(n, rng(), 1.0), b = fda_test::mixed_magnitude(n, rng(), 1.0);
    const double ca = 0.3 + double(rng() % 100) / 50, cb = -1.0 + double(rng() % 100) / 40;
    // Brute force in double: the tiles of the combination ca·a + cb·b.
    const auto tile_norm = [&](double wa, double wb) {
      double s = 0;
      for (std::size_t t = 0; t < tile_ids(n); ++t) {
        double m = 0;
        for (std::size_t k = 0; k < lanes; ++k)
          if (const std::size_t i = strided(n, t, k); i < n) m += std::pow(wa * a[i] + wb * b[i], 2);
        s += m * m;
      }
      return std::sqrt(std::sqrt(s));
    };
    fda::tiled_sketch<double> sa(3, 100, 8), sb(3, 100, 8);
    sa.add(a);
    CHECK(sa.tile_norm() == Approx(tile_norm(1, 0)).epsilon(1e-5));
    sa *= ca;
    sb.add(b, cb);
    sa += sb;
    CHECK(sa.tile_norm() >= tile_norm(ca, cb) * (1 - 1e-6));  // the triangle inequality
    CHECK(sa.error_bound() >= sa.epsilon());
  }
}

namespace {
/// The four shapes of drift of the issue, d elements: layered magnitudes, one hot run of
/// 16 adjacent coordinates, one hot block of 1000 adjacent coordinates over a quiet rest,
/// scattered spikes.
std::vector<float> drift_shape(int shape, std::size_t d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<float> v(d);
  if (shape == 0) {  // layers of a network: sizes and scales differ by layer
    const double scales[] = {3.0, 0.1, 1.0, 0.02, 0.5, 5.0, 0.05};
    for (std::size_t i = 0; i < d; ++i) v[i] = float(g(rng) * scales[(i * 7 / d + i / 4096) % 7]);
  } else if (shape == 1) {  // one hot run of 16 (~75% of the mass)
    for (auto& x : v) x = float(g(rng));
    const std::size_t at = rng() % (d - 16);
    for (std::size_t i = at; i < at + 16; ++i) v[i] = float(g(rng) * 0.75 * std::sqrt(double(d)));
  } else if (shape == 2) {  // one hot block of 1000 over a quiet rest
    for (auto& x : v) x = float(g(rng) * 0.01);
    const std::size_t at = rng() % (d - 1000);
    for (std::size_t i = at; i < at + 1000; ++i) v[i] = float(g(rng));
  } else {  // 50 scattered spikes carrying most of the mass
    for (auto& x : v) x = float(g(rng) * 0.1);
    for (int s = 0; s < 50; ++s) v[rng() % d] = float(g(rng) * 0.3 * std::sqrt(double(d)));
  }
  return v;
}

struct accuracy {
  double within1 = 0, within2 = 0;
};

/// The fraction of `trials` seeds whose estimate of ||v||² lies within ε and 2ε, ε = 1/sqrt(250).
accuracy measure(const std::vector<float>& v, int trials, const std::function<double(std::uint64_t)>& estimate) {
  const double truth = fda::sq_norm(v), eps = 1.0 / std::sqrt(250.0);
  int w1 = 0, w2 = 0;
  for (int t = 0; t < trials; ++t) {
    const double rel = std::fabs(estimate(std::uint64_t(t) * 7919 + 1) - truth) / truth;
    w1 += rel <= eps;
    w2 += rel <= 2 * eps;
  }
  return {double(w1) / trials, double(w2) / trials};
}

/// The bar: within ε at least as often as the classic sketch minus 10 points and
/// never under 72%, within 2ε at least 95% of the time.
bool as_accurate(const accuracy& got, const accuracy& classic) {
  return got.within1 >= std::max(classic.within1 - 0.10, 0.72) && got.within2 >= 0.95;
}

double median_row_energy(const std::vector<double>& c, std::size_t depth, std::size_t width) {
  return fda::detail::median_row_energy(std::span<const double>(c), depth, width);
}
}  // namespace

TEST_CASE("tiled sketch accuracy on four shapes of drift: as the classic sketch's; adjacent tiles fail (negative control)") {
  const char* names[] = {"layered", "hot run of 16", "hot block of 1000", "scattered spikes"};
  for (const std::size_t d : {61'706ul, 1'000'000ul}) {
    const int trials = d < 100'000 ? 300 : 120;
    for (int shape = 0; shape < 4; ++shape) {
      const auto v = drift_shape(shape, d, 100 + std::uint64_t(shape));
      const auto classic = measure(v, trials, [&](std::uint64_t seed) {
        fda::ams_sketch<double> s(5, 250, seed);
        return s.add(v).estimate_sq_norm();
      });
      const auto tiled = measure(v, trials, [&](std::uint64_t seed) {
        fda::tiled_sketch<double> s(5, 250, seed);
        return s.add(v).estimate_sq_norm();
      });
      INFO("d = " << d << ", " << names[shape]);
      WARN("d = " << d << ", " << names[shape] << ": within ε classic " << classic.within1 << ", tiled "
                  << tiled.within1 << "; within 2ε classic " << classic.within2 << ", tiled " << tiled.within2);
      CHECK(as_accurate(tiled, classic));
      if (d < 100'000 && (shape == 1 || shape == 2)) {
        // The same map with tiles of 16 adjacent elements: the hot coordinates share tiles.
        const auto contiguous = measure(v, trials, [&](std::uint64_t seed) {
          return median_row_energy(tiled_by_definition(v, 5, 250, seed, true).counters, 5, 250);
        });
        WARN("  adjacent tiles (negative control): within ε " << contiguous.within1 << ", within 2ε "
                                                              << contiguous.within2);
        CHECK_FALSE(as_accurate(contiguous, classic));
      }
    }
  }
}
