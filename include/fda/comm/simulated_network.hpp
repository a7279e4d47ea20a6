// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda::simulated_network<Comm>: any transport, charged the time its collectives would take
/// on a modelled network ("what would this run cost on a 1 Gbit/s, 20 ms WAN?").
///
///   fda::local_cluster cluster(8);
///   cluster.run([&](fda::cluster_comm& c) {
///     fda::simulated_network net(c, {.bandwidth = 1e9, .latency = 0.02});
///     my_worker w(c.rank());
///     auto r = fda::train(net, w, fda::linear_fda{}, fda::mean{}, opt);
///     // r.network_seconds: the simulated communication time
///   });
///
/// It is written only against the public communicator concept (comm/communicator.hpp):
/// every collective is forwarded unchanged to the wrapped transport, so the run's results
/// are bit-identical to the undecorated one's, and then charged a time from the model:
///
///   B the per-link bandwidth (bits/s), L the one-way latency (s), K workers, n the bytes
///   one worker contributes (values × model.value_bytes: 4 by default, the cost model's
///   float32 wire, whatever the in-memory type):
///                         star (server-side aggregation)    ring
///   all_reduce_sum,       2·(L + K·n·8/B): K uploads into   2·(K−1)·(L + (n/K)·8/B):
///   average (a sync)      the server's link, K downloads    reduce-scatter + all-gather
///   broadcast (model)     L + (K−1)·n·8/B                   (K−1)·L + n·8/B (pipelined)
///   byte collectives      L + (bytes for the others)·8/B through rank 0's link (checkpoints)
///
/// barrier, serial and root_says move no training data and are not charged (a deployment
/// carries a stop flag on the next message). With K = 1 nothing is charged. Every worker
/// charges the same amounts in the same order, so every worker reports the same time.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "communicator.hpp"

namespace fda {

/// How the simulated network connects the workers.
enum class network_topology {
  star,  ///< every worker talks to one server, which aggregates (federated learning's usual setup)
  ring,  ///< bandwidth-optimal ring all-reduce between the workers (a cluster's usual setup)
};

/// The links of the simulated network: the same bandwidth and latency for every link.
struct network_model {
  double bandwidth = 1e9;  ///< bits per second per link (1e9: 1 Gbit/s)
  double latency = 0.0;    ///< one-way latency of a message, in seconds
  network_topology topology = network_topology::star;  ///< star (server) or ring
  double value_bytes = 4;  ///< bytes per value on the wire (4: the cost model's float32)

  /// Throws fda::invalid_argument naming the field unless bandwidth > 0, latency >= 0 and
  /// value_bytes > 0, each finite.
  void validate() const {
    require_positive("fda::network_model: bandwidth (bits/s)", bandwidth);
    require_non_negative("fda::network_model: latency (s)", latency);
    require_positive("fda::network_model: value_bytes", value_bytes);
  }

  /// Seconds of an all-reduce (or an average) in which each of k workers contributes n bytes.
  double all_reduce_seconds(std::size_t k, double n) const {
    if (k < 2) return 0.0;
    const double kk = double(k);
    if (topology == network_topology::star) return 2.0 * (latency + kk * n * 8.0 / bandwidth);
    return 2.0 * (kk - 1.0) * (latency + n / kk * 8.0 / bandwidth);
  }

  /// Seconds of a broadcast of n bytes from one worker to the k − 1 others.
  double broadcast_seconds(std::size_t k, double n) const {
    if (k < 2) return 0.0;
    const double others = double(k) - 1.0;
    if (topology == network_topology::star) return latency + others * n * 8.0 / bandwidth;
    return others * latency + n * 8.0 / bandwidth;
  }

  /// Seconds for `bytes` to pass through one worker's link in one message (a gather to
  /// rank 0, a scatter from it).
  double funnel_seconds(std::size_t k, double bytes) const {
    return k < 2 ? 0.0 : latency + bytes * 8.0 / bandwidth;
  }
};

/// A communicator that forwards every collective to `Comm` and charges it the time it would
/// take on a network_model's links (see the header comment). Models fda::communicator, and
/// offers what the wrapped transport offers (a shared replica, device views, per-rank bytes,
/// on_local_error).
template <communicator Comm>
class simulated_network {
 public:
  /// Wraps `inner` (kept by reference: it must outlive this) with the links of `model`.
  simulated_network(Comm& inner, network_model model) : inner_(inner), model_(model) { model_.validate(); }

