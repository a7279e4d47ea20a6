// SPDX-License-Identifier: Apache-2.0
// <fda/benchmark.hpp>: the memory baseline against a brute-force sum, the rows a run leaves
// (cost-model bytes as docs/algorithm.md states them, positive times and ratios, schedules
// marked as never checking), and bad shapes refused by name.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include <fda/benchmark.hpp>
#include <fda/fda.hpp>

namespace {

template <class T, std::size_t N>
void check_plain_read(std::size_t d) {
  std::mt19937_64 rng(d * 31 + N);
  std::vector<std::vector<T>> a(N, std::vector<T>(d));
  double exact = 0, magnitude = 0;
  for (auto& x : a)
    for (auto& v : x) {
      v = T(double(rng() >> 11) * 0x1p-53 - 0.25);
      exact += double(v);
      magnitude += std::abs(double(v));
    }
  std::array<const T*, N> p{};
  for (std::size_t k = 0; k < N; ++k) p[k] = a[k].data();
  const double got = double(fda::plain_read<N, T>(p, d));
  // Summed in T over 8 vectors of lanes: rounding errors of random sign, about
  // eps · magnitude · sqrt(d·N) (4× that allowed); one element left out would be ~0.1.
  const double eps = std::is_same_v<T, float> ? 0x1p-24 : 0x1p-53;
  CHECK(std::abs(got - exact) <= 4 * eps * magnitude * std::sqrt(double(d * N)));
}

fda::benchmark_row row_named(const std::string& kind, const std::string& name, std::size_t d) {
  for (const auto& r : fda::benchmark_results())
    if (r.kind == kind && r.name == name && r.dim == d) return r;
  FAIL("no row " << kind << " " << name << " d = " << d);
  return {};
}

}  // namespace

TEST_CASE("plain_read sums every element of N arrays, float and double, any length") {
  for (std::size_t d : {std::size_t(1), std::size_t(31), std::size_t(32), std::size_t(33), std::size_t(1000),
                        std::size_t(4097)}) {
    check_plain_read<float, 1>(d);
    check_plain_read<float, 3>(d);
    check_plain_read<double, 2>(d);
    check_plain_read<double, 4>(d);
  }
  // A read that skipped the tail (d not a multiple of 32 lanes) would miss this one.
  std::vector<float> x(33, 0.0f);
  x[32] = 1.0f;
  CHECK(fda::plain_read<1, float>({x.data()}, x.size()) == 1.0f);
}

TEST_CASE("median_seconds calls f warmup + runs times and returns a time") {
  std::size_t calls = 0;
  const double t = fda::median_seconds([&] { ++calls; }, 40);
  CHECK(calls == 43);
  CHECK(t >= 0);
  CHECK(std::isfinite(t));
  calls = 0;
  (void)fda::median_seconds([&] { ++calls; }, 5, 0);
  CHECK(calls == 5);
}

