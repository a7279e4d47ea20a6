// SPDX-License-Identifier: Apache-2.0
#include <fda/aggregate.hpp>

#include <algorithm>
#include <charconv>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {

using ld = long double;

/// An independent long-double server written from the spec (§5): its own m and v.
/// Each sync starts from the model x the trainer holds (the library's x, rounded to T):
/// for |Δ| ≲ τ the update's gain dx_new/dx is about 1 - η(1-β1)/(2τ), in the hundreds for
/// some configs, so a reference carrying its own x would measure that conditioning (the
/// rounding of x amplified sync after sync), not the implementation.
struct reference {
  enum { plain, momentum, adagrad, adam, yogi } rule = plain;
  ld lr = 1, b1 = 0, b2 = 0, tau = 0;
  std::vector<ld> x = {}, m = {}, v = {};
  std::vector<ld> m_scale = {};  // the size of the terms summed into m, to judge m's error

  void start(std::size_t d) {
    m.assign(d, 0.0L);
    v.assign(d, tau * tau);
    m_scale.assign(d, 0.0L);
  }
  void sync(const std::vector<ld>& x_in, const std::vector<ld>& avg) {
    x = x_in;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const ld d = avg[i] - x[i], d2 = d * d;
      if (rule == plain) {
        x[i] = avg[i];
      } else if (rule == momentum) {
        m_scale[i] = b1 * std::fabs(m[i]) + std::fabs(d);
        m[i] = b1 * m[i] + d;
        x[i] += lr * m[i];
      } else {
        m_scale[i] = b1 * std::fabs(m[i]) + (1 - b1) * std::fabs(d);
        m[i] = b1 * m[i] + (1 - b1) * d;
        if (rule == adagrad) v[i] += d2;
        if (rule == adam) v[i] = b2 * v[i] + (1 - b2) * d2;
        if (rule == yogi) v[i] -= (1 - b2) * d2 * (v[i] > d2 ? 1 : v[i] < d2 ? -1 : 0);
        x[i] += lr * m[i] / (std::sqrt(v[i]) + tau);
      }
    }
  }
};

reference reference_for(const fda::mean&) { return {}; }
reference reference_for(const fda::weighted_mean&) { return {}; }
reference reference_for(const fda::fedavgm& c) {
  return {reference::momentum, c.lr, c.momentum, 0, 0};
}
reference reference_for(const fda::fedadagrad& c) {
  return {reference::adagrad, c.lr, c.beta1, 0, c.tau};
}
reference reference_for(const fda::fedadam& c) {
  return {reference::adam, c.lr, c.beta1, c.beta2, c.tau};
}
reference reference_for(const fda::fedyogi& c) {
  return {reference::yogi, c.lr, c.beta1, c.beta2, c.tau};
}

