// SPDX-License-Identifier: Apache-2.0
#pragma once
/// LibTorch adapter (opt-in; CMake target fda::torch): a torch::nn::Module federates under
/// fda::train with no glue.
///
///   struct NetImpl : torch::nn::Module { ... };  TORCH_MODULE(Net);
///   Net net = fda::torch::seeded(1, [] { return Net(); });
///   auto w = fda::torch::worker(net, torch::optim::Adam(net->parameters()), batches, loss);
///   fda::train(cluster, make_worker, fda::linear_fda{.theta = 1.0}, fda::mean{}, options,
///              fda::torch::evaluate_module(Net(), accuracy));
///
///   - views (torch/view.hpp): fda::view of a tensor, of `module->parameters()`, of a module
///     or its holder; zero-copy, float (or double on request), checked;
///   - modules (torch/module.hpp): load a model into a module, evaluate the averaged model on
///     a module of its own, seeded construction, intra-op threads per worker thread;
///   - the worker (torch/worker.hpp): module + optimizer + batches + loss, with on_sync and
///     checkpoints.
/// docs/torch.md has a complete example and what a sync does to tensors and optimizer state.
#include "torch/module.hpp"
#include "torch/view.hpp"
#include "torch/worker.hpp"
