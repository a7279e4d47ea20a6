// SPDX-License-Identifier: Apache-2.0
#include <fda/fda.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "drifting_worker.hpp"
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

// 8 workers, 20 unknowns, 100 noisy rows each. Heterogeneous: each worker's rows follow
// its own truth (spread 0.3) and scale the features its own way (curvature 0.2), so the
// global optimum is not the mean of the local optima (relative error 0.063 from it, more
// than 3× the tolerance): workers that never communicate cannot solve it. Local gradient
// descent at a decaying rate (0.03 / (1 + 0.005 t)), so that syncing often enough reaches
// the optimum despite the heterogeneity.
const least_squares problem(20, 8, 100, 0.5, 1, 0.0, 0.3, 0.2);
constexpr double tol = 2e-2;
constexpr std::size_t steps_per_epoch = 25;

template <class Policy, class Aggregator = fda::mean>
fda::result solve(Policy policy, until_optimum& stop, Aggregator agg = {}) {
  fda::local_cluster cluster(problem.workers);
  stop = until_optimum{&problem, tol};
  return fda::train(
      cluster, [](std::size_t rank) { return ls_worker{&problem, rank, 0.03, 0.005}; }, policy, agg,
      {.max_steps = 3000, .steps_per_epoch = steps_per_epoch, .seed = 3}, stop);
}

/// The claim of the tests below: the run's averaged model came within tol of the optimum.
bool reached_optimum(const until_optimum& stop, const fda::result& r) {
  return stop.reached_step > 0 && problem.relative_error(r.model) <= tol;
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
    CHECK(reached_optimum(stop, r));
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
  reaches("max-drift adaptive", solve(fda::max_drift{}, stop));
  reaches("fedavgm", solve(fda::periodic{.every = 10}, stop, fda::fedavgm{.lr = 1.0, .momentum = 0.3}));
  reaches("fedadam", solve(fda::periodic{.every = 5}, stop, fda::fedadam{.lr = 0.05}));
  reaches("weighted", solve(fda::linear_fda{.theta = 0.1}, stop, fda::weighted_mean{}));
}

TEST_CASE("negative control: workers that never communicate do not reach the optimum") {
  // The problem needs communication: the mean of the local optima is far from the optimum,
  REQUIRE(problem.relative_error(problem.mean_of_local_optima()) > 3 * tol);
  // and a policy that never syncs (or whose Θ is never reached) fails the claim above.
  until_optimum stop;
  for (const auto& r : {solve(fda::periodic{.every = 1'000'000}, stop), solve(fda::linear_fda{.theta = 1e9}, stop)}) {
    INFO("syncs " << r.syncs << ", final error " << problem.relative_error(r.model));
    CHECK(r.syncs == 0);
    CHECK_FALSE(reached_optimum(stop, r));
    CHECK(problem.relative_error(r.model) > 2 * tol);
  }
}