  /// The wrapped transport's rank.
  std::size_t rank() const { return inner_.rank(); }
  /// The wrapped transport's K.
  std::size_t size() const { return inner_.size(); }
  /// The links this network simulates.
  const network_model& model() const { return model_; }
  /// Simulated communication time so far, in seconds (the same on every worker).
  double network_seconds() const { return seconds_; }
  /// The wrapped transport.
  Comm& inner() { return inner_; }

  /// Forwarded; not charged (no training data moves).
  void barrier() { inner_.barrier(); }

  /// Forwarded, then charged as an all-reduce of values.size() values.
  void all_reduce_sum(std::span<double> values) {
    inner_.all_reduce_sum(values);
    seconds_ += model_.all_reduce_seconds(size(), double(values.size()) * model_.value_bytes);
  }

  /// Forwarded, then charged as an all-reduce of the d parameters (a sync: every model up,
  /// the average down).
  template <class Mine, class Out>
  average_stats average(const Mine& mine, double weight, const Out& out, combine_rule rule = {})
    requires requires(Comm& c) { { c.average(mine, weight, out, rule) } -> std::same_as<average_stats>; }
  {
    const average_stats stats = inner_.average(mine, weight, out, rule);
    seconds_ += model_.all_reduce_seconds(size(), double(mine.size()) * model_.value_bytes);
    return stats;
  }

  /// Forwarded, then charged as a broadcast of the d parameters.
  template <class Mine, class Out>
  void broadcast(const Mine& mine, const Out& out)
    requires requires(Comm& c) { c.broadcast(mine, out); }
  {
    inner_.broadcast(mine, out);
    seconds_ += model_.broadcast_seconds(size(), double(mine.size()) * model_.value_bytes);
  }

  /// Forwarded; not charged.
  template <class F>
  void serial(F&& f) {
    inner_.serial(std::forward<F>(f));
  }

  /// Forwarded; not charged.
  template <class F>
  bool root_says(F&& f) {
    return inner_.root_says(std::forward<F>(f));
  }

  /// Forwarded, then charged the bytes of the other workers through rank 0's link (every
  /// worker learns that total by one all-reduce of the wrapped transport, so all agree).
  std::vector<std::string> gather_bytes(std::string mine) {
    const double own = rank() == 0 ? 0.0 : double(mine.size());
    std::vector<std::string> all = inner_.gather_bytes(std::move(mine));
    seconds_ += model_.funnel_seconds(size(), total_of(own));
    return all;
  }

  /// Forwarded, then charged the bytes for the other workers through rank 0's link.
  std::string scatter_bytes(const std::vector<std::string>& all) {
    std::string mine = inner_.scatter_bytes(all);
    seconds_ += model_.funnel_seconds(size(), total_of(rank() == 0 ? 0.0 : double(mine.size())));
    return mine;
  }

  /// Forwarded, then charged as a broadcast of s.
  void broadcast_bytes(std::string& s) {
    inner_.broadcast_bytes(s);
    seconds_ += model_.broadcast_seconds(size(), double(s.size()));
  }

  /// The wrapped transport's replica of the run's shared state, when it shares one.
  template <class S, class... Args>
    requires communicator_traits<Comm>::template shares_replica<S, Args...>
  S& replica(const Args&... args) {
    return inner_.template replica<S>(args...);
  }

  /// The wrapped transport's measured bytes per rank, when it reports them.
  std::vector<std::uint64_t> bytes_sent_per_rank()
    requires communicator_traits<Comm>::reports_bytes_per_rank
  {
    return inner_.bytes_sent_per_rank();
  }

  /// The wrapped transport's handling of an error raised on this worker only, when it has one.
  void on_local_error(const char* what)
    requires communicator_traits<Comm>::handles_local_errors
  {
    inner_.on_local_error(what);
  }

 private:
  double total_of(double mine) {
    double v = mine;
    inner_.all_reduce_sum(std::span<double>(&v, 1));
    return v;
  }

  Comm& inner_;            ///< the wrapped transport
  network_model model_;    ///< its simulated links
  double seconds_ = 0.0;   ///< simulated time charged so far
};

}  // namespace fda
