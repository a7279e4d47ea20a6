// SPDX-License-Identifier: Apache-2.0
// Trainer overhead: fda::train with no-op workers against the policy's kernels alone.
//
// K = 8 workers, d = 10^6 floats, on the in-process cluster (8 threads on however many
// cores there are). For each policy, "trainer" is the time per in-parallel step of
// fda::train, without the fixed cost of starting a run (reported apart); "kernels" is the same work with no trainer at all: the K local
// states (or, for a sync every step, the K-model average, the server update and the K
// copies back) computed by plain loops on 2 threads, the machine's cores. The FDA
// policies run with a Θ no estimate reaches, so every step is a check and none a sync.
// The counter `overhead` = trainer / kernels (target <= 1.5).
#include <benchmark/benchmark.h>

#include <fda/fda.hpp>
#include <algorithm>
#include <chrono>
#include <thread>

namespace {

constexpr std::size_t workers = 8;
constexpr std::size_t short_steps = 5, long_steps = 25;
constexpr double never = 1e300;

struct noop_worker {
  std::vector<float> w;
  std::vector<float>& params() { return w; }
  void step() {}
};

/// Splits the K workers' kernel work over two threads, like the cluster's threads would.
template <class F>
double time_on_two_threads(F per_worker) {
  const auto start = std::chrono::steady_clock::now();
  std::thread other([&] {
    for (std::size_t k = workers / 2; k < workers; ++k) per_worker(k);
  });
  for (std::size_t k = 0; k < workers / 2; ++k) per_worker(k);
  other.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Seconds of one fda::train run of n steps.
template <class Policy>
double time_train(fda::local_cluster& cluster, Policy policy, std::size_t d, std::size_t n) {
  const auto start = std::chrono::steady_clock::now();
  auto r = fda::train(
      cluster, [d](std::size_t) { return noop_worker{std::vector<float>(d, 0.5f)}; }, policy,
      fda::mean{}, {.max_steps = n, .seed = 1});
  benchmark::DoNotOptimize(r.steps);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// The trainer's time per step, without the run's fixed costs (threads, allocation of
/// the workers, broadcast, ξ, final average): (t(long run) - t(short run)) / (extra steps).
/// Returns {per step, fixed cost of a run}.
template <class Policy>
std::pair<double, double> run_trainer(benchmark::State& state, Policy policy, std::size_t d) {
  fda::local_cluster cluster(workers);
  double short_runs = 0, long_runs = 0;
  for (auto _ : state) {
    short_runs += time_train(cluster, policy, d, short_steps);
    long_runs += time_train(cluster, policy, d, long_steps);
  }
  const double n = double(state.iterations());
  const double per_step = (long_runs - short_runs) / n / double(long_steps - short_steps);
  return {per_step, short_runs / n - per_step * double(short_steps)};
}

/// Kernel time per step of an FDA policy: K local states, then summing them.
template <class Policy>
double fda_kernels_per_step(Policy policy, std::size_t d) {
  typename Policy::template monitor<float> m(policy, {.dim = d, .workers = workers, .seed = 1});
  std::vector<std::vector<float>> w(workers, std::vector<float>(d, 0.5f));
  const std::vector<float> w0(d, 0.25f);
  std::vector<std::vector<double>> states(workers, std::vector<double>(m.state_size()));
  double best = 1e300;
  for (int rep = 0; rep < 5; ++rep)
    best = std::min(best, time_on_two_threads([&](std::size_t k) { m.local_state(w[k], w0, states[k]); }));
  return best;
}

/// Kernel time of a sync: average K models, server update (mean), K copies back.
double sync_kernels_per_step(std::size_t d) {
  std::vector<std::vector<float>> w(workers, std::vector<float>(d, 0.5f));
  std::vector<float> avg(d), w0(d);
  double best = 1e300;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    std::thread other([&] {  // each thread averages half of the elements over all K models
      for (std::size_t i = d / 2; i < d; ++i) {
        double s = 0;
        for (std::size_t k = 0; k < workers; ++k) s += w[k][i];
        avg[i] = float(s / workers);
      }
    });
    for (std::size_t i = 0; i < d / 2; ++i) {
      double s = 0;
      for (std::size_t k = 0; k < workers; ++k) s += w[k][i];
      avg[i] = float(s / workers);
    }
    other.join();
    fda::copy(avg, w0);
    const double average = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, average + time_on_two_threads([&](std::size_t k) { fda::copy(w0, w[k]); }));
  }
  return best;
}

template <class Policy>
void bm_policy(benchmark::State& state, Policy policy, bool syncs_every_step) {
  const auto d = std::size_t(state.range(0));
  const double kernels = syncs_every_step ? sync_kernels_per_step(d) : fda_kernels_per_step(policy, d);
  const auto [trainer, fixed] = run_trainer(state, policy, d);
  state.counters["kernels_ms_per_step"] = kernels * 1e3;
  state.counters["trainer_ms_per_step"] = trainer * 1e3;
  state.counters["run_setup_ms"] = fixed * 1e3;
  state.counters["overhead"] = trainer / kernels;
}

}  // namespace

BENCHMARK_CAPTURE(bm_policy, synchronous, fda::synchronous{}, true)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(bm_policy, naive_fda, fda::naive_fda{.theta = never}, false)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(bm_policy, linear_fda, fda::linear_fda{.theta = never}, false)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(bm_policy, sketch_fda, fda::sketch_fda{.theta = never}, false)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