template <class T>
std::vector<T> flatten(const std::vector<std::vector<T>>& parts) {
  std::vector<T> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

template <class T>
std::vector<ld> widen(const std::vector<T>& v) {
  return {v.begin(), v.end()};
}

/// Worst relative error of got against want, each element scaled by scale[i].
template <class T>
double worst_error(const std::vector<T>& got, const std::vector<ld>& want,
                   const std::vector<ld>& scale) {
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (scale[i] > 0) worst = std::max(worst, fda_test::rel_error(got[i], want[i], scale[i]));
  return worst;
}

/// Five syncs on d = 1009 elements, |x| in [1, 2], each avg = x + drift + noise (|Δ| over
/// four decades and more). Layouts: 0 flat x and avg; 1 segmented x; 2 x as an rvalue
/// param_view and a segmented const avg; 3 a double avg for a T model. Checks x, m and v.
template <class T, class A>
void check_against_reference(const A& config, double tolerance) {
  const std::size_t d = 1009;
  std::mt19937_64 init(7);
  std::uniform_real_distribution<double> unit(1.0, 2.0);
  std::vector<T> x0(d);
  for (auto& e : x0) e = T((init() % 2 ? 1 : -1) * unit(init));
  const auto drift = fda_test::gaussian<double>(d, 8, 0.005);

  std::vector<std::vector<T>> finals;
  for (int layout = 0; layout < 4; ++layout) {
    reference ref = reference_for(config);
    ref.start(d);
    typename A::template state<T> server(config, d);
    std::vector<T> x = x0;
    auto xs = fda_test::cut(x0, 11);
    std::mt19937_64 rng(9);  // the same averages in every layout
    std::normal_distribution<double> gauss;
    std::uniform_real_distribution<double> decade(-4.0, 0.0);
    for (int sync = 1; sync <= 5; ++sync) {
      const auto x_in = widen(layout == 1 ? flatten(xs) : x);
      std::vector<double> avg_d(d);
      for (std::size_t i = 0; i < d; ++i)
        avg_d[i] = double(x_in[i]) + drift[i] + 0.01 * std::pow(10.0, decade(rng)) * gauss(rng);
      const std::vector<T> avg(avg_d.begin(), avg_d.end());
      ref.sync(x_in, layout == 3 ? widen(avg_d) : widen(avg));

      if (layout == 0) server.apply(x, avg);
      if (layout == 1) server.apply(xs, avg);
      const auto avg_parts = fda_test::cut(avg, 12 + sync);
      if (layout == 2) server.apply(fda::view(x), avg_parts);
      if (layout == 3) server.apply(x, avg_d);
      const auto got = layout == 1 ? flatten(xs) : x;

      std::vector<ld> abs_x(d);
      for (std::size_t i = 0; i < d; ++i) abs_x[i] = std::fabs(ref.x[i]);
      const double ex = worst_error(got, ref.x, abs_x);
      INFO("layout " << layout << ", sync " << sync << ": max relative error of x " << ex);
      CHECK(ex < tolerance);
      if constexpr (requires { server.m; }) {
        const double em = worst_error(server.m, ref.m, ref.m_scale);
        INFO("max relative error of m " << em);
        CHECK(em < tolerance);
      }
      if constexpr (requires { server.v; }) {
        const double ev = worst_error(server.v, ref.v, ref.v);
        INFO("max relative error of v " << ev);
        CHECK(ev < tolerance);
      }
    }
    finals.push_back(layout == 1 ? flatten(xs) : x);
  }
  // element-wise: the layout of x and avg cannot change a single bit
  CHECK(finals[1] == finals[0]);
  CHECK(finals[2] == finals[0]);
}

template <class T>
constexpr double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;

}  // namespace

TEMPLATE_TEST_CASE("every aggregator matches a long-double reference over 5 syncs", "", float,
                   double) {
  const double tol = tolerance<TestType>;
  SECTION("mean") { check_against_reference<TestType>(fda::mean{}, tol); }
  SECTION("weighted_mean") { check_against_reference<TestType>(fda::weighted_mean{}, tol); }
  SECTION("fedavgm") {
    check_against_reference<TestType>(fda::fedavgm{}, tol);
    check_against_reference<TestType>(fda::fedavgm{.lr = 0.5, .momentum = 0.5}, tol);
  }
  SECTION("fedadagrad") {
    check_against_reference<TestType>(fda::fedadagrad{}, tol);
    check_against_reference<TestType>(fda::fedadagrad{.lr = 0.3, .beta1 = 0.0}, tol);
  }
  SECTION("fedadam") {
    check_against_reference<TestType>(fda::fedadam{}, tol);
    check_against_reference<TestType>(fda::fedadam{.lr = 0.05, .beta2 = 0.999}, tol);
  }
  SECTION("fedyogi") {
    check_against_reference<TestType>(fda::fedyogi{}, tol);
    check_against_reference<TestType>(fda::fedyogi{.lr = 0.02, .beta1 = 0.5, .tau = 1e-4}, tol);
  }
}

