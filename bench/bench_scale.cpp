// SPDX-License-Identifier: Apache-2.0
// The trainer's coordination cost as K grows: fda::train with no-op workers of d = 1000
// floats, K = 8 … 10,000, on the in-process cluster as a worker pool (K fibers on 2 OS
// threads, the machine's cores) and, up to K = 1024, with one OS thread per worker.
//
// Each benchmark reports `us_per_worker_step`: the marginal time of one in-parallel step,
// (t(long run) − t(short run)) / (extra steps), divided by K — what the trainer costs per
// worker and step (barriers, local states of 1000 floats, reductions over K, and for
// synchronous the K-model average and copies back). Flat in K means the trainer scales:
// the target is K = 1024 within 1.5× of K = 8, on the pool. The FDA policies run with a Θ
// no estimate reaches, so every step is a check and none a sync.
#include <benchmark/benchmark.h>

#include <fda/fda.hpp>
#include <chrono>
#include <vector>

namespace {

constexpr std::size_t dim = 1000;
constexpr double never = 1e300;

struct noop_worker {
  std::vector<float> w;
  std::vector<float>& params() { return w; }
  void step() {}
};

/// Seconds of one fda::train run of n steps.
template <class Policy>
double time_train(fda::local_cluster& cluster, Policy policy, std::size_t n) {
  const auto start = std::chrono::steady_clock::now();
  auto r = fda::train(
      cluster, [](std::size_t) { return noop_worker{std::vector<float>(dim, 0.5f)}; }, policy, fda::mean{},
      {.max_steps = n, .seed = 1});
  benchmark::DoNotOptimize(r.steps);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// range(0) = K, range(1) = OS threads (0: one per worker).
template <class Policy>
void bm_scale(benchmark::State& state, Policy policy) {
  const auto k = std::size_t(state.range(0)), threads = std::size_t(state.range(1));
  const std::size_t short_steps = 2, long_steps = 12;
  fda::local_cluster cluster(k, {.threads = threads});
  double short_runs = 0, long_runs = 0;
  for (auto _ : state) {
    short_runs += time_train(cluster, policy, short_steps);
    long_runs += time_train(cluster, policy, long_steps);
  }
  const double n = double(state.iterations());
  const double per_step = (long_runs - short_runs) / n / double(long_steps - short_steps);
  state.counters["ms_per_step"] = per_step * 1e3;
  state.counters["us_per_worker_step"] = per_step / double(k) * 1e6;
  state.counters["os_threads"] = double(cluster.threads());
}

void pool_sizes(benchmark::internal::Benchmark* b) {
  for (long k : {8, 64, 256, 1024, 10000}) b->Args({k, 2});
}
void thread_sizes(benchmark::internal::Benchmark* b) {
  for (long k : {8, 64, 256, 1024}) b->Args({k, 0});
}

}  // namespace

BENCHMARK_CAPTURE(bm_scale, synchronous, fda::synchronous{})->Apply(pool_sizes)->Apply(thread_sizes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(bm_scale, linear_fda, fda::linear_fda{.theta = never})->Apply(pool_sizes)->Apply(thread_sizes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(bm_scale, sketch_fda, fda::sketch_fda{.theta = never})->Apply(pool_sizes)->Apply(thread_sizes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(bm_scale, naive_fda, fda::naive_fda{.theta = never})->Apply(pool_sizes)->Apply(thread_sizes)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
