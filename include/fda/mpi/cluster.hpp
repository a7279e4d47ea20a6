// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Several workers per MPI rank (opt-in, like <fda/mpi.hpp>: link fda::mpi).
///
///   boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
///   boost::mpi::communicator world;
///   fda::mpi_cluster cluster(world, 4);            // K = world.size() · 4 workers
///   auto r = fda::train(cluster, [&](std::size_t rank) { return my_worker(rank); },
///                       fda::linear_fda{}, fda::mean{}, {.max_steps = 1000});
///
/// Each rank runs its workers as threads of an fda::local_cluster; the ranks talk through
/// MPI. Rank p holds the workers p·N … p·N + N − 1 (N workers per rank), and the run is
/// bit-identical to fda::train on an in-process fda::local_cluster of K = R·N workers: every
/// reduction adds the K contributions in worker order, as the cluster does —
///   all_reduce_sum  the ranks all-gather their workers' vectors (K·n doubles), and each
///                   rank adds them in worker order;
///   average         each worker averages its own share of the elements (fda::share_of over
///                   K) with fda::share_averager, reading its rank's workers in place and the
///                   other ranks' slices of that share, brought by one all-to-all; the ranks
///                   then all-gather the averaged shares and the per-worker {finite, spread}.
/// Rank 0's worker 0 is the run's rank 0: it runs the callbacks. Each rank keeps one replica
/// of the run's shared state for its workers (serial() runs once per rank).
///
/// Only the rank's first worker thread calls MPI, while the others wait at a barrier, but it
/// is not the thread that initialized MPI: the constructor needs MPI_THREAD_SERIALIZED or
/// higher (boost::mpi::threading::serialized). An error raised on one worker only ends the
/// job through MPI_Abort (mpi_options::abort_on_local_error), as with fda::mpi_comm.
///
/// Memory: during a sync, each rank packs its workers' slices for the other ranks and
/// receives theirs: 2 · N · d · (R − 1) / R parameters of staging per rank.
#include <boost/mpi/communicator.hpp>
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <exception>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../comm/average_stats.hpp"
#include "../comm/local_cluster.hpp"
#include "../detail/average_share.hpp"
#include "../detail/traverse.hpp"
#include "../error.hpp"
#include "comm.hpp"
#include "../params.hpp"
#include "../train.hpp"

namespace fda {

class mpi_cluster;

/// One worker thread's handle to an fda::mpi_cluster: it models fda::communicator, with the
/// ranks of the whole run (rank() in [0, K), size() = K).
class mpi_cluster_comm {
 public:
  /// This worker's index in the run: its MPI rank · N + its index on that rank.
  std::size_t rank() const noexcept { return first_ + inner_->rank(); }
  /// K = MPI ranks · workers per rank.
  std::size_t size() const noexcept;
  /// This worker's index among its rank's workers, 0 ≤ local_rank() < N.
  std::size_t local_rank() const noexcept { return inner_->rank(); }

  /// Waits for every worker of every rank.
  void barrier();
  /// values ← Σ_k values_k, added in worker order 0, 1, ..., K − 1.
  void all_reduce_sum(std::span<double> values);
  /// out ← the workers' models combined by `rule`, as fda::local_cluster combines them (bit
  /// for bit with K workers); `out` is the rank's replica buffer, the same on its workers.
  template <class T, class U>
  average_stats average(const param_view<const T>& mine, double weight, std::span<U> out, combine_rule rule = {});
  /// out ← worker 0's `mine` (the rank's replica buffer).
  template <class T, class U>
  void broadcast(const param_view<const T>& mine, std::span<U> out);
  /// f() runs once per rank (its replica of the shared state), every worker waiting.
  template <class F>
  void serial(F&& f) {
    inner_->serial(std::forward<F>(f));
  }
  /// f() -> bool runs on worker 0; every worker gets its value.
  template <class F>
  bool root_says(F&& f);
  /// The run's shared state, one replica per rank (built by the rank's first worker).
  template <class S, class... Args>
  S& replica(const Args&... args) {
    return inner_->template replica<S>(args...);
  }
  /// Worker 0 gets every worker's `mine` in worker order; the others get nothing.
  std::vector<std::string> gather_bytes(std::string mine);
  /// Each worker gets its element of worker 0's `all` (all.size() == size() on worker 0).
  std::string scatter_bytes(const std::vector<std::string>& all);
  /// s ← worker 0's s.
  void broadcast_bytes(std::string& s);
  /// What each MPI rank (not each worker) handed to MPI so far, in rank order (a collective).
  std::vector<std::uint64_t> bytes_sent_per_rank();
  /// An error raised on this worker only is leaving fda::train: ends the job (MPI_Abort)
  /// unless mpi_options::abort_on_local_error is false. A worker leaving because another
  /// worker of its rank failed first does nothing here: that worker's error is the one.
  void on_local_error(const char* what);