TEST_CASE("the six aggregators satisfy the concept; weights_by_samples reads 'weighted'") {
  STATIC_REQUIRE(fda::aggregator<fda::mean>);
  STATIC_REQUIRE(fda::aggregator<fda::weighted_mean>);
  STATIC_REQUIRE(fda::aggregator<fda::fedavgm>);
  STATIC_REQUIRE(fda::aggregator<fda::fedadagrad>);
  STATIC_REQUIRE(fda::aggregator<fda::fedadam>);
  STATIC_REQUIRE(fda::aggregator<fda::fedyogi>);
  STATIC_REQUIRE_FALSE(fda::aggregator<int>);
  STATIC_REQUIRE_FALSE(fda::aggregator<std::vector<float>>);

  STATIC_REQUIRE_FALSE(fda::weights_by_samples(fda::mean{}));
  STATIC_REQUIRE(fda::weights_by_samples(fda::weighted_mean{}));
  STATIC_REQUIRE_FALSE(fda::weights_by_samples(fda::fedadam{}));
  STATIC_REQUIRE(fda::weights_by_samples(fda::fedadam{.weighted = true}));
  STATIC_REQUIRE(fda::weights_by_samples(fda::fedavgm{.lr = 0.5, .weighted = true}));
  STATIC_REQUIRE(fda::weights_by_samples(fda::fedadagrad{.weighted = true}));
  STATIC_REQUIRE(fda::weights_by_samples(fda::fedyogi{.weighted = true}));
}

TEST_CASE("workers that did not move leave the model where it is") {
  const auto x0 = fda_test::gaussian<float>(1000, 20);
  auto unchanged_on_first_sync = [&](auto config) {
    typename decltype(config)::template state<float> server(config, x0.size());
    auto x = x0;
    server.apply(x, x0);
    return x == x0;
  };
  CHECK(unchanged_on_first_sync(fda::mean{}));
  CHECK(unchanged_on_first_sync(fda::weighted_mean{}));
  CHECK(unchanged_on_first_sync(fda::fedavgm{}));
  CHECK(unchanged_on_first_sync(fda::fedadagrad{}));
  CHECK(unchanged_on_first_sync(fda::fedadam{}));
  CHECK(unchanged_on_first_sync(fda::fedyogi{}));

  // mean keeps no memory: avg == x is a fixed point at any time
  fda::mean::state<double> mean(fda::mean{}, 3);
  std::vector<double> x{1, 2, 3};
  mean.apply(x, std::vector<double>{4, 5, 6});
  mean.apply(x, std::vector<double>{4, 5, 6});
  CHECK(x == std::vector<double>{4, 5, 6});

  // momentum carries on: x ← x + η β m
  fda::fedavgm::state<double> avgm(fda::fedavgm{.lr = 0.5, .momentum = 0.75}, 1);
  std::vector<double> y{0.0};
  avgm.apply(y, std::vector<double>{1.0});  // m = 1, y = 0.5
  avgm.apply(y, std::vector<double>{0.5});  // Δ = 0: m = 0.75, y = 0.875
  CHECK(avgm.m[0] == 0.75);
  CHECK(y[0] == 0.875);
}

TEMPLATE_TEST_CASE("fedavgm with lr 1 and momentum 0 is plain averaging", "", float, double) {
  const auto x0 = fda_test::gaussian<TestType>(1000, 21);
  fda::fedavgm::state<TestType> avgm(fda::fedavgm{.lr = 1.0, .momentum = 0.0}, x0.size());
  fda::mean::state<TestType> mean(fda::mean{}, x0.size());
  auto a = x0, b = x0;
  for (int sync = 0; sync < 5; ++sync) {
    const auto avg = fda_test::gaussian<TestType>(x0.size(), 30 + sync);
    const auto before = a;
    avgm.apply(a, avg);
    mean.apply(b, avg);
    // x + (avg - x) in double, rounded: avg itself up to a rounding of x's size
    const double eps = std::numeric_limits<TestType>::epsilon();
    for (std::size_t i = 0; i < a.size(); ++i)
      REQUIRE(std::fabs(a[i] - b[i]) <= eps * (std::fabs(before[i]) + std::fabs(avg[i])));
    a = b;
  }
}

