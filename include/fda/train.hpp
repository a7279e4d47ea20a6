#pragma once
/// fda::train: one SPMD loop for every policy, on the in-process cluster.
///
///   auto r = fda::train(cluster, [&](std::size_t rank) { return my_worker(rank); },
///                       fda::linear_fda{.theta = 2.0}, fda::mean{},
///                       {.max_epochs = 5, .steps_per_epoch = 100}, fda::progress_bar{});
///
/// The factory is called on each worker's own thread with its rank; the workers live
/// on those threads for the run. All workers start from worker 0's parameters. Every
/// local step: local state → all-reduce → decide → on sync: average the models,
/// aggregator update, every worker takes the new global model, the policy's on_sync.
///
/// Memory: one copy of the global model w0, of the previous global model (for ξ), and
/// of the averaging buffer is shared by all in-process workers — 3·d parameters — plus
/// the aggregator's state (0, d or 2·d) and the policy's (ξ: d for linear_fda); per
/// worker, its own parameters and optimizer state and a local state of
/// monitor.state_size() doubles (2 for linear_fda, 1 + d for the exact-variance oracle).
///
/// Workers whose params() are device views (<fda/thrust.hpp>) train unchanged: w0, w0_prev
/// and the average then live in device memory and the averaging runs there (docs/gpu.md
/// lists what works: the mean aggregators, the policies but exact_variance, no checkpoints).
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "aggregate/aggregator.hpp"
#include "comm/local_cluster.hpp"
#include "detail/spmd.hpp"
#include "options.hpp"
#include "policy/policy.hpp"
#include "worker.hpp"

namespace fda {

/// Trains cluster.size() workers made by `make_worker(rank)` under `policy`, syncing with
/// `aggregator`; callbacks are stored by reference when passed as lvalues (so their
/// results can be read afterwards), by value otherwise.
template <class Factory, class Policy, class Aggregator, class... Callbacks>
result train(local_cluster& cluster, Factory make_worker, Policy policy, Aggregator agg,
             options opt, Callbacks&&... callbacks) {
  static_assert(std::is_invocable_v<Factory&, std::size_t>,
                "fda::train: the worker factory must be callable as make_worker(std::size_t rank)");
  using W = std::remove_cvref_t<std::invoke_result_t<Factory&, std::size_t>>;
  static_assert(detail::diagnose_worker<W>(),  // (its own static_assert says what is wrong)
                "fda::train: the factory's product is not a worker: it needs params() (a view of "
                "mutable float or double parameters) and step()");
  using T = param_type_t<W>;
  static_assert(sync_policy<Policy, T>, "fda::train: the policy does not model fda::sync_policy");
  static_assert(aggregator<Aggregator>, "fda::train: the aggregator does not model fda::aggregator");
  static_assert(detail::check_callbacks<T, std::tuple<Callbacks...>>(),  // (names a hook it cannot call)
                "fda::train: a callback has a hook that cannot be called");
  (void)opt.total_steps();  // validates the length before any thread starts
  using Space = param_space_t<W>;  // host_space, or device_space (<fda/thrust.hpp>, docs/gpu.md)
  if constexpr (!std::is_same_v<Space, host_space>)
    if (!opt.checkpoint_path.empty() || opt.resume) throw invalid_argument(detail::device_checkpoint_message());

  std::tuple<Callbacks...> hooks(std::forward<Callbacks>(callbacks)...);
  std::optional<detail::run_state<T, Policy, Aggregator, Space>> shared;
  cluster.run([&](cluster_comm& comm) {
    W w = make_worker(comm.rank());
    const std::size_t d = fda::view(w.params()).size();
    detail::check_same_dim(comm, d);
    comm.serial([&] {
      shared.emplace(policy, agg,
                     run_info{d, comm.size(), opt.steps_per_epoch, opt.check_every, opt.seed});
    });
    detail::run_spmd(comm, w, *shared, policy, agg, opt, hooks);
  });
  return std::move(shared->res);
}

}  // namespace fda