 private:
  friend class mpi_cluster;
  mpi_cluster_comm(mpi_cluster& cluster, cluster_comm& inner);
  mpi_cluster* cluster_;
  cluster_comm* inner_;
  std::size_t first_;
};

/// R MPI ranks of N worker threads each: K = R·N workers; run(f) calls f(mpi_cluster_comm&)
/// on each of this rank's N threads (see the header comment).
class mpi_cluster {
 public:
  /// This rank's part of a cluster of world.size() · workers_per_rank workers. A collective:
  /// every rank of `world` constructs it with the same workers_per_rank (checked) and the
  /// same options. The reductions are always the rank-ordered ones (mpi_reduction::native
  /// is refused). `local` says how the rank runs its workers: one thread each, or a worker
  /// pool (cluster_options::threads).
  mpi_cluster(const boost::mpi::communicator& world, std::size_t workers_per_rank, mpi_options options = {},
              cluster_options local = {})
      : outer_(world, options), local_(workers_per_rank ? workers_per_rank : 1, local), per_rank_(workers_per_rank) {
    if (workers_per_rank == 0) detail::fail("fda::mpi_cluster: workers_per_rank = 0 is invalid: it needs at least one");
    if (options.reduction == mpi_reduction::native)
      detail::fail("fda::mpi_cluster: mpi_reduction::native is not supported: several workers per rank reduce in "
                   "worker order only (bit-identical to the in-process cluster)");
    int level = 0;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_SERIALIZED)
      detail::fail("fda::mpi_cluster: MPI runs at thread level ", level, " and a worker thread calls MPI: initialize "
                   "it with boost::mpi::environment env(argc, argv, boost::mpi::threading::serialized) or higher");
    check_same_workers_per_rank();
    slots_.resize(workers_per_rank);
  }
  mpi_cluster(const mpi_cluster&) = delete;
  mpi_cluster& operator=(const mpi_cluster&) = delete;

  /// K, the workers of the run.
  std::size_t size() const noexcept { return ranks() * per_rank_; }
  /// N, the workers of each rank.
  std::size_t workers_per_rank() const noexcept { return per_rank_; }
  /// The run's index of this rank's first worker (MPI rank · N).
  std::size_t first_worker() const noexcept { return process() * per_rank_; }
  /// The MPI handle of this rank (its bytes_sent() counts the byte collectives).
  const mpi_comm& between_ranks() const noexcept { return outer_; }

  /// Calls f(mpi_cluster_comm&) on this rank's N threads; returns when all are done and
  /// rethrows the first exception any of them threw (every rank calls run alike).
  template <class F>
  void run(F f) {
    local_.run([&](cluster_comm& inner) {
      mpi_cluster_comm comm(*this, inner);
      f(comm);
    });
  }

 private:
  friend class mpi_cluster_comm;

  /// What a worker publishes for a collective.
  struct slot {
    const void* view = nullptr;  // a param_view<const T>
    double weight = 0.0;
    const double* values = nullptr;
    std::size_t count = 0;
    bool finite = true;
    double spread = 0.0;
    std::string* bytes = nullptr;
  };

  std::size_t ranks() const noexcept { return outer_.size(); }
  std::size_t process() const noexcept { return outer_.rank(); }
  MPI_Comm world() const { return outer_.communicator(); }