TEST_CASE("fedavgm's momentum is the geometric sum of constant updates") {
  // every sync the workers move by c: m_k = c (1 - β^k) / (1 - β)
  fda::fedavgm::state<double> avgm(fda::fedavgm{.lr = 0.1, .momentum = 0.9}, 2);
  std::vector<double> x{1.0, -3.0};
  const double c[] = {0.25, -1e-3};
  for (int k = 1; k <= 10; ++k) {
    avgm.apply(x, std::vector<double>{x[0] + c[0], x[1] + c[1]});
    for (int i = 0; i < 2; ++i)
      CHECK(avgm.m[i] == Approx(c[i] * (1 - std::pow(0.9, k)) / (1 - 0.9)).epsilon(1e-12));
  }
}

TEST_CASE("adaptive optimizers: the first step follows Δ and is bounded whatever Δ's scale") {
  // m = (1-β1)Δ, v ≈ (1-β2)Δ², so |step| < η (1-β1) / sqrt(1-β2) (Adagrad: β2 = 0)
  std::vector<double> x0(13, 1.0), avg(13);
  for (std::size_t i = 0; i < avg.size(); ++i)
    avg[i] = 1.0 + (i % 2 ? -1 : 1) * std::pow(10.0, double(i) - 6);
  auto check = [&](auto config, double beta2) {
    typename decltype(config)::template state<double> server(config, x0.size());
    auto x = x0;
    server.apply(x, avg);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double step = x[i] - x0[i], delta = avg[i] - x0[i];
      CHECK(step * delta > 0);
      CHECK(std::fabs(step) < config.lr * (1 - config.beta1) / std::sqrt(1 - beta2));
    }
  };
  check(fda::fedadagrad{}, 0.0);
  check(fda::fedadam{}, 0.99);
  check(fda::fedyogi{}, 0.99);
  check(fda::fedadam{.lr = 0.05, .beta2 = 0.999}, 0.999);
}

TEST_CASE("second moments: Adagrad grows, Adam interpolates, Yogi moves by (1-β2)Δ² towards Δ²") {
  const std::size_t d = 2000;
  fda::fedadagrad::state<double> adagrad(fda::fedadagrad{}, d);
  fda::fedadam::state<double> adam(fda::fedadam{}, d);
  fda::fedyogi::state<double> yogi(fda::fedyogi{}, d);
  auto xa = fda_test::gaussian<double>(d, 40), xb = xa, xc = xa;
  std::size_t yogi_down = 0, yogi_up = 0;
  for (int sync = 0; sync < 8; ++sync) {
    // Δ over six decades around τ = 1e-3, so Δ² is sometimes above v and sometimes below
    const auto delta = fda_test::mixed_magnitude<double>(d, 50 + sync, 3.0);
    auto step = [&](auto& server, std::vector<double>& x) {
      const auto before = x, v = server.v;
      std::vector<double> avg(d), d2(d);
      for (std::size_t i = 0; i < d; ++i) avg[i] = x[i] + 1e-3 * delta[i];
      for (std::size_t i = 0; i < d; ++i) d2[i] = (avg[i] - before[i]) * (avg[i] - before[i]);
      server.apply(x, avg);
      return std::pair{v, d2};
    };
    const auto [va, ga] = step(adagrad, xa);
    const auto [vb, gb] = step(adam, xb);
    const auto [vc, gc] = step(yogi, xc);
    bool ok = true;
    for (std::size_t i = 0; i < d; ++i) {
      // Adagrad: v ← v + Δ², never shrinks
      ok = ok && adagrad.v[i] >= va[i] && adagrad.v[i] == Approx(va[i] + ga[i]);
      // Adam: v ← β2 v + (1-β2) Δ² lies between v and Δ²
      ok = ok && adam.v[i] >= std::min(vb[i], gb[i]) * (1 - 1e-15) &&
           adam.v[i] <= std::max(vb[i], gb[i]) * (1 + 1e-15);
      // Yogi: a step of exactly (1-β2) Δ² towards Δ²; v stays > 0
      ok = ok && yogi.v[i] > 0 &&
           std::fabs(yogi.v[i] - vc[i]) == Approx(0.01 * gc[i]).margin(1e-15 * vc[i]);
      if (gc[i] < vc[i]) {
        ok = ok && yogi.v[i] <= vc[i];
        ++yogi_down;
      } else if (gc[i] > vc[i]) {
        ok = ok && yogi.v[i] >= vc[i];
        ++yogi_up;
      }
    }
    CHECK(ok);
  }
  CHECK(yogi_down > 1000);
  CHECK(yogi_up > 1000);
}

