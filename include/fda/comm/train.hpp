// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda::train(comm, worker, ...): the per-worker entry of the training loop, for any
/// fda::communicator (comm/communicator.hpp). <fda/train.hpp> adds the in-process
/// cluster's factory form; <fda/mpi.hpp> includes this header alone.
#include <cstdint>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../aggregate/aggregator.hpp"
#include "../detail/spmd.hpp"
#include "../options.hpp"
#include "../policy/policy.hpp"
#include "../worker.hpp"
#include "communicator.hpp"

namespace fda {

class local_cluster;
class mpi_cluster;

namespace detail {

/// Transports whose fda::train takes a worker factory rather than a worker
/// (<fda/train.hpp>, <fda/mpi.hpp>).
template <class C>
constexpr bool takes_factory = std::is_same_v<C, local_cluster> || std::is_same_v<C, mpi_cluster>;

/// This worker's replica of the run's shared state: the transport's, when it shares one
/// among its workers (communicator_traits::shares_replica), else `own`, built here. A
/// configuration error depends only on what every worker shares, so it is raised everywhere.
template <class S, class Comm, class... Args>
S& replica_of(Comm& comm, std::optional<S>& own, const Args&... args) {
  if constexpr (communicator_traits<Comm>::template shares_replica<S, Args...>) {
    return comm.template replica<S>(args...);
  } else {
    try {
      own.emplace(args...);
    } catch (const invalid_argument& e) {
      throw everywhere<invalid_argument>(e.what());
    }
    return *own;
  }
}

/// The compile-time checks of fda::train, each with a message naming what is wrong.
template <class Comm, class W, class Policy, class Aggregator, class... Callbacks>
constexpr bool check_train_arguments() {
  static_assert(diagnose_communicator<Comm>(),  // (its own static_assert names the missing member)
                "fda::train: the first argument does not model fda::communicator");
  static_assert(diagnose_worker<W>(),  // (its own static_assert says what is wrong)
                "fda::train: the worker is not a worker: it needs params() (a view of mutable "
                "float or double parameters) and step()");
  using T = param_type_t<W>;
  static_assert(communicator_traits<Comm>::template takes_space<T, param_space_t<W>>,
                "fda::train: the worker's parameters are in device memory, and this transport takes host "
                "parameters only (the MPI transport takes host parameters only: no CUDA-aware MPI path yet); "
                "train device parameters on fda::local_cluster: see docs/gpu.md");
  static_assert(diagnose_policy<Policy, T, param_space_t<W>>(),  // (names the missing member)
                "fda::train: the policy does not model fda::sync_policy");
  static_assert(aggregator<Aggregator>, "fda::train: the aggregator does not model fda::aggregator");
  static_assert(check_callbacks<T, std::tuple<Callbacks...>>(),  // (names a hook it cannot call)
                "fda::train: a callback has a hook that cannot be called");
  return true;
}

/// Who takes the result out of a replica shared by several workers: each a copy (the
/// per-worker fda::train), or one worker alone, which moves it (the factory form of the
/// in-process cluster: K copies of the final models would cost more than the run's set-up).
enum class result_for { every_worker, this_worker_alone, nobody };

/// The run of one worker, once the callbacks are stored: replica, loop, result.
template <class Comm, class W, class Policy, class Aggregator, class Callbacks>
result train_worker(Comm& comm, W& w, const Policy& policy, const Aggregator& agg, const options& opt,
                    Callbacks& hooks, result_for wanted) {
  using T = param_type_t<W>;
  using Space = param_space_t<W>;
  using state_type = run_state<T, Policy, Aggregator, Space>;
  const std::size_t d = fda::view(w.params()).size();
  check_same_dim(comm, d);
  std::vector<std::uint64_t> sent_before;  // (a communicator used for several runs counts them all)
  if constexpr (communicator_traits<Comm>::reports_bytes_per_rank) sent_before = comm.bytes_sent_per_rank();
  std::optional<state_type> own;
  state_type& shared = replica_of(comm, own, policy, agg,
                                  run_info{d, comm.size(), opt.steps_per_epoch, opt.check_every, opt.seed});
  run_spmd(comm, w, shared, policy, agg, opt, hooks);
  // (After run_spmd's last collective no worker reads the replica: the one taker may move.)
  result res = own || wanted == result_for::this_worker_alone ? std::move(shared.res)
               : wanted == result_for::every_worker         ? shared.res
                                                            : result{};
  if constexpr (communicator_traits<Comm>::reports_bytes_per_rank) {  // this run's
    res.bytes_sent_per_rank = comm.bytes_sent_per_rank();
    for (std::size_t r = 0; r < res.bytes_sent_per_rank.size() && r < sent_before.size(); ++r)
      res.bytes_sent_per_rank[r] -= sent_before[r];
  }
  if constexpr (communicator_traits<Comm>::reports_network_seconds) res.network_seconds = comm.network_seconds();
  return res;
}

/// fda::train below, saying who wants the result (see result_for): the error handling around the run.
template <class Comm, class W, class Policy, class Aggregator, class... Callbacks>
result train_rank(Comm& comm, W& w, const Policy& policy, const Aggregator& agg, const options& opt,
                  result_for wanted, Callbacks&&... callbacks) {
  [[maybe_unused]] auto local_error = [&comm](const char* what) {
    if constexpr (communicator_traits<Comm>::handles_local_errors) comm.on_local_error(what);
  };
  (void)opt.total_steps();  // the same options everywhere: raised everywhere alike
  std::tuple<Callbacks...> hooks(std::forward<Callbacks>(callbacks)...);
  try {
    return train_worker(comm, w, policy, agg, opt, hooks, wanted);
  } catch (const std::exception& e) {
    if (!is_raised_everywhere(e)) local_error(e.what());
    throw;
  } catch (...) {
    local_error("an exception not derived from std::exception");
    throw;
  }
}

}  // namespace detail

/// Trains this worker, `w`, under `policy`, syncing with `aggregator`, over the transport
/// `comm` (any fda::communicator): every worker of the run calls it with its own worker and
/// the same policy, aggregator, options and callback types. Callbacks are stored by reference
/// when passed as lvalues (so their results can be read afterwards), by value otherwise, and
/// run on rank 0 only. Every worker returns the same result.
///
/// An error that a collective reveals (sizes that differ, a NaN in a local state or in the
/// average) is raised on every worker alike. Any other error leaves this worker alone; a
/// transport with on_local_error (MPI) may then end the job, since the others would wait.
template <class Comm, class W, class Policy, class Aggregator, class... Callbacks>
  requires(!detail::takes_factory<Comm>)  // (the clusters have their factory form)
result train(Comm& comm, W& w, Policy policy, Aggregator agg, options opt, Callbacks&&... callbacks) {
  static_assert(detail::check_train_arguments<Comm, W, Policy, Aggregator, Callbacks...>());
  return detail::train_rank(comm, w, policy, agg, opt, detail::result_for::every_worker,
                           std::forward<Callbacks>(callbacks)...);
}

}  // namespace fda
