/// What a local step of the Fashion-MNIST job costs: one training step (forward, backward,
/// SGD with momentum) of each model of examples/models on a batch of 32 images, in samples
/// per second (items_per_second), and LeNet-5's inference.
///
///   <model>/train_step/batch:32/threads:1   one model, one thread
///   <model>/train_step/batch:32/threads:2   two independent models trained at once by
///                                           two threads (the K-workers-in-one-process
///                                           case): the rate is their sum
///
/// Eigen runs single-threaded (no OpenMP; setNbThreads(1) besides). Built with -O3
/// -march=native (see CMakeLists.txt). The reference: PyTorch 1.13, one thread, LeNet-5
/// batch-32 SGD step ≈ 4.0 ms (≈ 7,900 samples/s) on this machine class.
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include <models/models.hpp>

namespace {

using namespace fda::models;

/// A batch of n images with pixels U[−1, 1) and labels U{0..9}, one per seed.
struct batch {
  std::vector<float> images;
  std::vector<std::uint8_t> labels;
  batch(std::size_t n, std::uint64_t seed) : images(n * image_size), labels(n) {
    std::mt19937_64 rng(seed);
    for (auto& x : images) x = float(2 * uniform01(rng) - 1);
    for (auto& y : labels) y = std::uint8_t(rng() % num_classes);
  }
};

template <class Model>
void train_step(benchmark::State& state) {
  const auto n = std::size_t(state.range(0));
  // Each thread owns its model, optimizer and data: nothing is shared.
  Model m(n, std::uint64_t(state.thread_index()) + 1);
  sgd<float> opt({.lr = 0.01, .momentum = 0.9});
  const batch b(n, std::uint64_t(state.thread_index()) + 100);
  for (int warm = 0; warm < 3; ++warm) {
    m.loss_and_grad(b.images.data(), b.labels.data(), n);
    opt.step(m.params(), m.grads());
  }
  for (auto _ : state) {
    float loss = m.loss_and_grad(b.images.data(), b.labels.data(), n);
    opt.step(m.params(), m.grads());
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(n));
  state.SetLabel(state.threads() == 1 ? "1 model" : std::to_string(state.threads()) + " models, 1 per thread");
}

/// Inference (logits and argmax) of 1,000 images in chunks of the capacity.
template <class Model>
void predict(benchmark::State& state) {
  const auto chunk = std::size_t(state.range(0));
  const std::size_t n = 1000;
  Model m(chunk, 1);
  const batch b(n, 7);
  std::vector<std::uint8_t> out(n);
  for (auto _ : state) {
    m.predict(b.images.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(n));
}

template <class Model>
void register_model(const std::string& name) {
  for (int threads : {1, 2})
    benchmark::RegisterBenchmark((name + "/train_step").c_str(), train_step<Model>)
        ->ArgName("batch")
        ->Arg(32)
        ->Threads(threads)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark((name + "/predict_1000").c_str(), predict<Model>)
      ->ArgName("chunk")
      ->Arg(256)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  Eigen::setNbThreads(1);
  register_model<softmax_regression>("softmax_regression");
  register_model<mlp>("mlp");
  register_model<lenet5>("lenet5");
  // LeNet-5 at other batch sizes, one thread: how the step scales.
  benchmark::RegisterBenchmark("lenet5/train_step", train_step<lenet5>)
      ->ArgName("batch")
      ->Arg(8)
      ->Arg(128)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