  void check_same_workers_per_rank() {
    const unsigned long long mine = per_rank_;
    std::vector<unsigned long long> all(ranks());
    MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all.data(), 1, MPI_UNSIGNED_LONG_LONG, world());
    for (std::size_t p = 0; p < all.size(); ++p)
      if (all[p] != all[0])
        throw detail::everywhere<invalid_argument>(detail::concat(
            "fda::mpi_cluster: rank ", p, " has ", all[p], " workers per rank but rank 0 has ", all[0],
            ": every rank must run the same number"));
  }

  /// `mine` (count values per worker of this rank) all-gathered over the ranks: K·count values
  /// in worker order.
  std::vector<double> all_gather(const std::vector<double>& mine, std::size_t count) {
    detail::mpi_require_int("fda::mpi_cluster::", "all-gather", mine.size() * ranks());
    std::vector<double> all(count * size());
    MPI_Allgather(mine.data(), int(mine.size()), MPI_DOUBLE, all.data(), int(mine.size()), MPI_DOUBLE, world());
    bytes_sent_ += (ranks() - 1) * mine.size() * sizeof(double);
    return all;
  }

  /// [begin, end) of the elements of rank p's workers: the union of their shares, which is
  /// share_of(d, R, p) (d·pN/(RN) = d·p/R).
  std::pair<std::size_t, std::size_t> elements_of(std::size_t d, std::size_t p) const {
    return share_of(d, ranks(), p);
  }

  /// average()'s exchange, on the rank's first worker: the K weights, then (when they sum to
  /// more than 0) every rank's workers' slices of this rank's elements.
  template <class T>
  void exchange_for_average(std::size_t d);
  /// The slice of worker r (on another rank) that exchange_for_average received, from element lo.
  template <class T>
  const T* received(std::size_t r, std::size_t lo, std::size_t d) const;
  /// average()'s end, on the rank's first worker: the K {finite, spread} combined in worker
  /// order, and the averaged shares all-gathered into `out`.
  template <class U>
  void finish_average(std::span<U> out);

  mpi_comm outer_;
  local_cluster local_;
  std::size_t per_rank_;
  std::vector<slot> slots_;
  std::vector<double> weights_, coeff_, reduced_;
  double weight_total_ = 0.0;
  std::vector<std::byte> send_, received_;
  std::vector<std::size_t> received_at_;  // where each rank's slices start in received_ (bytes)
  average_stats stats_{};
  bool root_said_ = false;
  std::vector<std::string> parts_;  // gather/scatter: the strings of this rank's workers
  std::string broadcast_;
  std::vector<std::uint64_t> sent_per_rank_;
  std::uint64_t bytes_sent_ = 0;  // beyond outer_.bytes_sent(): the collectives made here
};

namespace detail {

/// N strings as one (each: 8-byte length, then its bytes), for the byte collectives between ranks.
inline std::string pack_strings(std::vector<std::string>::const_iterator first, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i, ++first) {
    const std::uint64_t len = first->size();
    out.append(reinterpret_cast<const char*>(&len), sizeof len);
    out += *first;
  }
  return out;
}

/// The strings pack_strings packed, appended to `into`; fails when `packed` is not n of them.
inline void unpack_strings(const std::string& packed, std::size_t n, std::vector<std::string>& into) {
  std::size_t at = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t len = 0;
    if (packed.size() - at < sizeof len) fail("fda::mpi_cluster: a packed string list is truncated");
    std::memcpy(&len, packed.data() + at, sizeof len);
    at += sizeof len;
    if (packed.size() - at < len) fail("fda::mpi_cluster: a packed string list is truncated");
    into.emplace_back(packed, at, std::size_t(len));
    at += std::size_t(len);
  }
  if (at != packed.size()) fail("fda::mpi_cluster: a packed string list has ", packed.size() - at, " bytes too many");
}

}  // namespace detail

inline mpi_cluster_comm::mpi_cluster_comm(mpi_cluster& cluster, cluster_comm& inner)
    : cluster_(&cluster), inner_(&inner), first_(cluster.first_worker()) {}