// Measured on this problem (deterministic: the same on every run): synchronous 200 syncs;
// linear and sketch 19, exact 18 (θ = 0.1), naive 14 (θ = 0.3), i.e. 10.5-14× fewer. The
// test claims 8×, a margin below what it measures.
TEST_CASE("FDA needs at least 8x fewer syncs than synchronous for the same tolerance") {
  until_optimum stop;
  solve(fda::synchronous{}, stop);
  const std::size_t synchronous = stop.reached_syncs;
  REQUIRE(synchronous > 0);
  auto check = [&](const char* name, auto policy) {
    solve(policy, stop);
    WARN(name << ": " << stop.reached_syncs << " syncs against " << synchronous << " for synchronous");
    CHECK(stop.reached_step > 0);
    CHECK(stop.reached_syncs * 8 <= synchronous);
  };
  // NaiveFDA's H also counts the common drift ||ū||², large while GD makes progress: it
  // needs a larger Θ for the same effect.
  check("naive", fda::naive_fda{.theta = 0.3});
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

namespace {
/// A least-squares worker that records its parameters after every step into (*log)[rank],
/// with its own sample count (rank + 1) and, from step `nan_at` on, NaN in one parameter.
struct recording_worker : ls_worker {
  std::vector<std::vector<double>>* log = nullptr;
  std::size_t nan_at = 0;
  std::size_t samples() const { return rank + 1; }
  void step() {
    ls_worker::step();
    if (nan_at && t >= nan_at) x[1] = std::nan("");
    (*log)[rank] = x;
  }
};

/// Σ_k n_k x_k / Σ_k n_k over the workers `who`, in long double: the weighted mean of the definition.
std::vector<double> brute_weighted_mean(const std::vector<std::vector<double>>& xs, const std::vector<double>& n,
                                        const std::vector<std::size_t>& who) {
  std::vector<double> out(xs[who[0]].size());
  long double total = 0;
  for (const std::size_t k : who) total += n[k];
  for (std::size_t j = 0; j < out.size(); ++j) {
    long double s = 0;
    for (const std::size_t k : who) s += (long double)n[k] * xs[k][j];
    out[j] = double(s / total);
  }
  return out;
}

double max_rel_gap(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = 0, scale = 0;
  for (std::size_t j = 0; j < a.size(); ++j) {
    worst = std::max(worst, std::fabs(a[j] - b[j]));
    scale = std::max(scale, std::fabs(b[j]));
  }
  return worst / scale;
}

const least_squares small(6, 4, 20, 0.1, 5, 0.0, 0.3, 0.2);

/// fda::train on a fresh cluster of `workers`.
template <class F, class P, class A, class... C>
fda::result train_on(std::size_t workers, F make, P policy, A agg, fda::options opt, C&&... callbacks) {
  fda::local_cluster cluster(workers);
  return fda::train(cluster, make, policy, agg, opt, std::forward<C>(callbacks)...);
}
}  // namespace

TEST_CASE("the final model is the weighted average when a run ends mid-round, and global_model the server's") {
  std::vector<std::vector<double>> log(4);
  auto make = [&](std::size_t rank) { return recording_worker{{&small, rank, 0.02}, &log}; };
  const std::vector<double> n{1, 2, 3, 4};
  const std::vector<std::size_t> all{0, 1, 2, 3};
  auto ends_mid_round = [&](auto agg, const char* name) {
    // periodic{7} over 24 steps: the last sync at step 21, three local steps after it.
    struct last_epoch {
      std::vector<double> averaged;
      void on_epoch(const fda::epoch_info<double>& e) { averaged.assign(e.averaged_model.begin(), e.averaged_model.end()); }
    } epoch;
    const auto r = train_on(4, make, fda::periodic{.every = 7}, agg, {.max_steps = 24, .steps_per_epoch = 12}, epoch);
    INFO(name);
    CHECK(r.syncs == 3);
    CHECK(max_rel_gap(r.model, brute_weighted_mean(log, n, all)) < 1e-14);
    CHECK(max_rel_gap(epoch.averaged, brute_weighted_mean(log, n, all)) < 1e-14);  // the epoch's end at step 24
    // The unweighted mean is far from it: the check can fail.
    CHECK(max_rel_gap(r.model, brute_weighted_mean(log, {1, 1, 1, 1}, all)) > 1e-6);
    return r;
  };
  ends_mid_round(fda::weighted_mean{}, "weighted_mean");
  const auto m = ends_mid_round(fda::fedavgm{.lr = 1.0, .momentum = 0.5, .weighted = true}, "fedavgm");
  const auto a = ends_mid_round(fda::fedadam{.lr = 0.01, .weighted = true}, "fedadam");

  // global_model: the server's x of the last sync. A run that stops right at that sync has
  // every worker holding x; the longer run keeps the same x while the workers move on.
  for (const auto* r : {&m, &a}) {
    const bool adam = r == &a;
    const auto at_sync = adam ? train_on(4, make, fda::periodic{.every = 7},
                                           fda::fedadam{.lr = 0.01, .weighted = true}, {.max_steps = 21})
                              : train_on(4, make, fda::periodic{.every = 7},
                                           fda::fedavgm{.lr = 1.0, .momentum = 0.5, .weighted = true}, {.max_steps = 21});
    CHECK(at_sync.global_model == r->global_model);
    CHECK(max_rel_gap(at_sync.model, at_sync.global_model) < 1e-14);
    CHECK(max_rel_gap(r->model, r->global_model) > 1e-6);  // the FedOpt model is not the average
  }
}

TEST_CASE("epoch_info carries the global model next to the averaged one") {
  struct grab {
    std::vector<std::vector<double>> averaged, global;
    void on_epoch(const fda::epoch_info<double>& e) {
      averaged.emplace_back(e.averaged_model.begin(), e.averaged_model.end());
      global.emplace_back(e.global_model.begin(), e.global_model.end());
    }
  } g;
  std::vector<std::vector<double>> log(4);
  const auto r = train_on(
      4, [&](std::size_t rank) { return recording_worker{{&small, rank, 0.02}, &log}; },
      fda::periodic{.every = 7}, fda::fedadam{.lr = 0.01}, {.max_steps = 24, .steps_per_epoch = 12}, g);
  REQUIRE(g.global.size() == 2);
  CHECK(g.global[1] == r.global_model);  // no sync between step 24's epoch end and the end
  CHECK(g.averaged[1] == r.model);
  CHECK(g.global[0] != g.averaged[0]);
}

TEST_CASE("variance at a sync counts only the workers the average took") {
  // Worker 3's state turns NaN at step 2 and it is left out (exclude): the exact-variance
  // oracle's H is then the variance of the other three, and so must the recorded one be.
  std::vector<std::vector<double>> log(4);
  auto make = [&](std::size_t rank) { return recording_worker{{&small, rank, 0.02}, &log, rank == 3 ? 2u : 0u}; };
  const auto r = train_on(4, make, fda::exact_variance{.theta = 1e-4}, fda::mean{},
                            {.max_steps = 40, .on_bad_state = fda::on_fault::exclude});
  REQUIRE(r.syncs > 0);
  REQUIRE_FALSE(r.faults.empty());
  CHECK(r.faults.front().worker == 3);
  for (const auto& s : r.sync_log) {
    INFO("sync at step " << s.step);
    CHECK(s.variance == Approx(s.estimate).epsilon(1e-9));
  }
}

TEST_CASE("K = 1: no sync and no monitoring with the plain mean; server steps only when a schedule forces them") {
  const least_squares one(6, 1, 20, 0.1, 7);
  auto make = [&](std::size_t rank) { return ls_worker{&one, rank, 0.02}; };
  // The worker alone, for reference: 200 steps of its own gradient descent.
  ls_worker alone{&one, 0, 0.02};
  for (int i = 0; i < 200; ++i) alone.step();
  const fda::options opt{.max_steps = 200, .steps_per_epoch = 10};
  auto no_sync = [&](const char* name, auto policy) {
    const auto r = train_on(1, make, policy, fda::mean{}, opt);
    INFO(name << ": " << r.syncs << " syncs, " << r.total_bytes() << " bytes");
    CHECK(r.syncs == 0);
    CHECK(r.checks == 0);
    CHECK(r.total_bytes() == 0);
    CHECK(r.model == alone.x);
    CHECK(r.global_model == alone.x);
    CHECK_FALSE(r.notes.empty());
  };
  no_sync("naive", fda::naive_fda{});  // adaptive Θ, the default
  no_sync("linear", fda::linear_fda{});
  no_sync("sketch", fda::sketch_fda{});
  no_sync("exact", fda::exact_variance{});
  no_sync("max_drift", fda::max_drift{});
  no_sync("linear fixed", fda::linear_fda{.theta = 0.0});
  no_sync("synchronous", fda::synchronous{});

  // A server optimizer: a sync is a server step. Schedules take it as scheduled; a fixed Θ
  // never (Var ≡ 0); an adaptive Θ at its forced round ends (calibration, then max_round).
  CHECK(train_on(1, make, fda::periodic{.every = 5}, fda::fedadam{.lr = 0.01}, opt).syncs == 40);
  CHECK(train_on(1, make, fda::linear_fda{.theta = 0.0}, fda::fedadam{.lr = 0.01}, opt).syncs == 0);
  const auto r = train_on(1, make, fda::linear_fda{.theta = fda::adaptive{.first_round = 10, .max_round = 40}},
                            fda::fedadam{.lr = 0.01}, opt);
  std::vector<std::size_t> steps;
  for (const auto& s : r.sync_log) steps.push_back(s.step);
  CHECK(steps == std::vector<std::size_t>{10, 50, 90, 130, 170});
  CHECK(r.checks == 0);
  CHECK(std::isinf(r.final_theta));
  CHECK(r.global_model != r.model);

  // An aggregator chosen at run time says per configuration whether it only averages.
  struct chosen_at_run_time : fda::fedavgm {
    bool averages = true;
    bool replaces_model() const { return averages; }
  };
  const chosen_at_run_time plain{{.lr = 1.0, .momentum = 0.0}, true}, server{{.lr = 1.0, .momentum = 0.5}, false};
  CHECK(train_on(1, make, fda::periodic{.every = 5}, plain, opt).syncs == 0);
  CHECK(train_on(1, make, fda::periodic{.every = 5}, server, opt).syncs == 40);
}

TEST_CASE("adaptive Θ with no variance to calibrate on stays +inf: rounds of max_round, and a note") {
  // Four identical workers (the same rows, the same start): Var ≡ 0.
  const least_squares p(6, 1, 20, 0.1, 7);
  auto make = [&](std::size_t) { return ls_worker{&p, 0, 0.02}; };
  for (const auto& r : {train_on(4, make, fda::linear_fda{}, fda::mean{},
                                   {.max_steps = 200, .steps_per_epoch = 10}),
                        train_on(4, make, fda::naive_fda{}, fda::mean{},
                                   {.max_steps = 200, .steps_per_epoch = 10}),
                        train_on(4, make, fda::max_drift{.theta = fda::adaptive{.first_round = 10, .max_round = 40}},
                                   fda::mean{}, {.max_steps = 200, .steps_per_epoch = 10})}) {
    std::vector<std::size_t> steps;
    for (const auto& s : r.sync_log) steps.push_back(s.step);
    if (r.notes.empty()) {  // max_drift calibrates on the largest drift, which is > 0 here
      CHECK(std::isfinite(r.final_theta));
      CHECK(r.final_theta > 0);
      continue;
    }
    INFO(r.notes.front());
    CHECK(steps == std::vector<std::size_t>{10, 50, 90, 130, 170});  // calibration, then max_round = 4 epochs
    CHECK(std::isinf(r.final_theta));
    CHECK(r.checks == 0);  // nothing sent while Θ is +inf
    CHECK_THAT(r.notes.front(), Catch::Contains("cannot calibrate theta") && Catch::Contains("step 10"));
  }
}

TEST_CASE("max_drift's adaptive Θ calibrates on the largest drift, which its flag compares") {
  // Calibration round of 10 steps: Θ = (τ_target / 10) · max_k ||u_k||² at that sync, with
  // u_k the drifts from the start. Replay the first round to know that value.
  const least_squares p(6, 4, 20, 0.1, 8, 0.0, 0.3, 0.2);
  std::vector<std::vector<double>> log(4);
  auto make = [&](std::size_t rank) { return recording_worker{{&p, rank, 0.02}, &log}; };
  const auto first = train_on(4, make, fda::periodic{.every = 100}, fda::mean{}, {.max_steps = 10});
  double largest = 0;
  for (const auto& x : log) largest = std::max(largest, fda::sq_distance(x, std::vector<double>(6, 0.0)));
  const auto r = train_on(4, make, fda::max_drift{.theta = fda::adaptive{.first_round = 10, .max_round = 40}},
                            fda::mean{}, {.max_steps = 11});
  REQUIRE(r.syncs == 1);
  CHECK(r.final_theta == Approx(20.0 / 10.0 * largest).epsilon(1e-12));
  CHECK(r.final_theta > 1.5 * 20.0 / 10.0 * r.sync_log[0].variance);  // not Var: the check can fail
  (void)first;
}

TEST_CASE("non-finite parameters never finish a run silently, under every policy and cadence") {
  std::vector<std::vector<double>> log(4);
  auto poisoned = [&](std::size_t at) {
    return [&log, at](std::size_t rank) { return recording_worker{{&small, rank, 0.02}, &log, rank == 2 ? at : 0}; };
  };
  // No check and no sync after the NaN: the final average finds it.
  CHECK_THROWS_WITH(train_on(4, poisoned(5), fda::periodic{.every = 100}, fda::mean{}, {.max_steps = 20}),
                    Catch::Contains("worker 2 has NaN or Inf in its parameters at step 20"));
  // check_every = 4: checks at 4, 8, ..., 20; the NaN at 21 is found by the final average at 22.
  CHECK_THROWS_WITH(train_on(4, poisoned(21), fda::linear_fda{.theta = 1e9}, fda::mean{},
                               {.max_steps = 22, .check_every = 4}),
                    Catch::Contains("worker 2 has NaN or Inf in its parameters at step 22"));
  // max_drift: a NaN drift is a faulty state, not a "no" vote.
  CHECK_THROWS_WITH(train_on(4, poisoned(5), fda::max_drift{.theta = 1e9}, fda::mean{}, {.max_steps = 20}),
                    Catch::Contains("worker 2 at step 5") && Catch::Contains("'violation'"));
  // exclude: logged and left out; the model is the others' average, finite.
  const fda::options exclude{.max_steps = 20, .on_bad_state = fda::on_fault::exclude};
  auto left_out = [&](const fda::result& r) {
    REQUIRE(r.faults.size() >= 1);
    CHECK(r.faults.front().worker == 2);
    CHECK(fda::all_finite(r.model));
    CHECK(max_rel_gap(r.model, brute_weighted_mean(log, {1, 1, 1, 1}, {0, 1, 3})) < 1e-14);
  };
  left_out(train_on(4, poisoned(5), fda::periodic{.every = 100}, fda::mean{}, exclude));
  left_out(train_on(4, poisoned(5), fda::max_drift{.theta = 1e9}, fda::mean{}, exclude));
  left_out(train_on(4, poisoned(21), fda::linear_fda{.theta = 1e9}, fda::mean{},
                    {.max_steps = 22, .check_every = 4, .on_bad_state = fda::on_fault::exclude}));
  // Every worker NaN: nothing to average, even under exclude.
  CHECK_THROWS_WITH(train_on(2, [&](std::size_t rank) { return recording_worker{{&small, rank, 0.02}, &log, 3}; },
                               fda::periodic{.every = 100}, fda::mean{}, {.max_steps = 5, .on_bad_state = fda::on_fault::exclude}),
                    Catch::Contains("no worker with finite parameters"));
}

TEST_CASE("check_every > 1 through fda::train: checks every m steps of a round, syncs only then") {
  std::vector<std::vector<double>> log(4);
  auto make = [&](std::size_t rank) { return recording_worker{{&small, rank, 0.02}, &log}; };
  struct estimates {
    std::vector<bool> checked;
    void on_step(const fda::step_info& s) { checked.push_back(!std::isnan(s.estimate)); }
  } e;
  const auto quiet = train_on(4, make, fda::linear_fda{.theta = 1e9}, fda::mean{},
                                {.max_steps = 30, .check_every = 4}, e);
  CHECK(quiet.checks == 7);  // steps 4, 8, ..., 28
  CHECK(quiet.monitor_bytes == 7 * 4 * 8);
  for (std::size_t i = 0; i < e.checked.size(); ++i) CHECK(e.checked[i] == ((i + 1) % 4 == 0));
  const auto r = train_on(4, make, fda::linear_fda{.theta = 1e-4}, fda::mean{},
                            {.max_steps = 60, .check_every = 3});
  REQUIRE(r.syncs > 2);
  std::size_t previous = 0;
  for (const auto& s : r.sync_log) {
    CHECK((s.step - previous) % 3 == 0);  // a round ends only at a check
    previous = s.step;
  }
}

namespace {
/// linear_fda whose monitor checks, at every sync, that ξ becomes the direction of the
/// global step the trainer reports (new_w0 - old_w0), and records the new global models.
struct xi_probe {
  static constexpr std::string_view name = "linear_fda";
  fda::threshold theta = 1e-4;
  static inline std::vector<std::vector<double>> globals;
  static inline std::vector<double> alignment;  // ξ · (new - old) / ||new - old||, per sync
  template <class T>
  struct monitor : fda::linear_fda::monitor<T> {
    monitor(const xi_probe& p, const fda::run_info& info) : fda::linear_fda::monitor<T>(fda::linear_fda{p.theta}, info) {}
    template <class X, class Xp>
    void on_sync(const X& new_w0, const Xp& old_w0, const fda::sync_info& info) {
      fda::linear_fda::monitor<T>::on_sync(new_w0, old_w0, info);
      std::vector<T> xi;
      this->state_fields([&](auto& field) {
        if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::vector<T>>) xi = field;
      });
      long double dot = 0, norm = 0;
      for (std::size_t j = 0; j < xi.size(); ++j) {
        const long double step = (long double)new_w0[j] - old_w0[j];
        dot += step * xi[j];
        norm += step * step;
      }
      alignment.push_back(double(dot / std::sqrt(norm)));
      globals.emplace_back(new_w0.begin(), new_w0.end());
    }
  };
};
}  // namespace

