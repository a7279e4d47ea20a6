// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The communicator concept: what a transport offers one worker so that fda::train runs on it.
///
/// A communicator is one worker's handle to the collectives of a run of K workers (a
/// thread of fda::local_cluster, an MPI rank, a process connected to a hub). fda::train
/// calls the members below in the same order on every worker; each collective returns on a
/// worker once every worker has called it. Results must not depend on timing: a transport
/// that adds contributions in rank order 0, 1, ..., K-1 (fda::share_averager does it for
/// averages) gives the in-process cluster's results bit for bit.
///
/// Required (c a Comm, views of host memory; docs/concepts.md has the table):
///   c.rank() -> std::size_t           this worker's index in [0, size())
///   c.size() -> std::size_t           K, the workers of the run
///   c.barrier()                       waits for every worker
///   c.all_reduce_sum(std::span<double> v)                 v ← Σ_k v_k, in place
///   c.average(mine, weight, out, rule) -> fda::average_stats
///                                     out ← the workers' models combined by `rule` (the
///                                     mean weighted by `weight`, or an order statistic),
///                                     mine a param_view<const T>, out a std::span<U> of the
///                                     replica's buffer; reports finite, spread, contributors
///   c.broadcast(mine, out)            out ← rank 0's parameters
///   c.serial(f)                       f() runs once per replica of the run's shared state
///                                     (see replica below), every worker waiting for it
///   c.root_says(f) -> bool            f() -> bool runs on rank 0; every worker gets its value
///   c.gather_bytes(std::string) -> std::vector<std::string>   rank 0 gets every rank's, in order
///   c.scatter_bytes(const std::vector<std::string>&) -> std::string   rank r gets rank 0's [r]
///   c.broadcast_bytes(std::string&)   s ← rank 0's s
///
/// Optional (fda::communicator_traits detects them; absent means the default):
///   c.template replica<S>(args...) -> S&
///                                     the run's shared state (global model, policy and
///                                     aggregator state), built once per replica from args;
///                                     default: every worker builds its own (an MPI rank).
///                                     A transport whose workers share memory (the in-process
///                                     cluster) returns one object to all, and its serial()
///                                     runs f once for them all.
///   c.bytes_sent_per_rank() -> std::vector<std::uint64_t>   (a collective) what each rank
///                                     handed to the network; into result::bytes_sent_per_rank
///   c.network_seconds() -> double     simulated communication time so far (fda::simulated_network);
///                                     into result::network_seconds
///   c.on_local_error(const char* what) an error raised on this worker only is leaving
///                                     fda::train: the others may wait forever in a collective,
///                                     so a transport may end the job here (MPI_Abort); if it
///                                     returns, the error propagates
///   average/broadcast overloads taking param_view<T, Space> for a Space other than host
///                                     memory: the transport accepts device parameters
///   c.at_step(std::size_t step)       fda::train says which step it is at (before each step's
///                                     collectives), for the transport's messages
///   c.lost_workers() -> const std::vector<fda::lost_worker>&
///                                     membership: the workers lost for good so far, in the
///                                     order lost, the same list on every live worker after
///                                     each collective (see below)
///
/// Membership: ranks keep their numbers for the whole run (size() is K). A worker that
/// contributes nothing to an average (weight 0: left out after a fault) is not counted in
/// average_stats::contributors, which the variance and the spread use. A transport that
/// loses a worker for good (fda::zmq_comm under the hub's --on-worker-loss exclude) leaves
/// it out of every collective from some collective on — its slots of a sum are 0, its
/// weight in an average 0 — and lists it in lost_workers() from that collective's return.
/// fda::train then counts the live workers: local states are averaged over them, the cost
/// model's counters count them, the loss is logged in result::faults, and checkpoints stop
/// (a checkpoint holds every worker's state).
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../aggregate/combine_rule.hpp"
#include "../params.hpp"
#include "average_stats.hpp"

