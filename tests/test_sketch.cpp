#include <fda/sketch.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "support.hpp"

using fda_test::gaussian;

TEST_CASE("the finite-difference walk equals direct evaluation of the cubic") {
  std::uint64_t state = 42;
  for (int trial = 0; trial < 20; ++trial) {
    const auto h = fda::detail::cubic_hash::draw(state);
    const std::uint64_t start = trial < 10 ? std::uint64_t(trial) * 1000 : state >> 20;
    fda::detail::cubic_walk walk(h, start);
    bool same = true;
    for (std::uint64_t x = start; x < start + 5000; ++x, walk.next()) same = same && walk.value() == h(x);
    CHECK(same);
  }
}

TEST_CASE("the sketch is the linear map of its definition") {
  // Brute force: evaluate every hash directly, in double counters.
  const std::size_t d = 20'000, depth = 5, width = 250;
  const auto v = gaussian<double>(d, 1);
  fda::ams_sketch<double> sk(depth, width, 7);
  sk.add(v);
  std::uint64_t state = 7;
  std::vector<double> want(depth * width, 0.0);
  for (std::size_t r = 0; r < depth; ++r) {
    const auto h = fda::detail::cubic_hash::draw(state);
    for (std::size_t i = 0; i < d; ++i) {
      const auto hv = h(i);
      const double sign = (hv & 1) ? -1.0 : 1.0;
      want[r * width + ((hv >> 29) * width >> 32)] += sign * v[i];
    }
  }
  std::size_t equal = 0;
  for (std::size_t i = 0; i < want.size(); ++i) equal += sk.data()[i] == want[i];
  CHECK(equal == want.size());  // same order of additions: bit-identical
}

TEST_CASE("linearity: sk(a) + sk(b) = sk(a + b) and sk(c·a) = c·sk(a), up to float rounding") {
  const std::size_t d = 100'000;
  const auto a = gaussian(d, 2), b = gaussian(d, 3);
  std::vector<float> sum(d);
  for (std::size_t i = 0; i < d; ++i) sum[i] = a[i] + b[i];
  fda::ams_sketch<float> ska(5, 250, 11), skb(5, 250, 11), sks(5, 250, 11), skc(5, 250, 11);
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
    // Each counter sums ~400 terms of size ~1: float rounding is ~1e-5 of that.
    worst_sum = std::max(worst_sum, double(std::fabs(merged.data()[i] - sks.data()[i])));
    worst_scale = std::max(worst_scale, double(std::fabs(scaled.data()[i] - skc.data()[i])));
  }
  CHECK(worst_sum < 1e-4);
  CHECK(worst_scale < 1e-4);
  CHECK((ska + skb).data()[3] == merged.data()[3]);
  // The two sketches are far from each other when the vectors are: the check can fail.
  CHECK(std::fabs(ska.data()[0] - skb.data()[0]) > 1e-3);
}

TEST_CASE("equal seeds give identical sketches; a multi-segment view sketches like its concatenation") {
  const auto v = gaussian(123'457, 4);
  fda::ams_sketch<float> s1(5, 250, 99), s2(5, 250, 99), s3(5, 250, 100), s4(5, 250, 99);
  s1.add(v);
  s2.add(v);
  s3.add(v);
  s4.add(fda_test::cut(v, 5));
  CHECK(s1 == s2);
  CHECK(s1 == s4);
  CHECK_FALSE(s1 == s3);
  CHECK(s1.seed() == 99);
  CHECK(s1.depth() == 5);
  CHECK(s1.width() == 250);
  CHECK(s1.epsilon() == Approx(1.0 / std::sqrt(250.0)));
}

namespace {
enum class family { dense, sparse, heavy };

std::vector<float> random_vector(family f, std::size_t d, std::mt19937_64& rng) {
  std::normal_distribution<double> gauss;
  std::student_t_distribution<double> heavy(1.5);  // infinite variance: a few huge entries
  std::uniform_real_distribution<double> uni;
  std::vector<float> v(d, 0.0f);
  for (auto& x : v) {
    if (f == family::dense) x = float(gauss(rng));
    if (f == family::sparse && uni(rng) < 0.01) x = float(gauss(rng));
    if (f == family::heavy) x = float(heavy(rng));
  }
  return v;
}
}  // namespace

TEST_CASE("estimate accuracy over 500 random vectors (d = 1e5, depth 5, width 250)") {
  const std::size_t d = 100'000;
  std::mt19937_64 rng(2024);
  int within1 = 0, within2 = 0, trials = 0;
  for (int t = 0; t < 500; ++t) {
    const auto f = family(t % 3);
    const auto v = random_vector(f, d, rng);
    fda::ams_sketch<float> sk(5, 250, rng());
    sk.add(v);
    const double truth = fda::detail::reduce<1>(
        [](auto& acc, std::size_t l, float x) { acc[0][l] += double(x) * x; }, fda::view(v))[0];
    const double rel = std::fabs(sk.estimate_sq_norm() - truth) / truth;
    within1 += rel <= sk.epsilon();
    within2 += rel <= 2 * sk.epsilon();
    ++trials;
  }
  const double f1 = double(within1) / trials, f2 = double(within2) / trials;
  WARN("sketch accuracy, depth 5 width 250: within ±ε " << f1 << ", within ±2ε " << f2
                                                       << " (theory about 0.82 and 0.99)");
  CHECK(f1 >= 0.75);
  CHECK(f2 >= 0.97);
}

TEST_CASE("bad sketch shapes and merges are rejected with the value in the message") {
  CHECK_THROWS_WITH(fda::ams_sketch<float>(0, 250), Catch::Contains("depth = 0"));
  CHECK_THROWS_WITH(fda::ams_sketch<float>(5, 1), Catch::Contains("width = 1"));
  fda::ams_sketch<float> a(5, 250, 1), b(5, 251, 1), c(5, 250, 2), e(7, 250, 1);
  CHECK_THROWS_WITH(a += b, Catch::Contains("width 251"));
  CHECK_THROWS_WITH(a += c, Catch::Contains("seed 2"));
  CHECK_THROWS_WITH(a += e, Catch::Contains("depth 7"));
  CHECK_THROWS_AS(a += b, fda::invalid_argument);
}
