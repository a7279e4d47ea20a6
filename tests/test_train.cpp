#include <fda/fda.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "least_squares.hpp"

using fda_test::least_squares;
using fda_test::ls_worker;

namespace {

/// Stops the run once the averaged model is within `tol` of the optimum (checked at
/// every epoch end); records when.
struct until_optimum {
  const least_squares* problem = nullptr;
  double tol = 0;
  std::size_t reached_step = 0;
  std::size_t reached_syncs = 0;
  bool on_epoch(const fda::epoch_info<double>& e) {
    if (problem->relative_error(e.averaged_model) > tol) return false;
    reached_step = e.step;
    reached_syncs = e.syncs;
    return true;
  }
};

// 8 workers, 20 unknowns, 100 noisy rows each with a worker-dependent shift: the
// workers' own optima differ, so how often they sync decides where they end.
const least_squares problem(20, 8, 100, 0.5, 1, 0.2);
constexpr double tol = 1e-2;
constexpr std::size_t steps_per_epoch = 25;

template <class Policy, class Aggregator = fda::mean>
fda::result solve(Policy policy, until_optimum& stop, Aggregator agg = {}) {
  fda::local_cluster cluster(problem.workers);
  stop = until_optimum{&problem, tol};
  return fda::train(
      cluster, [](std::size_t rank) { return ls_worker{&problem, rank, 0.05}; }, policy, agg,
      {.max_steps = 3000, .steps_per_epoch = steps_per_epoch, .seed = 3}, stop);
}

/// Runs without stopping and returns the result (for counters and determinism).
template <class Policy>
fda::result run_plain(Policy policy, std::size_t workers, std::size_t steps) {
  const least_squares p(30, workers, 20, 0.5, 2, 0.1);
  fda::local_cluster cluster(workers);
  return fda::train(
      cluster, [&](std::size_t rank) { return ls_worker{&p, rank, 0.02}; }, policy, fda::mean{},
      {.max_steps = steps, .steps_per_epoch = 10, .seed = 9});
}

}  // namespace

TEST_CASE("every policy reaches the optimum of a convex problem") {
  until_optimum stop;
  auto reaches = [&](const char* name, const fda::result& r) {
    INFO(name << ": reached at step " << stop.reached_step << " after " << stop.reached_syncs
              << " syncs; final error " << problem.relative_error(r.model));
    CHECK(stop.reached_step > 0);
    CHECK(problem.relative_error(r.model) <= tol);
  };
  reaches("synchronous", solve(fda::synchronous{}, stop));
  reaches("periodic", solve(fda::periodic{.every = 10}, stop));
  reaches("fedavg", solve(fda::fedavg{.local_epochs = 1}, stop));
  reaches("naive", solve(fda::naive_fda{.theta = 0.1}, stop));
  reaches("linear", solve(fda::linear_fda{.theta = 0.1}, stop));
  reaches("sketch", solve(fda::sketch_fda{.theta = 0.1}, stop));
  reaches("exact", solve(fda::exact_variance{.theta = 0.1}, stop));
  reaches("max-drift", solve(fda::max_drift{.theta = 0.1}, stop));
  reaches("linear adaptive", solve(fda::linear_fda{}, stop));
  reaches("fedavgm", solve(fda::periodic{.every = 10}, stop, fda::fedavgm{.lr = 1.0, .momentum = 0.3}));
  reaches("fedadam", solve(fda::periodic{.every = 5}, stop, fda::fedadam{.lr = 0.05}));
  reaches("weighted", solve(fda::linear_fda{.theta = 0.1}, stop, fda::weighted_mean{}));
}

TEST_CASE("FDA needs at least 10x fewer syncs than synchronous for the same tolerance") {
  until_optimum stop;
  solve(fda::synchronous{}, stop);
  const std::size_t synchronous = stop.reached_syncs;
  REQUIRE(synchronous > 0);
  auto check = [&](const char* name, auto policy) {
    solve(policy, stop);
    INFO(name << ": " << stop.reached_syncs << " syncs against " << synchronous << " for synchronous");
    CHECK(stop.reached_step > 0);
    CHECK(stop.reached_syncs * 10 <= synchronous);
  };
  // NaiveFDA's H also counts the common drift ||ū||², large while GD makes progress: it
  // needs a larger Θ for the same effect.
  check("naive", fda::naive_fda{.theta = 1.0});
  check("linear", fda::linear_fda{.theta = 0.1});
  check("sketch", fda::sketch_fda{.theta = 0.1});
  check("exact", fda::exact_variance{.theta = 0.1});
}

