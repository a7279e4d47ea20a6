// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda::train: one SPMD loop for every policy, on any transport.
///
/// Per worker, on any fda::communicator (an MPI rank, a thread of the in-process cluster, a
/// process connected to a hub, a decorated transport such as fda::simulated_network):
///
///   auto r = fda::train(comm, worker, fda::linear_fda{}, fda::mean{}, {.max_steps = 1000});
///
/// On the in-process cluster, with a factory that makes each worker on its own thread:
///
///   auto r = fda::train(cluster, [&](std::size_t rank) { return my_worker(rank); },
///                       fda::linear_fda{.theta = 2.0}, fda::mean{},
///                       {.max_epochs = 5, .steps_per_epoch = 100}, fda::progress_bar{});
///
/// All workers start from worker 0's parameters. Every local step: local state → all-reduce
/// → decide → on sync: average the models, aggregator update, every worker takes the new
/// global model, the policy's on_sync. Callbacks run on rank 0 only; what they decide
/// (stop) reaches every worker. Every worker returns the same result.
///
/// Memory: one replica of the run's shared state per process (the in-process cluster: one
/// for all its workers; MPI: one per rank): the global model w0, the previous global model
/// (for ξ) and the averaging buffer — 3·d parameters — plus the aggregator's state (0, d or
/// 2·d) and the policy's (ξ: d for linear_fda); per worker, its own parameters and optimizer
/// state and a local state of monitor.state_size() doubles.
///
/// Workers whose params() are device views (<fda/thrust.hpp>) train unchanged on transports
/// that take device views (the in-process cluster): w0, w0_prev and the average then live
/// in device memory and the averaging runs there (docs/gpu.md).
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "comm/local_cluster.hpp"
#include "comm/train.hpp"

namespace fda {

namespace detail {

/// fda::train's compile-time checks for a factory form: make_worker(rank) makes a worker,
/// trained over Comm (each check's static_assert names what is wrong).
template <class Comm, class Factory, class Policy, class Aggregator, class... Callbacks>
constexpr bool check_factory_arguments() {
  static_assert(std::is_invocable_v<Factory&, std::size_t>,
                "fda::train: the worker factory must be callable as make_worker(std::size_t rank)");
  using W = std::remove_cvref_t<std::invoke_result_t<Factory&, std::size_t>>;
  static_assert(diagnose_worker<W>(),  // (its own static_assert says what is wrong)
                "fda::train: the factory's product is not a worker: it needs params() (a view of mutable "
                "float or double parameters) and step()");
  static_assert(check_train_arguments<Comm, W, Policy, Aggregator, Callbacks...>());
  return true;
}

}  // namespace detail

/// Trains cluster.size() workers made by `make_worker(rank)` under `policy`, syncing with
/// `aggregator`: each worker is made on its own thread and trained there as by the per-worker
/// fda::train (<fda/comm/train.hpp>); rank 0's result is returned. Callbacks are stored once, by reference when passed as lvalues, by
/// value otherwise.
template <class Factory, class Policy, class Aggregator, class... Callbacks>
result train(local_cluster& cluster, Factory make_worker, Policy policy, Aggregator agg, options opt,
             Callbacks&&... callbacks) {
  static_assert(detail::check_factory_arguments<cluster_comm, Factory, Policy, Aggregator, Callbacks...>());
  using W = std::remove_cvref_t<std::invoke_result_t<Factory&, std::size_t>>;
  (void)opt.total_steps();  // validates the length before any thread starts
  if constexpr (!std::is_same_v<param_space_t<W>, host_space>)
    if (!opt.checkpoint_path.empty() || opt.resume) throw invalid_argument(detail::device_checkpoint_message());

  std::tuple<Callbacks...> hooks(std::forward<Callbacks>(callbacks)...);
  std::optional<result> res;
  cluster.run([&](cluster_comm& comm) {
    W w = make_worker(comm.rank());
    const bool root = comm.rank() == 0;  // (rank 0 alone takes the result)
    const auto wanted = root ? detail::result_for::this_worker_alone : detail::result_for::nobody;
    result mine = std::apply([&](auto&... h) { return detail::train_rank(comm, w, policy, agg, opt, wanted, h...); },
                             hooks);
    if (root) res = std::move(mine);
  });
  return std::move(*res);
}

}  // namespace fda