namespace fda {

/// A worker that a transport lost for good (communicator membership: lost_workers()).
struct lost_worker {
  std::size_t rank = 0;  ///< its rank
  std::size_t step = 0;  ///< the last step it reported
  std::string why;       ///< what happened, in the transport's words
};

namespace detail {
/// The probes with which the concept checks the collectives (float parameters on the host).
struct communicator_probe {
  param_view<const float> mine;
  std::span<float> out;
  std::span<double> values;
  std::string bytes;
  std::vector<std::string> all;
};
/// What serial() and root_says() are given: f() and f() -> bool.
struct probe_action {
  void operator()() const {}
};
struct probe_question {
  bool operator()() const { return true; }
};
}  // namespace detail

/// C is a worker's handle to a transport's collectives: every required member of the table
/// above. fda::train(comm, worker, ...) accepts any such C.
template <class C>
concept communicator = requires(C& c, const C& cc, detail::communicator_probe& p, combine_rule rule) {
  { cc.rank() } -> std::convertible_to<std::size_t>;
  { cc.size() } -> std::convertible_to<std::size_t>;
  c.barrier();
  c.all_reduce_sum(p.values);
  { c.average(p.mine, 1.0, p.out, rule) } -> std::same_as<average_stats>;
  c.broadcast(p.mine, p.out);
  c.serial(detail::probe_action{});
  { c.root_says(detail::probe_question{}) } -> std::convertible_to<bool>;
  { c.gather_bytes(p.bytes) } -> std::same_as<std::vector<std::string>>;
  { c.scatter_bytes(p.all) } -> std::same_as<std::string>;
  c.broadcast_bytes(p.bytes);
};

/// The optional members of a communicator C (see the table above), detected in one place.
template <class C>
struct communicator_traits {
  /// C builds one replica of the run's shared state for several workers (replica<S>(args...)).
  template <class S, class... Args>
  static constexpr bool shares_replica = requires(C& c, const Args&... a) {
    { c.template replica<S>(a...) } -> std::same_as<S&>;
  };
  /// C reports the bytes each rank sent (bytes_sent_per_rank()).
  static constexpr bool reports_bytes_per_rank = requires(C& c) {
    { c.bytes_sent_per_rank() } -> std::same_as<std::vector<std::uint64_t>>;
  };
  /// C simulates a network and reports its communication time (network_seconds()).
  static constexpr bool reports_network_seconds = requires(const C& c) {
    { c.network_seconds() } -> std::convertible_to<double>;
  };
  /// C wants to hear of an error raised on this worker only (on_local_error(what)).
  static constexpr bool handles_local_errors = requires(C& c, const char* what) { c.on_local_error(what); };
  /// C wants to know the step (at_step(step)).
  static constexpr bool tracks_steps = requires(C& c, std::size_t step) { c.at_step(step); };
  /// C may lose workers for good and says which (lost_workers()).
  static constexpr bool reports_membership = requires(const C& c) {
    { c.lost_workers() } -> std::convertible_to<const std::vector<lost_worker>&>;
  };
  /// C averages and broadcasts parameters of type T in memory space Space.
  template <class T, class Space>
  static constexpr bool takes_space =
      std::same_as<Space, host_space> ||
      requires(C& c, const param_view<const T, Space>& mine, const param_view<T, Space>& out, combine_rule rule) {
        { c.average(mine, 1.0, out, rule) } -> std::same_as<average_stats>;
        c.broadcast(mine, out);
      };
};

namespace detail {

/// True when C models fda::communicator; otherwise a static_assert names the first member
/// it lacks (so that the error says what to add, not where the trainer first tripped).
template <class C>
constexpr bool diagnose_communicator() {
  using P = communicator_probe;
  constexpr bool has_rank = requires(const C& c) { { c.rank() } -> std::convertible_to<std::size_t>; };
  constexpr bool has_size = requires(const C& c) { { c.size() } -> std::convertible_to<std::size_t>; };
  constexpr bool has_barrier = requires(C& c) { c.barrier(); };
  constexpr bool has_reduce = requires(C& c, P& p) { c.all_reduce_sum(p.values); };
  constexpr bool has_average = requires(C& c, P& p, combine_rule r) {
    { c.average(p.mine, 1.0, p.out, r) } -> std::same_as<average_stats>;
  };
  constexpr bool has_broadcast = requires(C& c, P& p) { c.broadcast(p.mine, p.out); };
  constexpr bool has_serial = requires(C& c) { c.serial(probe_action{}); };
  constexpr bool has_root_says = requires(C& c) {
    { c.root_says(probe_question{}) } -> std::convertible_to<bool>;
  };
  constexpr bool has_bytes = requires(C& c, P& p) {
    { c.gather_bytes(p.bytes) } -> std::same_as<std::vector<std::string>>;
    { c.scatter_bytes(p.all) } -> std::same_as<std::string>;
    c.broadcast_bytes(p.bytes);
  };
  static_assert(has_rank, "fda::train: the communicator has no rank() const returning std::size_t (docs/concepts.md: Communicator)");
  static_assert(has_size, "fda::train: the communicator has no size() const returning std::size_t (docs/concepts.md: Communicator)");
  static_assert(has_barrier, "fda::train: the communicator has no barrier() (docs/concepts.md: Communicator)");
  static_assert(has_reduce, "fda::train: the communicator has no all_reduce_sum(std::span<double>) (docs/concepts.md: Communicator)");
  static_assert(has_average, "fda::train: the communicator has no average(param_view<const T> mine, double weight, std::span<U> out, fda::combine_rule) returning fda::average_stats (docs/concepts.md: Communicator)");
  static_assert(has_broadcast, "fda::train: the communicator has no broadcast(param_view<const T> mine, std::span<U> out) (docs/concepts.md: Communicator)");
  static_assert(has_serial, "fda::train: the communicator has no serial(f) (docs/concepts.md: Communicator)");
  static_assert(has_root_says, "fda::train: the communicator has no root_says(f) returning bool (docs/concepts.md: Communicator)");
  static_assert(has_bytes, "fda::train: the communicator lacks gather_bytes, scatter_bytes or broadcast_bytes (docs/concepts.md: Communicator)");
  return communicator<C>;
}

}  // namespace detail
}  // namespace fda