TEST_CASE("apply is deterministic: two ranks holding their own state end bit-identical") {
  const std::size_t d = 5000;
  auto run = [&] {
    fda::fedyogi::state<float> server(fda::fedyogi{.lr = 0.05}, d);
    auto x = fda_test::mixed_magnitude<float>(d, 60);
    for (int sync = 0; sync < 5; ++sync)
      server.apply(x, fda_test::mixed_magnitude<float>(d, 61 + sync));
    return x;
  };
  CHECK(run() == run());
}

TEST_CASE("invalid configurations are rejected, naming the field and the value") {
  using Catch::Contains;
  CHECK_THROWS_WITH(fda::fedavgm::state<float>(fda::fedavgm{.lr = 0.0}, 4),
                    Contains("fda::fedavgm: lr = 0 is invalid"));
  CHECK_THROWS_WITH(fda::fedavgm::state<float>(fda::fedavgm{.momentum = 1.0}, 4),
                    Contains("fda::fedavgm: momentum = 1 is invalid: it must be in [0, 1)"));
  CHECK_THROWS_WITH(fda::fedadam::state<double>(fda::fedadam{.beta2 = 1.5}, 4),
                    Contains("fda::fedadam: beta2 = 1.5 is invalid: it must be in [0, 1)"));
  CHECK_THROWS_WITH(fda::fedadam::state<double>(fda::fedadam{.lr = -0.5}, 4),
                    Contains("fda::fedadam: lr = -0.5 is invalid"));
  CHECK_THROWS_WITH(fda::fedyogi::state<float>(fda::fedyogi{.beta1 = -0.25}, 4),
                    Contains("fda::fedyogi: beta1 = -0.25 is invalid"));
  CHECK_THROWS_WITH(fda::fedyogi::state<float>(fda::fedyogi{.tau = 0.0}, 4),
                    Contains("fda::fedyogi: tau = 0 is invalid"));
  CHECK_THROWS_WITH(fda::fedadagrad::state<float>(fda::fedadagrad{.lr = std::nan("")}, 4),
                    Contains("fda::fedadagrad: lr = nan is invalid"));
  CHECK_THROWS_AS(fda::fedadagrad::state<float>(fda::fedadagrad{.beta1 = 1.0}, 4),
                  fda::invalid_argument);
  CHECK_NOTHROW(fda::fedavgm::state<float>(fda::fedavgm{.momentum = 0.0}, 4));
  CHECK_NOTHROW(fda::fedadam::state<float>(fda::fedadam{.lr = 0.05, .beta2 = 0.999}, 4));
}

namespace {
/// Sets one double field of a default config A to each bad value and checks that making a
/// state throws fda::invalid_argument naming the aggregator, the field and the value.
template <class A>
void rejects_bad_values(const std::string& who, const std::string& field, double A::*member,
                        std::vector<std::pair<double, std::string>> out_of_range) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  out_of_range.insert(out_of_range.end(), {{std::numeric_limits<double>::quiet_NaN(), "nan"}, {inf, "inf"}, {-inf, "-inf"}});
  for (const auto& [bad, text] : out_of_range) {
    A config{};
    config.*member = bad;
    const std::string expected = who + ": " + field + " = " + text + " is invalid";
    INFO(expected);
    CHECK_THROWS_AS(typename A::template state<float>(config, 4), fda::invalid_argument);
    CHECK_THROWS_WITH(typename A::template state<double>(config, 4), Catch::Contains(expected));
  }
}
}  // namespace

