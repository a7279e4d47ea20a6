// SPDX-License-Identifier: Apache-2.0
// Robust aggregation (coordinate_median, trimmed_mean) against brute-force references, a
// least-squares run with 2 hostile workers out of 16, and faulty local states: refused by
// name, or excluded and logged.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <fda/aggregate.hpp>
#include <fda/policy.hpp>
#include <fda/train.hpp>

#include "drifting_worker.hpp"
#include "least_squares.hpp"

namespace {

/// The K workers' models averaged by the cluster with `rule`.
std::vector<float> aggregate(const std::vector<std::vector<float>>& models, fda::detail::combine_rule rule,
                             const std::vector<double>& weights) {
  std::vector<float> out(models[0].size());
  fda::local_cluster cluster(models.size());
  cluster.run([&](fda::cluster_comm& c) {
    const fda::param_view<const float> mine = fda::view(models[c.rank()]);
    c.average(mine, weights[c.rank()], std::span<float>(out), rule);
  });
  return out;
}

/// Brute force in long double: sort the voters' values of each element.
std::vector<float> reference(const std::vector<std::vector<float>>& models, double trim,
                             const std::vector<double>& weights) {
  std::vector<float> out(models[0].size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::vector<long double> v;
    for (std::size_t k = 0; k < models.size(); ++k)
      if (weights[k] > 0) v.push_back(models[k][i]);
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size();
    if (trim >= 0.5) {
      out[i] = float(m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2);
      continue;
    }
    const std::size_t drop = std::size_t(trim * double(m));
    long double s = 0;
    for (std::size_t j = drop; j < m - drop; ++j) s += v[j];
    out[i] = float(s / (long double)(m - 2 * drop));
  }
  return out;
}

}  // namespace

TEST_CASE("median and trimmed mean equal a brute-force reference, and ignore left-out workers") {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> g;
  for (std::size_t k : {1, 2, 5, 8, 13}) {
    std::vector<std::vector<float>> models(k, std::vector<float>(9001));
    for (auto& m : models)
      for (auto& x : m) x = g(rng);
    std::vector<double> weights(k, 1.0);
    for (double trim : {0.0, 0.1, 0.25, 0.5}) {
      INFO("K = " << k << ", trim = " << trim);
      const auto got = aggregate(models, {trim}, weights);
      const auto want = reference(models, trim, weights);
      std::size_t off = 0;
      for (std::size_t i = 0; i < got.size(); ++i) off += std::abs(got[i] - want[i]) > 1e-6f * (1 + std::abs(want[i]));
      CHECK(off == 0);
    }
    if (k > 2) {  // a worker of weight 0 holding NaN does not vote
      weights[1] = 0.0;
      for (auto& x : models[1]) x = std::numeric_limits<float>::quiet_NaN();
      const auto got = aggregate(models, {0.5}, weights);
      CHECK(got == reference(models, 0.5, weights));
      const auto mean = aggregate(models, {}, weights);
      CHECK(std::all_of(mean.begin(), mean.end(), [](float x) { return std::isfinite(x); }));
    }
  }
  // NaN counts as the largest value: one NaN worker out of 5 is trimmed away.
  std::vector<std::vector<float>> five(5, std::vector<float>(10, 1.0f));
  five[3].assign(10, std::numeric_limits<float>::quiet_NaN());
  const auto trimmed = aggregate(five, {0.2}, std::vector<double>(5, 1.0));
  CHECK(trimmed == std::vector<float>(10, 1.0f));
  CHECK_THROWS_WITH(fda::trimmed_mean::state<float>(fda::trimmed_mean{.trim = 0.5}, 3),
                    Catch::Contains("trim = 0.5 is invalid"));
}