TEST_CASE("the adaptive threshold, untuned, needs at most 3x the syncs of the best fixed θ of a sweep") {
  until_optimum stop;
  std::size_t best = std::numeric_limits<std::size_t>::max();
  std::ostringstream sweep;
  for (double theta : {1e-3, 1e-2, 1e-1, 1.0, 10.0}) {
    solve(fda::linear_fda{.theta = theta}, stop);
    sweep << " θ=" << theta << ": " << (stop.reached_step ? std::to_string(stop.reached_syncs) : "never");
    if (stop.reached_step) best = std::min(best, stop.reached_syncs);
  }
  solve(fda::linear_fda{}, stop);
  WARN("syncs to reach the optimum, LinearFDA:" << sweep.str() << "; adaptive: " << stop.reached_syncs);
  REQUIRE(stop.reached_step > 0);
  CHECK(stop.reached_syncs <= 3 * best);
}

TEST_CASE("byte counters equal the cost model exactly") {
  const std::size_t k = 8, d = 30, steps = 200;
  const std::uint64_t per_sync = 2ull * k * 4 * d;
  auto r = run_plain(fda::synchronous{}, k, steps);
  CHECK(r.steps == steps);
  CHECK(r.syncs == steps);
  CHECK(r.sync_bytes == steps * per_sync);
  CHECK(r.monitor_bytes == 0);
  CHECK(r.total_bytes() == r.sync_bytes);

  r = run_plain(fda::periodic{.every = 7}, k, steps);
  CHECK(r.syncs == steps / 7);
  CHECK(r.sync_bytes == (steps / 7) * per_sync);

  r = run_plain(fda::linear_fda{.theta = 0.05}, k, steps);
  CHECK(r.checks == steps);
  CHECK(r.monitor_bytes == steps * k * 8);
  CHECK(r.sync_bytes == r.syncs * per_sync);
  CHECK(r.sync_log.size() == r.syncs);

  r = run_plain(fda::sketch_fda{.theta = 0.05, .depth = 3, .width = 50}, k, steps);
  CHECK(r.monitor_bytes == steps * k * 4 * (1 + 3 * 50));

  r = run_plain(fda::naive_fda{.theta = fda::adaptive{.first_round = 20, .max_round = 60}}, k, steps);
  CHECK(r.checks == steps - 20);  // no monitoring while calibrating
  CHECK(r.monitor_bytes == r.checks * k * 4 + r.syncs * k * 4);  // + Var at each sync
  CHECK(r.sync_bytes == r.syncs * per_sync);
}

TEST_CASE("the same seed gives bit-identical models and sync steps whatever the scheduling") {
  auto a = run_plain(fda::linear_fda{.theta = 0.02}, 16, 150);
  auto b = run_plain(fda::linear_fda{.theta = 0.02}, 16, 150);
  REQUIRE(a.model.size() == b.model.size());
  CHECK(std::memcmp(a.model.data(), b.model.data(), a.model.size() * sizeof(double)) == 0);
  REQUIRE(a.sync_log.size() == b.sync_log.size());
  CHECK(a.syncs > 2);
  for (std::size_t i = 0; i < a.sync_log.size(); ++i) {
    CHECK(a.sync_log[i].step == b.sync_log[i].step);
    CHECK(a.sync_log[i].estimate == b.sync_log[i].estimate);
  }
}

TEST_CASE("64 workers on 2 cores") {
  const auto r = run_plain(fda::sketch_fda{.theta = 0.05}, 64, 60);
  CHECK(r.steps == 60);
  CHECK(r.model.size() == 30);
}

TEST_CASE("the sync record holds the estimate and the exact variance at sync time") {
  const auto r = run_plain(fda::exact_variance{.theta = 0.05}, 8, 100);
  REQUIRE(r.syncs > 0);
  for (const auto& s : r.sync_log) {
    CHECK(s.estimate > s.theta);
    // The exact-variance oracle's H is the variance about w̄, computed another way.
    CHECK(s.variance == Approx(s.estimate).epsilon(1e-9));
  }
}

namespace {
/// A worker whose parameters are its rank, weighted by rank + 1 samples.
struct constant_worker {
  std::vector<float> p;
  std::size_t n;
  std::vector<float>& params() { return p; }
  void step() {}
  std::size_t samples() const { return n; }
};
}  // namespace

TEST_CASE("weighted means weight the workers by their sample counts") {
  fda::local_cluster cluster(4);
  auto make = [](std::size_t r) { return constant_worker{std::vector<float>(3, float(r)), r + 1}; };
  // Worker 0's model is the start for all; perturb after the broadcast by a first step.
  struct shifted : constant_worker {
    std::size_t rank;
    bool moved = false;
    void step() {
      if (!moved) std::fill(p.begin(), p.end(), float(rank));
      moved = true;
    }
  };
  auto make_shifted = [&](std::size_t r) { return shifted{make(r), r}; };
  auto plain = fda::train(cluster, make_shifted, fda::synchronous{}, fda::mean{}, {.max_steps = 1});
  auto weighted = fda::train(cluster, make_shifted, fda::synchronous{}, fda::weighted_mean{}, {.max_steps = 1});
  CHECK(plain.model[0] == Approx((0 + 1 + 2 + 3) / 4.0));
  CHECK(weighted.model[0] == Approx((0 * 1 + 1 * 2 + 2 * 3 + 3 * 4) / 10.0));
}