TEST_CASE("every setting of every aggregator must be finite and in range: NaN, +Inf, -Inf and out of range are refused") {
  const std::vector<std::pair<double, std::string>> not_positive{{0.0, "0"}, {-0.5, "-0.5"}};
  const std::vector<std::pair<double, std::string>> not_fraction{{1.0, "1"}, {-0.25, "-0.25"}, {1.5, "1.5"}};
  rejects_bad_values("fda::fedavgm", "lr", &fda::fedavgm::lr, not_positive);
  rejects_bad_values("fda::fedavgm", "momentum", &fda::fedavgm::momentum, not_fraction);
  rejects_bad_values("fda::fedadagrad", "lr", &fda::fedadagrad::lr, not_positive);
  rejects_bad_values("fda::fedadagrad", "beta1", &fda::fedadagrad::beta1, not_fraction);
  rejects_bad_values("fda::fedadagrad", "tau", &fda::fedadagrad::tau, not_positive);
  rejects_bad_values("fda::fedadam", "lr", &fda::fedadam::lr, not_positive);
  rejects_bad_values("fda::fedadam", "beta1", &fda::fedadam::beta1, not_fraction);
  rejects_bad_values("fda::fedadam", "beta2", &fda::fedadam::beta2, not_fraction);
  rejects_bad_values("fda::fedadam", "tau", &fda::fedadam::tau, not_positive);
  rejects_bad_values("fda::fedyogi", "lr", &fda::fedyogi::lr, not_positive);
  rejects_bad_values("fda::fedyogi", "beta1", &fda::fedyogi::beta1, not_fraction);
  rejects_bad_values("fda::fedyogi", "beta2", &fda::fedyogi::beta2, not_fraction);
  rejects_bad_values("fda::fedyogi", "tau", &fda::fedyogi::tau, not_positive);
  rejects_bad_values("fda::trimmed_mean", "trim", &fda::trimmed_mean::trim, {{0.5, "0.5"}, {-0.125, "-0.125"}, {2.0, "2"}});
  // The edges that are in range.
  CHECK_NOTHROW(fda::fedavgm::state<float>(fda::fedavgm{.lr = 1e-300, .momentum = 0.0}, 4));
  CHECK_NOTHROW(fda::fedadam::state<float>(fda::fedadam{.beta1 = 0.0, .beta2 = 0.999999, .tau = 1e-300}, 4));
  CHECK_NOTHROW(fda::trimmed_mean::state<double>(fda::trimmed_mean{.trim = 0.0}, 4));
  CHECK_NOTHROW(fda::trimmed_mean::state<double>(fda::trimmed_mean{.trim = 0.49}, 4));
}

TEST_CASE("every aggregator names itself and its settings, each double in shortest round-trip form") {
  CHECK(fda::mean::name == "mean");
  CHECK(fda::mean{}.describe() == "mean");
  CHECK(fda::weighted_mean{}.describe() == "weighted_mean");
  CHECK(fda::coordinate_median{}.describe() == "coordinate_median");
  CHECK(fda::trimmed_mean{}.describe() == "trimmed_mean{trim=0.1}");
  CHECK(fda::fedavgm{}.describe() == "fedavgm{lr=1, momentum=0.9, weighted=false}");
  CHECK(fda::fedadagrad{}.describe() == "fedadagrad{lr=0.1, beta1=0.9, tau=0.001, weighted=false}");
  CHECK(fda::fedadam{}.describe() == "fedadam{lr=0.01, beta1=0.9, beta2=0.99, tau=0.001, weighted=false}");
  CHECK(fda::fedyogi{.lr = 0.1 + 0.2, .tau = 1e-5, .weighted = true}.describe() ==
        "fedyogi{lr=0.30000000000000004, beta1=0.9, beta2=0.99, tau=1e-05, weighted=true}");
  // Enough digits to read back the same double (so two settings that differ never read alike).
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.0, 0.5);
  for (int i = 0; i < 1000; ++i) {
    const double trim = u(rng);
    const std::string d = fda::trimmed_mean{.trim = trim}.describe();
    const std::string digits = d.substr(std::string("trimmed_mean{trim=").size(), d.size() - 19);
    double back = -1;
    std::from_chars(digits.data(), digits.data() + digits.size(), back);
    INFO(d);
    CHECK(back == trim);
  }
}

