// SPDX-License-Identifier: Apache-2.0
/// What monitoring adds to a LibTorch training step, paired in one run: each iteration times
/// one step (forward, backward, SGD with momentum 0.9, batch 32, one intra-op thread) of a
/// LibTorch model of examples/models/torch_models.hpp, then the local state of its
/// parameters (fda views of the module's tensors, no copy) against the round's start w0
/// for LinearFDA, SketchFDA (classic AMS sketch) and SketchFDA with the tiled sketch.
///
///   torch/<model>/monitoring_overhead/batch:32   counters: d, step_ms, linear_us,
///       sketch_us, tiled_us, and *_pct = % of a step (medians of the per-iteration times)
///
/// Models: lenet5 (61,706 parameters) and cnn (1,174,250). PyTorch's own step of LeNet-5
/// on the same machine: scripts/torch_bench.py (bench/README.md compares them).
#include <torch/torch.h>

#include <fda/policy.hpp>
#include <fda/torch.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <models/torch_models.hpp>

namespace {

template <class F>
double seconds_of(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

void monitoring_overhead(benchmark::State& state, const std::string& model) {
  fda::torch::use_intra_op_threads(1);
  torch::nn::Sequential m = fda::torch::seeded(1, [&] { return torch_models::make(model); });
  torch::optim::SGD sgd(m->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  const long n = state.range(0);
  const torch::Tensor x = torch::rand({n, 1, 28, 28}) * 2 - 1, y = torch::randint(0, 10, {n});
  auto step = [&] {
    sgd.zero_grad();
    torch::nn::functional::cross_entropy(m->forward(x), y).backward();
    sgd.step();
  };
  const auto w = fda::view(m);
  const fda::run_info info{.dim = w.size(), .workers = 8};
  const fda::linear_fda::monitor<float> linear(fda::linear_fda{.theta = 1.0}, info);
  const fda::sketch_fda::monitor<float> sketch(fda::sketch_fda{.theta = 1.0}, info);
  const fda::sketch_fda::monitor<float> tiled(fda::sketch_fda{.theta = 1.0, .sketch = fda::sketch_kind::tiled}, info);
  std::vector<double> ls(linear.state_size()), ss(sketch.state_size()), ts(tiled.state_size());
  std::vector<float> w0(w.size());
  for (int warm = 0; warm < 3; ++warm) step();
  fda::copy(w, w0);  // the round's start
  std::vector<double> t_step, t_linear, t_sketch, t_tiled;
  for (auto _ : state) {
    t_step.push_back(seconds_of(step));
    t_linear.push_back(seconds_of([&] { linear.local_state(w, w0, std::span<double>(ls)); }));
    t_sketch.push_back(seconds_of([&] { sketch.local_state(w, w0, std::span<double>(ss)); }));
    t_tiled.push_back(seconds_of([&] { tiled.local_state(w, w0, std::span<double>(ts)); }));
    benchmark::DoNotOptimize(ls.data());
    benchmark::DoNotOptimize(ss.data());
    benchmark::DoNotOptimize(ts.data());
  }
  const double s = median(t_step), lin = median(t_linear), sk = median(t_sketch), ti = median(t_tiled);
  state.counters["d"] = double(w.size());
  state.counters["step_ms"] = s * 1e3;
  state.counters["linear_us"] = lin * 1e6;
  state.counters["sketch_us"] = sk * 1e6;
  state.counters["tiled_us"] = ti * 1e6;
  state.counters["linear_pct"] = 100 * lin / s;
  state.counters["sketch_pct"] = 100 * sk / s;
  state.counters["tiled_pct"] = 100 * ti / s;
  state.SetItemsProcessed(std::int64_t(state.iterations()) * n);
}

}  // namespace

int main(int argc, char** argv) {
  for (const std::string model : {"lenet5", "cnn"})
    benchmark::RegisterBenchmark(("torch/" + model + "/monitoring_overhead").c_str(),
                                 [model](benchmark::State& s) { monitoring_overhead(s, model); })
        ->ArgName("batch")
        ->Arg(32)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
