// SPDX-License-Identifier: Apache-2.0
#pragma once
/// LibTorch modules around a run: copying a model into a module (`load`), evaluating the
/// averaged model on a module of its own (`evaluate_module`), seeded construction that
/// worker threads cannot interleave (`seeded`), and the rule for torch's intra-op threads
/// under fda's worker threads (`use_intra_op_threads`).
#include <torch/torch.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>

#include "../callbacks/evaluate.hpp"
#include "../error.hpp"
#include "../kernels.hpp"
#include "view.hpp"

namespace fda {
namespace detail {
/// Held while a module is built under fda::torch::seeded: torch's default generator is one
/// per process.
inline std::mutex& torch_construction_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace detail

namespace torch {

/// module's parameters (and, with `{.buffers = true}`, its floating-point buffers) ← model,
/// element by element in view order, converted to T, the module's dtype (float, or double):
/// a span of the averaged model, `result.model` (doubles), another module's view. Throws
/// fda::invalid_argument when the sizes differ.
template <class T = float, class Module, viewable Model>
  requires ::fda::detail::real<T>
void load(Module& module, const Model& model, view_options options = {}) {
  fda::copy(model, params<T>(module, options));
}

/// A callback (fda::evaluate_average) that, at every epoch end, loads the averaged model into
/// `module` — a module of its own, not a worker's — switches it to eval mode, calls
/// fn(module) without autograd, and stores what fn returns (a number under `name`, or a
/// std::map of metrics). The module goes back to train mode afterwards.
template <class Module, class F>
auto evaluate_module(Module module, F fn, std::string name = "test_accuracy", view_options options = {}) {
  return fda::evaluate_average(
      [module = std::move(module), fn = std::move(fn), options](auto averaged) mutable {
        const ::torch::NoGradGuard no_grad;
        using T = typename decltype(averaged)::element_type;
        load<std::remove_const_t<T>>(module, averaged, options);
        struct training_again {  // back to train mode even when fn throws
          Module& m;
          ~training_again() { m->train(); }
        } restore{module};
        module->eval();
        return fn(module);
      },
      std::move(name));
}

/// make() under torch::manual_seed(seed), one call at a time in the whole process: the
/// initial weights depend on `seed` only, never on which worker thread ran first (fda::train
/// broadcasts worker 0's initial model, so it is the one that must be reproducible).
/// Randomness inside a forward pass (dropout) still draws from the shared generator: see
/// docs/torch.md.
template <class F>
auto seeded(std::uint64_t seed, F&& make) {
  const std::lock_guard lock(::fda::detail::torch_construction_mutex());
  ::torch::manual_seed(seed);
  return std::forward<F>(make)();
}

/// The intra-op threads per worker thread that keep `workers_at_once` workers computing
/// at once from oversubscribing the cores: max(1, cores / workers_at_once). fda's
/// parallelism is across workers; two intra-op threads per worker on 2 cores with K = 8
/// ran 1.7× slower than one (LeNet-5, docs/torch.md).
inline int intra_op_threads_for(std::size_t workers_at_once) {
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  return int(std::max<std::size_t>(1, cores / std::max<std::size_t>(1, workers_at_once)));
}

/// Sets torch's intra-op threads to n for the calling thread and the threads it starts
/// (at::set_num_threads); a no-op when this thread already uses n. fda::torch::worker calls it
/// before every step (on its own thread).
inline void use_intra_op_threads(int n) {
  if (n < 1) ::fda::detail::fail("fda::torch::use_intra_op_threads: n = ", n, " is invalid: it must be >= 1");
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

}  // namespace torch
}  // namespace fda