namespace {
struct named_only {  // a user aggregator with a name and no describe()
  static constexpr std::string_view name = "my_rule";
};
struct anonymous {};  // neither
struct described {    // describe() wins over name
  static constexpr std::string_view name = "mine";
  double lr = 0.5;
  std::string describe() const { return "mine{lr=" + fda::detail::shortest(lr) + "}"; }
};
}  // namespace

TEST_CASE("fda::describe_aggregator: describe(), else name, else the documented fallback") {
  CHECK(fda::describe_aggregator(fda::fedadam{.lr = 0.02}) == fda::fedadam{.lr = 0.02}.describe());
  CHECK(fda::describe_aggregator(fda::mean{}) == "mean");
  CHECK(fda::describe_aggregator(described{}) == "mine{lr=0.5}");
  CHECK(fda::describe_aggregator(named_only{}) == "my_rule");
  CHECK(fda::describe_aggregator(anonymous{}) == "(unnamed aggregator)");
  CHECK(fda::detail::shortest(std::numeric_limits<double>::infinity()) == "inf");
}

TEST_CASE("apply rejects an avg or a state of another size than x") {
  using Catch::Contains;
  std::vector<float> x(10), avg9(9), x12(12);
  fda::fedadam::state<float> adam(fda::fedadam{}, 10);
  CHECK_THROWS_WITH(adam.apply(x, avg9), Contains("'avg' has 9 elements but 'x' has 10"));
  CHECK_THROWS_WITH(adam.apply(x12, x12),
                    Contains("'x' has 12 elements but the aggregator state was made for dim = 10"));
  fda::mean::state<double> mean(fda::mean{}, 10);
  std::vector<double> y(10), z(11);
  CHECK_THROWS_AS(mean.apply(y, z), fda::invalid_argument);
  CHECK_THROWS_AS(mean.apply(z, z), fda::invalid_argument);
  fda::fedavgm::state<float> avgm(fda::fedavgm{}, 10);
  CHECK_THROWS_AS(avgm.apply(x, avg9), fda::invalid_argument);
  fda::fedyogi::state<double> empty(fda::fedyogi{}, 0);
  std::vector<double> none;
  CHECK_NOTHROW(empty.apply(none, none));
}

namespace {
/// Chosen at run time (a variant's way): replaces_model() and combine_rule() per configuration.
struct run_time_choice {
  bool averages = true;
  bool replaces_model() const { return averages; }
  fda::combine_rule combine_rule() const { return {averages ? -1.0 : 0.5}; }
};
}  // namespace