TEST_CASE("after a server-optimizer sync, ξ follows the server's global step") {
  std::vector<std::vector<double>> log(4);
  auto make = [&](std::size_t rank) { return recording_worker{{&small, rank, 0.02}, &log}; };
  xi_probe::globals.clear();
  xi_probe::alignment.clear();
  const auto r = train_on(4, make, xi_probe{}, fda::fedadam{.lr = 0.01}, {.max_steps = 60});
  REQUIRE(r.syncs >= 2);
  REQUIRE(xi_probe::alignment.size() == r.syncs);
  for (const double a : xi_probe::alignment) CHECK(a == Approx(1.0).epsilon(1e-6));  // ξ = step / ||step||
  CHECK(xi_probe::globals.back() == r.global_model);  // the step was the server's (not the average)
}

TEST_CASE("a run length that overflows the step counter is an error, not a run of 0 steps") {
  const fda::options opt{.max_epochs = std::size_t(1) << 63, .steps_per_epoch = 2};
  CHECK_THROWS_WITH(opt.total_steps(), Catch::Contains("overflows"));
  CHECK_THROWS_WITH(train_on(2, [&](std::size_t rank) { return ls_worker{&small, rank, 0.02}; },
                               fda::synchronous{}, fda::mean{}, opt),
                    Catch::Contains("max_epochs = 9223372036854775808"));
}