inline std::size_t mpi_cluster_comm::size() const noexcept { return cluster_->size(); }

inline void mpi_cluster_comm::barrier() {
  serial([&] { cluster_->outer_.barrier(); });
}

inline void mpi_cluster_comm::all_reduce_sum(std::span<double> values) {
  auto& c = *cluster_;
  const std::size_t k = size(), n = values.size(), local = local_rank();
  if (k == 1) return;
  c.slots_[local].values = values.data();
  c.slots_[local].count = n;
  serial([&] {
    std::vector<double> mine;
    mine.reserve(c.per_rank_ * n);
    for (std::size_t i = 0; i < c.per_rank_; ++i) {
      if (c.slots_[i].count != n)
        detail::fail("fda::mpi_cluster::all_reduce_sum: worker ", first_ + i, " passed ", c.slots_[i].count,
                     " values but worker ", first_, " passed ", n);
      mine.insert(mine.end(), c.slots_[i].values, c.slots_[i].values + n);
    }
    const std::vector<double> all = c.all_gather(mine, n);
    c.reduced_.assign(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {  // worker order, as the in-process cluster adds
      double s = 0.0;
      for (std::size_t r = 0; r < k; ++r) s += all[r * n + i];
      c.reduced_[i] = s;
    }
  });
  std::copy(c.reduced_.begin(), c.reduced_.end(), values.begin());  // (rewritten only after the next barrier)
}

template <class T>
void mpi_cluster::exchange_for_average(std::size_t d) {
  const std::size_t n = per_rank_, me = process(), R = ranks();
  std::vector<double> mine(n);
  for (std::size_t i = 0; i < n; ++i) mine[i] = slots_[i].weight;
  weights_ = all_gather(mine, 1);
  weight_total_ = std::accumulate(weights_.begin(), weights_.end(), 0.0);
  coeff_ = detail::averaging_coefficients(weights_);  // (once per rank, not per worker: O(K) each)
  if (!(weight_total_ > 0.0)) return;  // (every worker fails after)
  // To rank p: each of my workers' slice of p's elements; from rank p: its workers' slices of mine.
  std::vector<int> send_counts(R), send_displs(R), recv_counts(R), recv_displs(R);
  const auto [my_lo, my_hi] = elements_of(d, me);
  std::size_t sent = 0, got = 0;
  for (std::size_t p = 0; p < R; ++p) {
    const auto [lo, hi] = elements_of(d, p);
    const std::size_t out = p == me ? 0 : n * (hi - lo), in = p == me ? 0 : n * (my_hi - my_lo);
    detail::mpi_require_int("fda::mpi_cluster::", "average", sent + out);
    detail::mpi_require_int("fda::mpi_cluster::", "average", got + in);
    send_counts[p] = int(out), send_displs[p] = int(sent), sent += out;
    recv_counts[p] = int(in), recv_displs[p] = int(got), got += in;
  }
  send_.resize(sent * sizeof(T));
  received_.resize(got * sizeof(T));
  received_at_.assign(R, 0);
  T* packed = reinterpret_cast<T*>(send_.data());
  for (std::size_t p = 0; p < R; ++p) {
    received_at_[p] = std::size_t(recv_displs[p]);
    if (p == me) continue;
    // (not a structured binding: the lambda below captures lo, which clang 14 refuses)
    const std::pair<std::size_t, std::size_t> range = elements_of(d, p);
    const std::size_t lo = range.first, width = range.second - range.first;
    for (std::size_t i = 0; i < n; ++i)
      detail::for_each_run(*static_cast<const param_view<const T>*>(slots_[i].view), lo, width,
                           [&](std::size_t at, const T* q, std::size_t len) {
                             std::copy(q, q + len, packed + send_displs[p] + i * width + at);
                           });
  }
  MPI_Alltoallv(send_.data(), send_counts.data(), send_displs.data(), detail::mpi_datatype<T>(), received_.data(),
                recv_counts.data(), recv_displs.data(), detail::mpi_datatype<T>(), world());
  bytes_sent_ += sent * sizeof(T);
}

template <class T>
const T* mpi_cluster::received(std::size_t r, std::size_t lo, std::size_t d) const {
  const std::size_t p = r / per_rank_, i = r % per_rank_;
  const auto [my_lo, my_hi] = elements_of(d, process());
  return reinterpret_cast<const T*>(received_.data()) + received_at_[p] + i * (my_hi - my_lo) + (lo - my_lo);
}

template <class U>
void mpi_cluster::finish_average(std::span<U> out) {
  const std::size_t n = per_rank_, R = ranks(), d = out.size();
  std::vector<double> mine(2 * n);
  for (std::size_t i = 0; i < n; ++i) mine[2 * i] = slots_[i].finite ? 1.0 : 0.0, mine[2 * i + 1] = slots_[i].spread;
  const std::vector<double> all = all_gather(mine, 2);
  stats_ = average_stats{true, 0.0, detail::count_contributors(weights_)};
  for (std::size_t r = 0; r < size(); ++r) {  // worker order, as the in-process cluster combines them
    stats_.finite = stats_.finite && all[2 * r] != 0.0;
    stats_.spread += all[2 * r + 1];
  }
  std::vector<int> counts(R), displs(R);
  for (std::size_t p = 0; p < R; ++p) {
    const auto [lo, hi] = elements_of(d, p);
    detail::mpi_require_int("fda::mpi_cluster::", "average", hi);
    counts[p] = int(hi - lo), displs[p] = int(lo);
  }
  MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, out.data(), counts.data(), displs.data(),
                 detail::mpi_datatype<U>(), world());
  bytes_sent_ += (R - 1) * std::uint64_t(counts[process()]) * sizeof(U);
}