TEST_CASE("a run of the registered benchmarks leaves one row per case, with the cost model's bytes") {
  const std::size_t d = 3000, k = 5;
  fda::register_policy_benchmark(fda::linear_fda{.theta = 1.0}, {.dim = d, .workers = k, .tensors = 3});
  fda::register_policy_benchmark(fda::sketch_fda{.theta = 1.0, .depth = 3, .width = 40}, {.dim = d, .workers = k});
  fda::register_policy_benchmark<double>(fda::naive_fda{.theta = 1.0}, {.dim = d, .workers = k});
  fda::register_policy_benchmark(fda::periodic{.every = 4}, {.dim = d, .workers = k});
  fda::register_sync_benchmark(fda::fedadam{}, {.dim = d, .workers = k});
  fda::register_sync_benchmark(fda::coordinate_median{}, {.dim = d, .workers = 3});

  // Before the run: every row declared, nothing measured.
  REQUIRE(fda::benchmark_results().size() == 6);
  CHECK(std::isnan(row_named("check", "linear_fda", d).seconds));

  char name[] = "test_benchmark", min_time[] = "--benchmark_min_time=0.01";
  char* argv[] = {name, min_time, nullptr};
  int argc = 2;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();

  const auto linear = row_named("check", "linear_fda", d);
  CHECK(linear.state_bytes == 8);
  CHECK(linear.cost_model_bytes == double(k * 8));
  CHECK(linear.bytes_read == double(3 * d * sizeof(float)));  // w, w0 and ξ
  CHECK(linear.tensors == 3);
  const auto sketch = row_named("check", "sketch_fda", d);
  CHECK(sketch.state_bytes == 4 * (1 + 3 * 40));
  CHECK(sketch.cost_model_bytes == double(k * 4 * (1 + 3 * 40)));
  const auto naive = row_named("check", "naive_fda", d);
  CHECK(naive.type == "double");
  CHECK(naive.bytes_read == double(2 * d * sizeof(double)));
  for (const auto& r : {linear, sketch, naive}) {
    CHECK(r.checks);
    CHECK(r.seconds > 0);
    CHECK(r.baseline_seconds > 0);
    CHECK(r.ratio == Approx(r.seconds / r.baseline_seconds));
    CHECK(r.samples > 0);
  }
  const auto periodic = row_named("check", "periodic", d);
  CHECK_FALSE(periodic.checks);
  CHECK(periodic.seconds == 0);
  CHECK(periodic.cost_model_bytes == 0);
  for (const auto& [name_, workers] : {std::pair{"fedadam", k}, std::pair{"coordinate_median", std::size_t(3)}}) {
    const auto sync = row_named("sync", name_, d);
    CHECK(sync.cost_model_bytes == 2.0 * double(workers) * 4.0 * double(d));
    CHECK(sync.bytes_read == double(workers * d * sizeof(float)));
    CHECK(sync.seconds > 0);
    CHECK(sync.ratio > 0);
  }
}

TEST_CASE("bad shapes and options are refused, naming the field and the value") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(fda::register_policy_benchmark(fda::linear_fda{.theta = 1.0}, {.dim = 0}),
                    Contains("shape.dim = 0 is invalid"));
  CHECK_THROWS_WITH(fda::register_policy_benchmark(fda::linear_fda{.theta = 1.0}, {.dim = 10, .workers = 0}),
                    Contains("shape.workers = 0 is invalid"));
  CHECK_THROWS_WITH(fda::register_policy_benchmark(fda::linear_fda{.theta = 1.0}, {.dim = 10, .tensors = 11}),
                    Contains("shape.tensors = 11 is invalid"));
  CHECK_THROWS_WITH(fda::register_policy_benchmark(fda::naive_fda{.theta = 1.0}, {.dim = 10}, {.arrays_read = 65}),
                    Contains("options.arrays_read = 65 is invalid"));
  CHECK_THROWS_WITH(fda::register_sync_benchmark(fda::mean{}, {.dim = 0}), Contains("shape.dim = 0 is invalid"));
  // Two configurations of one policy under one name would share a row: refused, and a label
  // tells them apart.
  const fda::benchmark_shape shape{.dim = 64, .workers = 2};
  fda::register_policy_benchmark(fda::sketch_fda{.theta = 1.0}, shape);
  CHECK_THROWS_WITH(fda::register_policy_benchmark(fda::sketch_fda{.theta = 1.0, .sketch = fda::sketch_kind::tiled}, shape),
                    Contains("'fda.check/sketch_fda/d:64/K:2' is already registered"));
  CHECK_NOTHROW(fda::register_policy_benchmark(fda::sketch_fda{.theta = 1.0, .sketch = fda::sketch_kind::tiled}, shape,
                                               {.label = "sketch_fda.tiled"}));
  // Arrays that cannot fit are refused before anything is allocated.
  CHECK_THROWS_WITH(fda::register_sync_benchmark(fda::mean{}, {.dim = std::size_t(1) << 40, .workers = 1000}),
                    Contains("GB of memory: use a smaller dim or fewer workers"));
  CHECK_THROWS_AS(fda::register_sync_benchmark(fda::fedadam{.lr = -1}, {.dim = 10}), fda::invalid_argument);
  CHECK_THROWS_WITH(fda::register_policy_benchmark(fda::sketch_fda{.theta = 1.0, .depth = 0}, {.dim = 10}),
                    Contains("depth"));
}