TEST_CASE("aggregator_traits reports every library aggregator's hooks, with the documented defaults") {
  using fda::aggregator_traits;
  // name and describe
  STATIC_REQUIRE(aggregator_traits<fda::fedadam>::name == "fedadam");
  STATIC_REQUIRE(aggregator_traits<fda::coordinate_median>::has_describe);
  STATIC_REQUIRE_FALSE(aggregator_traits<named_only>::has_describe);
  STATIC_REQUIRE(aggregator_traits<anonymous>::name == "(unnamed aggregator)");
  CHECK(aggregator_traits<fda::trimmed_mean>::describe({.trim = 0.25}) == "trimmed_mean{trim=0.25}");
  CHECK(aggregator_traits<named_only>::describe({}) == "my_rule");
  // weighted: weighted_mean always, the server optimizers when asked, the robust ones never
  STATIC_REQUIRE(aggregator_traits<fda::weighted_mean>::weighted({}));
  STATIC_REQUIRE_FALSE(aggregator_traits<fda::mean>::weighted({}));
  STATIC_REQUIRE(aggregator_traits<fda::fedavgm>::weighted({.weighted = true}));
  STATIC_REQUIRE_FALSE(aggregator_traits<fda::coordinate_median>::weighted({}));
  STATIC_REQUIRE_FALSE(aggregator_traits<anonymous>::weighted({}));
  // replaces_model: the mean family (and the robust ones) swap buffers; server optimizers apply
  STATIC_REQUIRE(aggregator_traits<fda::mean>::replaces_model<float>());
  STATIC_REQUIRE(aggregator_traits<fda::weighted_mean>::replaces_model<double>());
  STATIC_REQUIRE(aggregator_traits<fda::coordinate_median>::replaces_model<float>());
  STATIC_REQUIRE(aggregator_traits<fda::trimmed_mean>::replaces_model<float>());
  STATIC_REQUIRE_FALSE(aggregator_traits<fda::fedavgm>::replaces_model<float>());
  STATIC_REQUIRE_FALSE(aggregator_traits<fda::fedadam>::replaces_model<float>());
  STATIC_REQUIRE_FALSE(aggregator_traits<fda::fedyogi>::replaces_model<double>());
  STATIC_REQUIRE_FALSE(aggregator_traits<fda::fedadagrad>::replaces_model<double>());
  CHECK(aggregator_traits<fda::mean>::replaces_model<float>(fda::mean{}));  // run time: the static answer
  CHECK_FALSE(aggregator_traits<fda::fedadam>::replaces_model<float>(fda::fedadam{}));
  CHECK(aggregator_traits<run_time_choice>::replaces_model<float>({.averages = true}));  // its own member
  CHECK_FALSE(aggregator_traits<run_time_choice>::replaces_model<float>({.averages = false}));
  CHECK(fda::replaces_model<float>(run_time_choice{.averages = false}) == false);  // the wrapper agrees
  // combine_rule and is_robust: the order statistics of the robust aggregators
  STATIC_REQUIRE(aggregator_traits<fda::coordinate_median>::is_robust);
  STATIC_REQUIRE(aggregator_traits<fda::trimmed_mean>::is_robust);
  STATIC_REQUIRE_FALSE(aggregator_traits<fda::mean>::is_robust);
  STATIC_REQUIRE_FALSE(aggregator_traits<fda::fedadam>::is_robust);
  CHECK(aggregator_traits<fda::coordinate_median>::combine_rule({}).trim == 0.5);
  CHECK(aggregator_traits<fda::trimmed_mean>::combine_rule({.trim = 0.2}).trim == 0.2);
  CHECK(aggregator_traits<fda::mean>::combine_rule({}).is_mean());
  CHECK(fda::combine_rule_of(run_time_choice{.averages = false}).trim == 0.5);
  // state_fields: the server optimizers' moments; none for the mean family
  STATIC_REQUIRE(aggregator_traits<fda::fedadam>::has_state_fields<fda::fedadam::state<float>, std::vector<float>&>);
  STATIC_REQUIRE(aggregator_traits<fda::fedavgm>::has_state_fields<fda::fedavgm::state<double>, std::vector<double>&>);
  STATIC_REQUIRE_FALSE(aggregator_traits<fda::mean>::has_state_fields<fda::mean::state<float>, std::vector<float>&>);
  fda::fedavgm::state<float> momentum(fda::fedavgm{}, 3);
  momentum.m = {1, 2, 3};
  std::size_t visited = 0;
  aggregator_traits<fda::fedavgm>::state_fields(momentum, [&](auto& field) { visited += field.size(); });
  CHECK(visited == 3);
}