template <class T, class U>
average_stats mpi_cluster_comm::average(const param_view<const T>& mine, double weight, std::span<U> out,
                                        combine_rule rule) {
  auto& c = *cluster_;
  if (mine.size() != out.size())
    detail::fail("fda::mpi_cluster::average: worker ", rank(), " has ", mine.size(), " parameters but the average has ",
                 out.size());
  if (!(weight >= 0.0 && std::isfinite(weight)))
    detail::fail("fda::mpi_cluster::average: worker ", rank(), " has weight ", weight, ": it must be finite and >= 0");
  c.slots_[local_rank()].view = &mine;
  c.slots_[local_rank()].weight = weight;
  serial([&] { c.template exchange_for_average<T>(out.size()); });
  if (!(c.weight_total_ > 0.0))
    throw detail::everywhere<invalid_argument>("fda::mpi_cluster::average: the workers' weights sum to 0");
  // This worker's share of the elements, reading its rank's workers in place.
  const auto [begin, end] = share_of(out.size(), size(), rank());
  detail::share_averager share(c.coeff_.data(), c.coeff_.size(), rule);
  share.add(begin, end, out, [&](std::size_t r, std::size_t lo, std::size_t n, auto&& f) {
    if (r >= first_ && r < first_ + c.per_rank_)
      detail::for_each_run(*static_cast<const param_view<const T>*>(c.slots_[r - first_].view), lo, n, f);
    else
      f(std::size_t(0), c.template received<T>(r, lo, out.size()), n);
  });
  c.slots_[local_rank()].finite = share.finite();
  c.slots_[local_rank()].spread = share.spread();
  serial([&] { c.finish_average(out); });
  return c.stats_;  // (rewritten only after the next barrier)
}

template <class T, class U>
void mpi_cluster_comm::broadcast(const param_view<const T>& mine, std::span<U> out) {
  serial([&] { cluster_->outer_.broadcast(mine, out); });  // the first worker of rank 0 is worker 0
}

template <class F>
bool mpi_cluster_comm::root_says(F&& f) {
  serial([&] { cluster_->root_said_ = cluster_->outer_.root_says(f); });
  return cluster_->root_said_;
}

inline std::vector<std::string> mpi_cluster_comm::gather_bytes(std::string mine) {
  auto& c = *cluster_;
  c.slots_[local_rank()].bytes = &mine;
  std::vector<std::string> all;
  serial([&] {
    std::vector<std::string> local;
    for (auto& s : c.slots_) local.push_back(std::move(*s.bytes));
    const std::vector<std::string> packed = c.outer_.gather_bytes(detail::pack_strings(local.cbegin(), local.size()));
    for (const auto& p : packed) detail::unpack_strings(p, c.per_rank_, all);  // (rank 0 only: the others get none)
  });
  return all;
}

