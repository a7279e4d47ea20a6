// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda::torch::worker: a LibTorch module, its optimizer, a batch source and a loss, as an
/// fda worker (params, step, samples, on_sync, save, load).
///
///   auto w = fda::torch::worker(net, torch::optim::SGD(net->parameters(), 0.01), batches,
///                               [](auto out, auto y) { return torch::nll_loss(out, y); });
///
/// - step(): one batch from `batches()` (a std::pair of tensors, or anything with .data and
///   .target such as torch::data::Example), zero_grad, loss(module->forward(input), target),
///   backward, optimizer.step(). The loss of the last step is `last_loss()`.
/// - A sync writes the global model into the module's parameter tensors in place (their
///   storage stays put); the optimizer's state (momentum, Adam's moments and step count) is
///   kept over the sync by default (`optimizer_state::keep`), or cleared
///   (`optimizer_state::reset`) in on_sync().
/// - save/load (fda checkpoints; the trainer saves the parameters itself): the optimizer's
///   state and every buffer of the module through torch's serialization, then the batch
///   source's own `save(fda::checkpoint_writer&)` / `load(fda::checkpoint_reader&)` when it
///   has them (its position and RNG: without them a resumed run draws other batches).
/// - Threads: before each step (a no-op once set on its thread), the worker sets torch's
///   intra-op threads to `intra_op_threads` (default 1; see fda::torch::use_intra_op_threads).
#include <torch/torch.h>

#include <cstddef>
#include <limits>
#include <sstream>
#include <string>
#include <utility>

#include "../checkpoint.hpp"
#include "module.hpp"
#include "view.hpp"

namespace fda::torch {

/// What a worker does with its optimizer's state when it takes the global model.
enum class optimizer_state {
  keep,  ///< carried over the sync untouched (momentum and moments of the local model)
  reset  ///< cleared: the optimizer starts afresh each round (Adam's step count from 0)
};

/// Settings of fda::torch::worker.
struct worker_options {
  /// torch's intra-op threads on the worker's thread (>= 1).
  int intra_op_threads = 1;
  /// The optimizer's state at a sync.
  optimizer_state on_sync = optimizer_state::keep;
  /// What the worker shares: the parameters, and with `.buffers = true` the floating-point
  /// buffers (BatchNorm statistics) too.
  view_options view = {};
};

/// A LibTorch module trained by an optimizer on a batch source (see the header comment).
/// Module is a holder (`Net`) or a std::shared_ptr to a module; Optimizer a torch optimizer
/// or a pointer to one (std::unique_ptr<torch::optim::Optimizer>, chosen at run time); T is
/// the parameters' type.
template <class Module, class Optimizer, class Batches, class Loss, class T = float>
class worker {
 public:
  /// The optimizer must be over `module`'s parameters.
  worker(Module module, Optimizer optimizer, Batches batches, Loss loss, worker_options options = {})
      : module_(std::move(module)), optimizer_(std::move(optimizer)), batches_(std::move(batches)),
        loss_(std::move(loss)), options_(options) {
    if (options_.intra_op_threads < 1)
      ::fda::detail::fail("fda::torch::worker: intra_op_threads = ", options_.intra_op_threads,
                          " is invalid: it must be >= 1");
  }

  /// The shared parameters (and buffers with options.view.buffers), viewed in place.
  param_view<T> params() { return ::fda::torch::params<T>(*module_, options_.view); }

  /// One optimizer step on one batch.
  void step() {
    use_intra_op_threads(options_.intra_op_threads);
    auto batch = batches_();
    const auto& [input, target] = split(batch);
    torch_optimizer().zero_grad();
    at::Tensor loss = loss_(module_->forward(input), target);
    loss.backward();
    torch_optimizer().step();
    last_loss_ = loss.item<double>();
  }

  /// The batch source's number of training examples, when it says (sample-weighted means).
  double samples() const
    requires requires(const Batches& b) { double(b.samples()); }
  {
    return double(batches_.samples());
  }

  /// Called by the trainer after the global model was written into the parameters.
  void on_sync() {
    if (options_.on_sync == optimizer_state::reset) torch_optimizer().state().clear();
  }

  /// Checkpoint: the optimizer's state and the module's buffers, then the batch source's.
  void save(checkpoint_writer& out) {
    ::torch::serialize::OutputArchive archive;
    torch_optimizer().save(archive);
    std::size_t i = 0;
    for (const auto& buffer : module_->buffers(true)) archive.write("fda_buffer_" + std::to_string(i++), buffer, true);
    std::ostringstream bytes;
    archive.save_to(bytes);
    out(bytes.str());
    if constexpr (requires { batches_.save(out); }) batches_.save(out);
  }

  /// Restores what save() wrote; a part torch cannot read throws fda::checkpoint_error.
  void load(checkpoint_reader& in) {
    std::istringstream bytes(in.get<std::string>());
    try {
      ::torch::serialize::InputArchive archive;
      archive.load_from(bytes);
      torch_optimizer().load(archive);
      const ::torch::NoGradGuard no_grad;
      std::size_t i = 0;
      for (auto& buffer : module_->buffers(true)) {
        at::Tensor saved;
        archive.read("fda_buffer_" + std::to_string(i++), saved, true);
        buffer.copy_(saved);
      }
    } catch (const c10::Error& e) {
      throw checkpoint_error("fda::torch::worker: checkpoint: " + in.part() +
                             ": torch cannot read the optimizer state or buffers: " + e.what_without_backtrace());
    }
    if constexpr (requires { batches_.load(in); }) batches_.load(in);
  }

  /// The module.
  Module& module() { return module_; }
  /// The optimizer (or the pointer to it).
  Optimizer& optimizer() { return optimizer_; }
  /// The batch source.
  Batches& batches() { return batches_; }
  /// The loss of the last step (NaN before the first).
  double last_loss() const { return last_loss_; }

 private:
  /// The optimizer itself, through the pointer when Optimizer is one.
  auto& torch_optimizer() {
    if constexpr (requires { optimizer_->step(); })
      return *optimizer_;
    else
      return optimizer_;
  }

  template <class B>
  static auto split(B& batch) {
    if constexpr (requires { batch.data; batch.target; })
      return std::pair<at::Tensor, at::Tensor>(batch.data, batch.target);
    else
      return std::pair<at::Tensor, at::Tensor>(std::get<0>(batch), std::get<1>(batch));
  }

  Module module_;
  Optimizer optimizer_;
  Batches batches_;
  Loss loss_;
  worker_options options_;
  double last_loss_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace fda::torch
