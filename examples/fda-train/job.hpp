// SPDX-License-Identifier: Apache-2.0
#pragma once
// The pieces of the Fashion-MNIST job: a worker (a model, a client optimizer, a shard of
// the training set), a server optimizer chosen at run time, the evaluation of the
// averaged model, and the policies by name.
#include <fda/comm/simulated_network.hpp>
#include <fda/data/idx.hpp>
#include <fda/data/partition.hpp>
#include <fda/fda.hpp>

#include <models/models.hpp>
#include <random>
#include <semaphore>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

namespace fda_train {

using any_model = std::variant<fda::models::softmax_regression, fda::models::mlp, fda::models::lenet5>;
using any_optimizer = std::variant<fda::models::sgd<float>, fda::models::adam<float>>;

inline any_model make_model(const std::string& name, std::size_t max_batch, std::uint64_t seed) {
  if (name == "softmax") return fda::models::softmax_regression(max_batch, seed);
  if (name == "mlp") return fda::models::mlp(max_batch, seed);
  return fda::models::lenet5(max_batch, seed);
}

inline any_optimizer make_optimizer(const std::string& name, double lr) {
  if (name == "adam") return fda::models::adam<float>({.lr = lr});
  return fda::models::sgd<float>({.lr = lr, .momentum = 0.9, .nesterov = false});
}

/// Worker `rank`'s shard, refused when empty: a worker without data has no batch to draw
/// (it used to index an empty vector and divide by its size). The partitioners already
/// refuse such splits; this names the rank and the partition should one get through.
inline const std::vector<std::size_t>& shard_of(const std::vector<std::vector<std::size_t>>& shards, std::size_t rank,
                                                const std::string& partition) {
  if (rank >= shards.size() || shards[rank].empty())
    throw fda::invalid_argument("worker " + std::to_string(rank) + " of K = " + std::to_string(shards.size()) +
                                " has no training examples under the partition " + partition);
  return shards[rank];
}

/// A worker's shard of the training set, visited in a fresh seeded order every pass; its
/// position and RNG go into checkpoints. Both back ends' workers draw their batches from it.
struct shard_order {
  std::vector<std::size_t> shard;
  std::mt19937_64 rng;
  std::size_t cursor = 0;

  /// The next example's index (a new pass starts with a shuffle).
  std::size_t next() {
    if (cursor == 0) shuffle();
    const std::size_t i = shard[cursor];
    cursor = (cursor + 1) % shard.size();
    return i;
  }
  std::size_t size() const { return shard.size(); }
  void save(fda::checkpoint_writer& out) {
    out(shard);
    out(cursor);
    std::ostringstream engine;
    engine << rng;
    out(engine.str());
  }
  void load(fda::checkpoint_reader& in) {
    in(shard);
    in(cursor);
    std::istringstream engine(in.get<std::string>());
    engine >> rng;
    if (!engine) throw fda::checkpoint_error("fda-train: checkpoint: " + in.part() + ": the RNG state does not parse");
  }

 private:
  void shuffle() {  // Fisher–Yates with a portable bounded draw
    for (std::size_t i = shard.size(); i > 1; --i) std::swap(shard[i - 1], shard[rng() % i]);
  }
};

/// One worker: its shard of the training set (shard_order), one mini-batch per step. `compute` caps how many workers compute at once (--threads).
/// A shard smaller than `batch` is the worker's whole batch, every step (a client with
/// little data, as under a skewed split: federated learning's usual rule), rather than
/// wrapping around it and repeating examples within a batch; the model takes a batch of
/// any size up to the one it was built for.
struct worker {
  const fda::data::dataset* train;
  shard_order order;
  std::size_t batch;
  any_model model;
  any_optimizer optimizer;
  std::counting_semaphore<>* compute;
  int byzantine = 0;  // 0: honest; 1: sends its model sign-flipped ×10; 2: sends huge values
  std::vector<float> images = std::vector<float>(batch * train->pixels());
  std::vector<std::uint8_t> labels = std::vector<std::uint8_t>(batch);

  std::vector<float>& params() {
    return std::visit([](auto& m) -> std::vector<float>& { return m.params(); }, model);
  }
  std::size_t samples() const { return order.size(); }

  // Checkpoints (fda::train saves the parameters itself): the data order, the position in
  // it, the RNG and the optimizer's state.
  void save(fda::checkpoint_writer& out) {
    order.save(out);
    std::visit([&](auto& o) { o.state_fields(out); }, optimizer);
  }
  void load(fda::checkpoint_reader& in) {
    order.load(in);
    std::visit([&](auto& o) { o.state_fields(in); }, optimizer);
  }