inline std::string mpi_cluster_comm::scatter_bytes(const std::vector<std::string>& all) {
  auto& c = *cluster_;
  serial([&] {
    std::vector<std::string> packed;
    if (first_ == 0) {
      if (all.size() != size())
        detail::fail("fda::mpi_cluster::scatter_bytes: ", all.size(), " strings for ", size(), " workers");
      for (std::size_t p = 0; p < c.ranks(); ++p)
        packed.push_back(detail::pack_strings(all.cbegin() + std::ptrdiff_t(p * c.per_rank_), c.per_rank_));
    }
    c.parts_.clear();
    detail::unpack_strings(c.outer_.scatter_bytes(packed), c.per_rank_, c.parts_);
  });
  return std::move(c.parts_[local_rank()]);  // (each worker takes its own; rewritten after the next barrier)
}

inline void mpi_cluster_comm::broadcast_bytes(std::string& s) {
  auto& c = *cluster_;
  serial([&] {
    c.outer_.broadcast_bytes(s);
    c.broadcast_ = s;
  });
  if (local_rank() != 0) s = c.broadcast_;
}

inline std::vector<std::uint64_t> mpi_cluster_comm::bytes_sent_per_rank() {
  auto& c = *cluster_;
  serial([&] {
    std::vector<std::uint64_t> all(c.ranks());
    const unsigned long long mine = c.outer_.bytes_sent() + c.bytes_sent_;
    MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all.data(), 1, MPI_UNSIGNED_LONG_LONG, c.world());
    c.sent_per_rank_ = std::move(all);
  });
  return c.sent_per_rank_;
}

inline void mpi_cluster_comm::on_local_error(const char* what) {
  if (const std::exception_ptr current = std::current_exception()) {  // (fda::train calls it from a handler)
    try {
      std::rethrow_exception(current);
    } catch (const detail::cluster_aborted&) {
      return;  // another worker of this rank failed first, and its error is the one reported
    } catch (...) {
    }
  }
  if (!cluster_->outer_.options().abort_on_local_error) return;
  std::fprintf(stderr, "fda: worker %zu of %zu (MPI rank %zu) failed, aborting the MPI job: %s\n", rank(), size(),
               cluster_->process(), what);
  std::fflush(stderr);
  MPI_Abort(cluster_->world(), 1);
  std::terminate();  // MPI_Abort does not return
}

/// Trains cluster.size() workers, this rank's made by `make_worker(rank)` on its own thread
/// (rank: the run's index of the worker), under `policy`, syncing with `aggregator`, as the
/// in-process cluster's fda::train does; every MPI rank calls it alike and gets the result.
/// Callbacks run on worker 0 only (MPI rank 0).
template <class Factory, class Policy, class Aggregator, class... Callbacks>
result train(mpi_cluster& cluster, Factory make_worker, Policy policy, Aggregator agg, options opt,
             Callbacks&&... callbacks) {
  static_assert(detail::check_factory_arguments<mpi_cluster_comm, Factory, Policy, Aggregator, Callbacks...>());
  using W = std::remove_cvref_t<std::invoke_result_t<Factory&, std::size_t>>;
  std::tuple<Callbacks...> hooks(std::forward<Callbacks>(callbacks)...);
  std::optional<result> res;
  cluster.run([&](mpi_cluster_comm& comm) {
    W w = make_worker(comm.rank());
    const bool first = comm.local_rank() == 0;  // (the rank's first worker takes its replica's result)
    const auto wanted = first ? detail::result_for::this_worker_alone : detail::result_for::nobody;
    result mine = std::apply([&](auto&... h) { return detail::train_rank(comm, w, policy, agg, opt, wanted, h...); },
                             hooks);
    if (first) res = std::move(mine);
  });
  return std::move(*res);
}

}  // namespace fda