namespace {
/// A drifting worker with the per-worker sync hook: it records the parameters it holds when
/// the hook runs, and (when `reset`) forgets its "momentum", a pull it keeps between steps.
struct hooked_worker : fda_test::drifting_worker {
  std::vector<std::vector<float>>* seen;  // one snapshot per call, this worker's
  bool reset = false;
  float momentum = 0.0f;

  hooked_worker(std::size_t r, std::size_t d, std::vector<std::vector<float>>* log, bool reset_)
      : drifting_worker(r, d), seen(log), reset(reset_) {}
  void step() {
    drifting_worker::step();
    momentum = 0.9f * momentum + 0.01f * float(rank + 1);
    for (auto& x : w[0]) x += momentum;
  }
  void on_sync() {
    seen->push_back(w[0]);
    if (reset) momentum = 0.0f;
  }
};
}  // namespace

TEST_CASE("a worker's on_sync() runs on every worker at every sync, after it took the global model") {
  const std::size_t k = 4, d = 300;
  const auto run = [&](bool reset, std::vector<std::vector<std::vector<float>>>& seen) {
    seen.assign(k, {});
    fda::local_cluster cluster(k);
    return fda::train(cluster, [&](std::size_t r) { return hooked_worker(r, d, &seen[r], reset); },
                      fda::linear_fda{.theta = 0.5}, fda::mean{}, {.max_steps = 200, .seed = 4});
  };
  std::vector<std::vector<std::vector<float>>> seen, seen_reset;
  const fda::result kept = run(false, seen);
  REQUIRE(kept.syncs >= 3);
  REQUIRE(kept.syncs < kept.steps);
  for (std::size_t r = 0; r < k; ++r) {
    INFO("worker " << r);
    REQUIRE(seen[r].size() == kept.syncs);
    for (std::size_t s = 0; s < kept.syncs; ++s) CHECK(seen[r][s] == seen[0][s]);  // the same global model
  }
  // The hook runs before the next step: resetting the momentum there changes the run.
  const fda::result reset = run(true, seen_reset);
  CHECK(reset.model != kept.model);
  // A worker without the hook (the plain drifting worker) still trains: the hook is optional.
  fda::local_cluster cluster(k);
  const auto plain = fda::train(cluster, [&](std::size_t r) { return fda_test::drifting_worker(r, d); },
                                fda::linear_fda{.theta = 0.5}, fda::mean{}, {.max_steps = 200, .seed = 4});
  CHECK(plain.steps == 200);
  STATIC_REQUIRE(fda::has_sync_hook<hooked_worker>);
  STATIC_REQUIRE_FALSE(fda::has_sync_hook<fda_test::drifting_worker>);
}
