// SPDX-License-Identifier: Apache-2.0
#pragma once
// fda-train --backend torch: the Fashion-MNIST job's worker and evaluation on LibTorch models
// (examples/models/torch_models.hpp), built on <fda/torch.hpp>. The data order, the shards,
// the checkpointed state and the evaluation are those of the Eigen back end (job.hpp).
#include <fda/data/idx.hpp>
#include <fda/fda.hpp>
#include <fda/torch.hpp>

#include "job.hpp"
#include <models/lenet5.hpp>
#include <models/torch_models.hpp>
#include <map>
#include <memory>
#include <random>
#include <semaphore>
#include <sstream>
#include <string>
#include <vector>

namespace fda_train {

/// One worker's batches, drawn from its shard_order (job.hpp: the Eigen worker's order), as
/// [n, 1, 28, 28] images and int64 labels.
struct torch_batches {
  const fda::data::dataset* train;
  shard_order order;
  std::size_t batch;

  std::pair<torch::Tensor, torch::Tensor> operator()() {
    const std::size_t n = train->pixels(), count = std::min(batch, order.size());
    torch::Tensor images = torch::empty({long(count), 1, long(train->rows), long(train->cols)});
    torch::Tensor labels = torch::empty({long(count)}, torch::kLong);
    float* x = images.data_ptr<float>();
    std::int64_t* y = labels.data_ptr<std::int64_t>();
    for (std::size_t b = 0; b < count; ++b) {
      const std::size_t i = order.next();
      std::copy_n(train->images.begin() + long(i * n), n, x + b * n);
      y[b] = train->labels[i];
    }
    return {images, labels};
  }
  std::size_t samples() const { return order.size(); }
  void save(fda::checkpoint_writer& out) { order.save(out); }
  void load(fda::checkpoint_reader& in) { order.load(in); }
};

/// Mean cross-entropy of logits against labels.
struct cross_entropy {
  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& labels) const {
    return torch::nn::functional::cross_entropy(logits, labels);
  }
};

/// The model named `name` with its initial weights: lenet5 starts from the Eigen model's
/// (the same seed gives the same weights on both back ends), cnn from LibTorch's own
/// initializers under fda::torch::seeded(seed).
inline torch::nn::Sequential make_torch_model(const std::string& name, std::uint64_t seed) {
  if (name != "lenet5") return fda::torch::seeded(seed, [&] { return torch_models::make(name); });
  torch::nn::Sequential m = torch_models::lenet5();
  fda::torch::load(m, fda::models::lenet5(1, seed).params());
  return m;
}

/// The client optimizer named on the command line (sgd: momentum 0.9, as job.hpp).
inline std::unique_ptr<torch::optim::Optimizer> make_torch_optimizer(const std::string& name, double lr,
                                                                     torch::nn::Sequential& m) {
  if (name == "adam") return std::make_unique<torch::optim::Adam>(m->parameters(), torch::optim::AdamOptions(lr));
  return std::make_unique<torch::optim::SGD>(m->parameters(), torch::optim::SGDOptions(lr).momentum(0.9));
}

/// One LibTorch worker: fda::torch::worker, at most --threads of them computing at once, and
/// the --byzantine faults of job.hpp.
struct torch_worker {
  fda::torch::worker<torch::nn::Sequential, std::unique_ptr<torch::optim::Optimizer>, torch_batches, cross_entropy>
      core;
  std::counting_semaphore<>* compute;
  int byzantine = 0;  // 0: honest; 1: sends its model sign-flipped ×10; 2: sends huge values

  fda::param_view<float> params() { return core.params(); }
  double samples() const { return core.samples(); }
  void on_sync() { core.on_sync(); }
  void save(fda::checkpoint_writer& out) { core.save(out); }
  void load(fda::checkpoint_reader& in) { core.load(in); }
  void step() {
    compute->acquire();
    struct release {
      std::counting_semaphore<>* s;
      ~release() { s->release(); }
    } done{compute};
    core.step();
    if (byzantine == 1) fda::scale(-10.0, core.params());
    if (byzantine == 2) fda::fill(core.params(), 1e4);
  }
};

/// Test accuracy of the averaged model, and its loss on a fixed slice of the training set
/// (job.hpp's evaluator), on a module of its own in eval mode.
struct torch_metrics {
  const fda::data::dataset* test;
  const fda::data::dataset* train_probe;

  std::map<std::string, double> operator()(torch::nn::Sequential& m) const {
    fda::torch::use_intra_op_threads(fda::torch::intra_op_threads_for(1));  // the workers wait
    auto logits_of = [&](const float* x, std::size_t n) {
      return m->forward(torch::from_blob(const_cast<float*>(x), {long(n), 1, long(test->rows), long(test->cols)}));
    };
    auto labels_of = [](const std::uint8_t* y, std::size_t n) {
      return torch::from_blob(const_cast<std::uint8_t*>(y), {long(n)}, torch::kUInt8).to(torch::kLong);
    };
    return {{"test_accuracy", mean_over_chunks(*test, [&](const float* x, const std::uint8_t* y, std::size_t n) {
               return logits_of(x, n).argmax(1).eq(labels_of(y, n)).to(torch::kDouble).mean().item<double>();
             })},
            {"train_loss", mean_over_chunks(*train_probe, [&](const float* x, const std::uint8_t* y, std::size_t n) {
               return torch::nn::functional::cross_entropy(logits_of(x, n), labels_of(y, n)).item<double>();
             })}};
  }
};

}  // namespace fda_train