namespace {
/// Two of 16 workers are hostile: one sends its model sign-flipped ×10, one huge values.
struct hostile_ls_worker : fda_test::ls_worker {
  int kind = 0;
  void step() {
    fda_test::ls_worker::step();
    if (kind == 1)
      for (auto& v : x) v *= -10.0;
    if (kind == 2)
      for (auto& v : x) v = 1e6;
  }
};

template <class Aggregator>
double hostile_run_error(Aggregator agg, const fda_test::least_squares& problem) {
  fda::local_cluster cluster(16);
  try {
    const auto r = fda::train(
        cluster,
        [&](std::size_t rank) {
          return hostile_ls_worker{{&problem, rank, 0.05}, rank == 14 ? 1 : rank == 15 ? 2 : 0};
        },
        fda::periodic{.every = 5}, agg, {.max_steps = 400});
    return problem.relative_error(r.model);
  } catch (const fda::numeric_error&) {
    return std::numeric_limits<double>::infinity();  // the mean overflowed
  }
}
}  // namespace

TEST_CASE("16 workers, 2 hostile: the robust aggregators converge, the mean does not") {
  const fda_test::least_squares problem(10, 16, 40, 0.1, 8);
  const double trimmed = hostile_run_error(fda::trimmed_mean{.trim = 0.2}, problem);
  const double median = hostile_run_error(fda::coordinate_median{}, problem);
  const double mean = hostile_run_error(fda::mean{}, problem);
  INFO("relative error: trimmed " << trimmed << ", median " << median << ", mean " << mean);
  CHECK(trimmed < 0.05);
  CHECK(median < 0.1);
  CHECK(mean > 1.0);
}

TEST_CASE("faulty local states: found by kind, refused by name, or excluded and logged") {
  const fda::run_info info{.dim = 4, .workers = 2, .seed = 1};
  const fda::linear_fda::monitor<float> linear({.theta = 1.0}, info);
  using kind = fda::state_fault_kind;
  auto fault = [&](std::vector<double> s) { return fda::find_state_fault(linear, s); };
  CHECK(!fault({4.0, 1.0}));
  CHECK(fault({-1.0, 0.0})->kind == kind::negative_square);
  CHECK(fault({1.0, std::numeric_limits<double>::infinity()})->kind == kind::not_finite);
  CHECK(fault({1.0, 3.0})->kind == kind::impossible);  // |ξ·u| = 3 > ||ξ||·||u|| = 1
  CHECK(fault({1.0, 3.0})->field == 1);
  const auto message = fda::describe_state_fault(linear, "linear_fda", 3, *fault({-2.0, 0.0}), 12);
  CHECK(message == "fda: worker 3 at step 12 sent a local state whose field 'sq_norm' (linear_fda, index 0) is -2: "
                   "a squared norm cannot be negative");

  // A worker whose parameters turn NaN at step 10.
  auto make = [](std::size_t r) {
    fda_test::drifting_worker w(r, 50);
    if (r == 2) w.poison_at = 10;
    return w;
  };
  fda::local_cluster cluster(4);
  CHECK_THROWS_WITH(fda::train(cluster, make, fda::linear_fda{.theta = 0.5}, fda::mean{}, {.max_steps = 40}),
                    Catch::Contains("worker 2 at step 10") && Catch::Contains("'sq_norm'"));
  const auto r = fda::train(cluster, make, fda::linear_fda{.theta = 0.5}, fda::mean{},
                            {.max_steps = 40, .on_bad_state = fda::on_fault::exclude});
  REQUIRE(!r.faults.empty());
  CHECK(r.faults[0].step == 10);
  CHECK(r.faults[0].worker == 2);
  CHECK_THAT(r.faults[0].message, Catch::Contains("its parameters hold NaN or Inf"));
  for (const auto& f : r.faults) CHECK(f.worker == 2);
  CHECK(r.faults.size() < 30);  // readmitted with the global model at the next sync
  CHECK(r.syncs > 0);
  CHECK(std::all_of(r.model.begin(), r.model.end(), [](double x) { return std::isfinite(x); }));
}