namespace {
struct counting {
  std::size_t begins = 0, steps = 0, syncs = 0, epochs = 0, ends = 0;
  void on_begin(const fda::run_info&) { ++begins; }
  void on_step(const fda::step_info&) { ++steps; }
  void on_sync(const fda::sync_record&) { ++syncs; }
  void on_epoch(fda::epoch_info<double>&) { ++epochs; }
  void on_end(const fda::result&) { ++ends; }
};
struct stop_at_step {
  std::size_t at;
  bool on_step(const fda::step_info& s) { return s.step >= at; }
};
}  // namespace

TEST_CASE("callbacks: every hook runs once per run event, and a hook can stop training") {
  const least_squares p(10, 4, 20, 0.1, 3);
  fda::local_cluster cluster(4);
  counting c;
  auto r = fda::train(
      cluster, [&](std::size_t rank) { return ls_worker{&p, rank, 0.02}; },
      fda::periodic{.every = 6}, fda::mean{}, {.max_steps = 50, .steps_per_epoch = 10}, c);
  CHECK(c.begins == 1);
  CHECK(c.steps == 50);
  CHECK(c.syncs == 8);
  CHECK(c.epochs == 5);
  CHECK(c.ends == 1);
  CHECK_FALSE(r.stopped_by_callback);

  counting c2;
  r = fda::train(
      cluster, [&](std::size_t rank) { return ls_worker{&p, rank, 0.02}; },
      fda::periodic{.every = 6}, fda::mean{}, {.max_steps = 50, .steps_per_epoch = 10}, c2,
      stop_at_step{17});
  CHECK(r.steps == 17);
  CHECK(r.syncs == 2);
  CHECK(r.stopped_by_callback);
  CHECK(c2.steps == 17);  // the other callbacks still saw the last step
  CHECK(c2.ends == 1);
}

namespace {
struct sized_worker {
  std::vector<double> p;
  std::vector<double>& params() { return p; }
  void step() {}
};
struct failing_worker {
  std::size_t rank;
  std::size_t nan_at = 0, throw_at = 0;
  std::vector<double> p = std::vector<double>(8, 1.0);
  std::size_t steps = 0;
  std::vector<double>& params() { return p; }
  void step() {
    ++steps;
    if (rank == 2 && steps == nan_at) p[5] = std::nan("");
    if (rank == 3 && steps == throw_at) throw std::runtime_error("worker 3 lost its data loader");
  }
};
}  // namespace

TEST_CASE("failures: different model sizes, a throwing worker, NaN in parameters") {
  fda::local_cluster cluster(6);
  CHECK_THROWS_WITH(
      fda::train(cluster, [](std::size_t r) { return sized_worker{std::vector<double>(r == 4 ? 9 : 10)}; },
                 fda::synchronous{}, fda::mean{}, {.max_steps = 3}),
      Catch::Contains("worker 4 has 9 parameters but worker 0 has 10"));

  // An exception in one worker's step reaches the caller; no deadlock, no terminate.
  CHECK_THROWS_WITH(fda::train(cluster, [](std::size_t r) { return failing_worker{r, 0, 7}; },
                               fda::linear_fda{.theta = 1e9}, fda::mean{}, {.max_steps = 20}),
                    "worker 3 lost its data loader");

  // NaN: found by the monitoring check of that very step,
  CHECK_THROWS_WITH(fda::train(cluster, [](std::size_t r) { return failing_worker{r, 5}; },
                               fda::linear_fda{.theta = 1e9}, fda::mean{}, {.max_steps = 20}),
                    Catch::Contains("worker 2 at step 5") && Catch::Contains("'sq_norm'"));
  // by the sync for a schedule,
  CHECK_THROWS_WITH(fda::train(cluster, [](std::size_t r) { return failing_worker{r, 5}; },
                               fda::periodic{.every = 4}, fda::mean{}, {.max_steps = 20}),
                    Catch::Contains("worker 2 has NaN or Inf in its parameters at step 8"));
  // or at once when asked to scan every step.
  CHECK_THROWS_WITH(fda::train(cluster, [](std::size_t r) { return failing_worker{r, 5}; },
                               fda::periodic{.every = 4}, fda::mean{},
                               {.max_steps = 20, .check_finite_every_step = true}),
                    Catch::Contains("worker 2 has NaN or Inf in its parameters at step 5"));
  // The cluster is reusable after a failure.
  CHECK(fda::train(cluster, [](std::size_t r) { return failing_worker{r}; }, fda::synchronous{},
                   fda::mean{}, {.max_steps = 3}).steps == 3);
  CHECK_THROWS_WITH(fda::local_cluster(0), Catch::Contains("workers = 0"));
  CHECK_THROWS_WITH(fda::train(cluster, [](std::size_t r) { return failing_worker{r}; },
                               fda::synchronous{}, fda::mean{}, {}),
                    Catch::Contains("set max_steps"));
}