  void step() {
    const std::size_t n = train->pixels(), count = std::min(batch, order.size());
    for (std::size_t b = 0; b < count; ++b) {
      const std::size_t i = order.next();
      std::copy_n(train->images.begin() + long(i * n), n, images.begin() + long(b * n));
      labels[b] = train->labels[i];
    }
    compute->acquire();
    std::visit(
        [&](auto& m, auto& opt) {
          m.loss_and_grad(images.data(), labels.data(), count);
          opt.step(m.params(), m.grads());
        },
        model, optimizer);
    compute->release();
    if (byzantine == 1)  // a hostile worker: what it reports is its model flipped and amplified
      for (auto& x : params()) x *= -10.0f;
    if (byzantine == 2)  // a broken one: huge values
      for (auto& x : params()) x = 1e4f;
  }
};

/// The server optimizer named on the command line, as one aggregator type (the choice is
/// made once per sync, not per element).
struct server_opt {
  std::variant<fda::mean, fda::fedavgm, fda::fedadam, fda::fedadagrad, fda::fedyogi, fda::coordinate_median,
               fda::trimmed_mean>
      config;

  /// The robust ones combine the workers' values by an order statistic.
  fda::combine_rule combine_rule() const {
    return std::visit([](const auto& c) { return fda::combine_rule_of(c); }, config);
  }

  /// True for the choices whose new global model is the workers' average itself (mean and
  /// the robust ones), not a server step: with K = 1 the trainer then skips the syncs.
  bool replaces_model() const {
    return std::visit([](const auto& c) { return fda::replaces_model<std::decay_t<decltype(c)>, float>(); }, config);
  }

  /// The chosen aggregator's name and settings ("fedadam{lr=0.01, ...}"): what a checkpoint's
  /// run record holds, so --resume with another --server-opt or --server-lr is refused by name.
  std::string describe() const {
    return std::visit([](const auto& c) { return fda::describe_aggregator(c); }, config);
  }

  template <class T>
  class state {
   public:
    state(const server_opt& o, std::size_t dim)
        : s_(std::visit([&](const auto& c) -> states {
                          return typename std::decay_t<decltype(c)>::template state<T>(c, dim);
                        },
                        o.config)) {}
    template <class X, class A>
    void apply(X&& x, const A& avg) {
      std::visit([&](auto& s) { s.apply(x, avg); }, s_);
    }
    /// The chosen optimizer's state, for checkpoints (a plain mean has none).
    template <class F>
    void state_fields(F&& f) {
      std::visit([&](auto& s) {
        if constexpr (requires { s.state_fields(f); }) s.state_fields(f);
      }, s_);
    }

   private:
    using states = std::variant<fda::mean::state<T>, fda::fedavgm::state<T>, fda::fedadam::state<T>,
                                fda::fedadagrad::state<T>, fda::fedyogi::state<T>,
                                fda::trimmed_mean::state<T>>;  // (coordinate_median's is mean's)
    states s_;
  };
};

inline server_opt make_server(const std::string& name, double lr, double trim = 0.1) {
  if (name == "median") return {fda::coordinate_median{}};
  if (name == "trimmed-mean") return {fda::trimmed_mean{.trim = trim}};
  if (name == "fedavgm") return {fda::fedavgm{.lr = lr}};
  if (name == "fedadam") return {fda::fedadam{.lr = lr}};
  if (name == "fedadagrad") return {fda::fedadagrad{.lr = lr}};
  if (name == "fedyogi") return {fda::fedyogi{.lr = lr}};
  return {fda::mean{}};
}

/// The mean over the examples of d of a per-example metric, in chunks of 500: f(images,
/// labels, n) returns the metric's mean over the n examples at those pointers. Both back
/// ends' evaluators use it.
template <class F>
double mean_over_chunks(const fda::data::dataset& d, F f) {
  constexpr std::size_t chunk = 500;
  double sum = 0;
  for (std::size_t i = 0; i < d.count; i += chunk) {
    const std::size_t n = std::min(chunk, d.count - i);
    sum += f(d.images.data() + i * d.pixels(), d.labels.data() + i, n) * double(n);
  }
  return sum / double(d.count);
}

/// Test accuracy of the averaged model, and its loss on a fixed slice of the training
/// set: an instrument of the experiment, not part of training or of the byte counts.
struct evaluator {
  const fda::data::dataset* test;
  const fda::data::dataset* train_probe;
  any_model model;

  std::map<std::string, double> operator()(std::span<const float> averaged) {
    return std::visit(
        [&](auto& m) {
          std::copy(averaged.begin(), averaged.end(), m.params().begin());
          return std::map<std::string, double>{
              {"test_accuracy", mean_over_chunks(*test, [&](auto* x, auto* y, std::size_t n) {
                 return m.accuracy(x, y, n);
               })},
              {"train_loss", mean_over_chunks(*train_probe, [&](auto* x, auto* y, std::size_t n) {
                 return m.loss(x, y, n);
               })}};
        },
        model);
  }
};

}  // namespace fda_train
