// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The embedded default transport: K workers as threads of one process.
///
/// `local_cluster::run(f)` starts K threads and calls f(comm) on each, where comm is the
/// thread's handle to the collectives below: it models fda::communicator
/// (comm/communicator.hpp), so fda::train runs on it as on any transport:
///   all_reduce_sum(span<double>)     sum over workers, in place
///   average(mine, weight, out)       out = Σ_k weight_k · w_k / Σ_k weight_k, and
///                                    {finite?, Σ_k ||w_k − out||²}
///   broadcast(mine, out)             out = worker 0's parameters
///   serial(f)                        f runs once per replica of the run's shared state
///   root_says(f)                     f() -> bool runs on rank 0; every rank gets its value
///   gather_bytes(mine)               rank 0 gets every rank's string, in rank order
///   scatter_bytes(all)               each rank gets its string of rank 0's `all`
///   broadcast_bytes(s)               s ← rank 0's s
///   barrier()
/// Reductions add the workers' contributions in rank order 0, 1, ..., K-1 (each element
/// by one thread), so results are bit-identical whatever the thread scheduling. K may
/// exceed the number of cores: threads block, they never spin.
///
/// A worker pool (cluster_options::threads = T < K): the K workers run as fibers on T OS
/// threads, thread t holding the workers share_of(K, T, t), each worker on its own stack. A
/// worker waiting at a barrier hands its thread to the next worker of that thread; the last
/// of them to arrive waits for the other threads. Results are bit-identical to one thread
/// per worker (the collectives are the same code), and a barrier costs T thread wake-ups
/// instead of K: the way to run hundreds or thousands of workers on a few cores. Workers
/// of one thread run one at a time, so a worker must not block on another worker outside
/// the cluster's collectives, nor call a collective inside a catch handler.
///
/// If a worker throws, the cluster is aborted: every other thread leaves its next (or
/// current) collective with an internal exception, all threads are joined, and run()
/// rethrows the first exception on the caller's thread.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "../detail/average_share.hpp"
#include "../detail/fiber.hpp"
#include "../detail/traverse.hpp"
#include "../error.hpp"
#include "../params.hpp"
#include "average_stats.hpp"

namespace fda {

namespace detail {

/// Thrown out of a collective in the threads that did not fail, so they unwind.
struct cluster_aborted {};

/// A reusable barrier that can be aborted (std::barrier cannot).
class abortable_barrier {
 public:
  explicit abortable_barrier(std::size_t count) : count_(count) {}

  void arrive_and_wait() {
    std::unique_lock lock(mutex_);
    if (aborted_) throw cluster_aborted{};
    const std::size_t generation = generation_;
    if (++waiting_ == count_) {
      waiting_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation != generation_ || aborted_; });
    if (generation == generation_) throw cluster_aborted{};
  }

  void abort() {
    std::lock_guard lock(mutex_);
    aborted_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t count_;
  std::size_t waiting_ = 0;
  std::size_t generation_ = 0;
  bool aborted_ = false;
};

/// The workers of one OS thread of a worker pool: the fibers' barrier before the threads'.
struct fiber_group {
  std::size_t size = 0;        // workers on this thread
  std::size_t waiting = 0;     // of them at the current barrier
  std::size_t generation = 0;  // barriers completed
};

}  // namespace detail

/// How fda::local_cluster runs its workers.
struct cluster_options {
  /// OS threads that run the K workers: 0 (the default) or K and more, one thread per
  /// worker; fewer, a worker pool: each thread runs its share of the workers as fibers.
  std::size_t threads = 0;
  /// The stack of each worker of a pool (a fiber): mapped, not committed; pages count only
  /// once touched. 1 MiB by default (Eigen may put up to 128 KiB of temporaries on it).
  std::size_t stack_bytes = std::size_t(1) << 20;
};

class local_cluster;

/// One worker thread's handle to the cluster's collectives.
class cluster_comm {
 public:
  /// This worker's index, 0 ≤ rank < size().
  std::size_t rank() const noexcept { return rank_; }
  /// K, the number of workers.
  std::size_t size() const noexcept;
  /// Waits for every worker (throws if the cluster was aborted by another worker's error).
  void barrier();

  /// values ← Σ_k values_k, every rank passing a span of the same length.
  void all_reduce_sum(std::span<double> values);

  /// out ← Σ_k weight_k · mine_k / Σ_k weight_k, per element in double, in rank order.
  /// Every rank of this process passes the same `out` (the replica's buffer).
  /// Returns whether every element of the average is finite, and Σ_k ||w_k − out||²
  /// (the workers' spread about the average, computed while the data is in cache).
  /// With a robust rule (fda::combine_rule: median, trimmed mean) each element is that
  /// order statistic of the workers with a non-zero weight instead of their mean.
  template <class T, class U>
  average_stats average(const param_view<const T>& mine, double weight, std::span<U> out,
                        combine_rule rule = {});

  /// out ← rank 0's `mine` (the replica's buffer; every rank passes the same one).
  template <class T, class U>
  void broadcast(const param_view<const T>& mine, std::span<U> out) {
    serial([&] { detail::for_each_element([](auto a, auto& b) { b = U(a); }, mine, fda::view(out)); });
  }

  /// average() for parameters outside host memory (device views, <fda/thrust.hpp>), with
  /// the kernels of their space: rank 0 adds coeff_k · w_k into out in rank order (in
  /// double, as the host does, so the average is the host's bit for bit), then every rank
  /// measures ||w_k − out||² (summed over the workers of non-zero weight, in rank order;
  /// equal to the host's up to rounding). The mean only: a robust rule throws
  /// fda::invalid_argument.
  template <class T, class U, class Space>
    requires(!std::is_same_v<Space, host_space>)
  average_stats average(const param_view<const T, Space>& mine, double weight, const param_view<U, Space>& out,
                        combine_rule rule = {});

  /// broadcast() for parameters outside host memory: out ← rank 0's `mine`, by the space's copy.
  template <class T, class U, class Space>
    requires(!std::is_same_v<Space, host_space>)
  void broadcast(const param_view<const T, Space>& mine, const param_view<U, Space>& out) {
    serial([&] { copy(mine, out); });
  }

  /// Runs f once for the process's single replica of the shared run state: on rank 0,
  /// the others waiting; barriers on both sides make f's writes visible to all.
  template <class F>
  void serial(F&& f) {
    barrier();
    if (rank_ == 0) f();
    barrier();
  }

  /// Runs f() -> bool on rank 0 only (the callbacks) and returns its value on every rank.
  template <class F>
  bool root_says(F&& f);

  /// The run's shared state, one replica for every worker of this process: rank 0 builds
  /// S(args...) inside serial() (an error there aborts the cluster), and every rank gets a
  /// reference to it. It lives until run() returns.
  template <class S, class... Args>
  S& replica(const Args&... args);

  /// Rank 0 gets every rank's `mine` in rank order; the others get nothing (checkpoints).
  std::vector<std::string> gather_bytes(std::string mine);
  /// Each rank gets its element of rank 0's `all` (all.size() == size() on rank 0).
  std::string scatter_bytes(const std::vector<std::string>& all);
  /// s ← rank 0's s.
  void broadcast_bytes(std::string& s);

 private:
  friend class local_cluster;
  cluster_comm(local_cluster& c, std::size_t rank, detail::fiber_group* group)
      : cluster_(&c), rank_(rank), group_(group) {}
  /// average()'s first half: checks this worker's sizes and weight, publishes its view and
  /// weight, and waits for all while rank 0 turns the weights into the shared coefficients
  /// (their sum must be > 0). Computed once, not once per worker: K workers reading K
  /// weights each would cost O(K²) per sync.
  void publish_for_average(const void* view, std::size_t mine, std::size_t out, double weight);
  /// average()'s end: rank 0 combines the workers' {finite, spread} in rank order, once.
  average_stats combine_average_stats();
  local_cluster* cluster_;
  std::size_t rank_;
  detail::fiber_group* group_;  // the workers of this thread (a pool), else nullptr
};

/// K workers as threads of this process; run(f) calls f(cluster_comm&) on each.
class local_cluster {
 public:
  /// A cluster of `workers` (K ≥ 1) workers, one thread each unless options.threads says
  /// fewer (a worker pool of fibers, where the platform has them: FDA_HAS_FIBERS).
  explicit local_cluster(std::size_t workers, cluster_options options = {})
      : workers_(workers), threads_(options.threads == 0 ? workers : std::min(options.threads, workers)),
        stack_bytes_(options.stack_bytes) {
    if (workers == 0) detail::fail("fda::local_cluster: workers = 0 is invalid: it needs at least one");
    if (threads_ < workers_ && !FDA_HAS_FIBERS)
      detail::fail("fda::local_cluster: threads = ", threads_, " for ", workers_, " workers needs fibers (ucontext), "
                   "which this platform lacks: leave threads at 0 (one thread per worker)");
    if (threads_ < workers_ && stack_bytes_ < 16384)
      detail::fail("fda::local_cluster: stack_bytes = ", stack_bytes_, " is too small for a worker (at least 16384)");
    slots_.resize(workers);
  }
  local_cluster(const local_cluster&) = delete;
  local_cluster& operator=(const local_cluster&) = delete;

  /// K.
  std::size_t size() const noexcept { return workers_; }
  /// The OS threads that run the workers (K, or fewer for a worker pool).
  std::size_t threads() const noexcept { return threads_; }

  /// Calls f(cluster_comm&) on K threads; returns when all are done; rethrows the first
  /// exception any of them threw. A cluster runs one job at a time.
  template <class F>
  void run(F f) {
    barrier_ = std::make_unique<detail::abortable_barrier>(threads_);
    first_error_ = nullptr;
    aborted_ = false;
    std::vector<std::thread> threads;
    threads.reserve(threads_);
    for (std::size_t t = 0; t < threads_; ++t)
      threads.emplace_back([this, t, &f] {
        if (threads_ == workers_)
          run_worker(f, t, nullptr);
        else
          run_pool_thread(f, t);
      });
    for (auto& t : threads) t.join();
    replica_.reset();
    if (first_error_) std::rethrow_exception(first_error_);
  }

 private:
  friend class cluster_comm;

  /// Worker r's f(comm); its error (the first of the run) aborts the cluster.
  template <class F>
  void run_worker(F& f, std::size_t r, detail::fiber_group* group) {
    cluster_comm comm(*this, r, group);
    try {
      f(comm);
    } catch (const detail::cluster_aborted&) {
      // another worker failed first; its exception is the one reported
    } catch (...) {
      abort(std::current_exception());
    }
  }

  void abort(std::exception_ptr error) {
    {
      std::lock_guard lock(error_mutex_);
      if (!first_error_) first_error_ = std::move(error);
    }
    aborted_ = true;
    barrier_->abort();
  }

  /// OS thread t of a worker pool: its workers as fibers, resumed in rank order until all
  /// have finished (each runs to its next barrier, where it hands the thread on).
  template <class F>
  void run_pool_thread(F& f, std::size_t t) {
#if FDA_HAS_FIBERS
    const auto [first, last] = share_of(workers_, threads_, t);
    detail::fiber_group group{.size = last - first};
    std::vector<std::unique_ptr<detail::fiber>> fibers;
    try {
      for (std::size_t r = first; r < last; ++r)
        fibers.push_back(std::make_unique<detail::fiber>([this, &f, r, &group] { run_worker(f, r, &group); },
                                                         stack_bytes_));
    } catch (...) {  // (a stack that cannot be mapped: nothing has started on this thread)
      abort(std::current_exception());
      return;
    }
    for (std::size_t unfinished = fibers.size(); unfinished > 0;) {
      unfinished = 0;
      std::size_t done = 0;
      for (auto& fb : fibers) {
        if (!fb->finished()) fb->resume();
        fb->finished() ? ++done : ++unfinished;
      }
      if (unfinished > 0 && done > 0 && group.waiting + done == group.size && !aborted_)
        abort(std::make_exception_ptr(invalid_argument(
            "fda::local_cluster: a worker returned while others of its thread wait at a barrier: every worker "
            "must call the same collectives")));
    }
#else
    (void)f, (void)t;
#endif
  }

  /// What a rank publishes for a collective.
  struct slot {
    double* values = nullptr;
    std::size_t count = 0;
    const void* view = nullptr;  // a param_view<const T>
    double weight = 0.0;
    bool finite = true;
    double spread = 0.0;
    std::string* bytes = nullptr;
  };

  std::size_t workers_;
  std::size_t threads_;
  std::size_t stack_bytes_;
  std::atomic<bool> aborted_ = false;
  std::unique_ptr<detail::abortable_barrier> barrier_;
  std::vector<slot> slots_;
  std::vector<double> reduced_;
  std::vector<double> coeff_;  // average(): the workers' coefficients, weight_r / Σ weights
  double weight_total_ = 0.0;
  std::size_t contributors_ = 0;
  average_stats stats_{};
  bool root_said_ = false;
  const std::vector<std::string>* scattered_ = nullptr;  // root_says' answer: written by rank 0 between two barriers
  std::mutex error_mutex_;
  std::exception_ptr first_error_;
  std::shared_ptr<void> replica_;  // the run's shared state (cluster_comm::replica)
};

inline std::size_t cluster_comm::size() const noexcept { return cluster_->workers_; }

inline void cluster_comm::barrier() {
  if (!group_) return cluster_->barrier_->arrive_and_wait();
#if FDA_HAS_FIBERS
  // A pool: the workers of this thread first (each hands the thread to the next), then the
  // last of them for all with the other threads.
  auto& g = *group_;
  if (cluster_->aborted_) throw detail::cluster_aborted{};
  const std::size_t generation = g.generation;
  if (++g.waiting < g.size) {
    do {
      detail::fiber::current()->suspend();
      if (cluster_->aborted_) throw detail::cluster_aborted{};
    } while (g.generation == generation);
    return;
  }
  g.waiting = 0;
  cluster_->barrier_->arrive_and_wait();
  ++g.generation;
#endif
}

template <class F>
bool cluster_comm::root_says(F&& f) {
  serial([&] { cluster_->root_said_ = f(); });
  return cluster_->root_said_;  // read before the next barrier: rank 0 cannot write it again yet
}

template <class S, class... Args>
S& cluster_comm::replica(const Args&... args) {
  serial([&] { cluster_->replica_ = std::make_shared<S>(args...); });
  return *static_cast<S*>(cluster_->replica_.get());
}

inline std::vector<std::string> cluster_comm::gather_bytes(std::string mine) {
  auto& c = *cluster_;
  c.slots_[rank_].bytes = &mine;
  std::vector<std::string> all;
  serial([&] {
    for (auto& s : c.slots_) all.push_back(std::move(*s.bytes));
  });
  return all;
}

inline std::string cluster_comm::scatter_bytes(const std::vector<std::string>& all) {
  auto& c = *cluster_;
  if (rank_ == 0) {
    if (all.size() != c.workers_)
      detail::fail("fda::local_cluster::scatter_bytes: ", all.size(), " strings for ", c.workers_, " workers");
    c.scattered_ = &all;
  }
  barrier();
  std::string mine = (*c.scattered_)[rank_];
  barrier();  // rank 0's `all` must outlive every copy
  return mine;
}

inline void cluster_comm::broadcast_bytes(std::string& s) {
  auto& c = *cluster_;
  if (rank_ == 0) c.slots_[0].bytes = &s;
  barrier();
  if (rank_ != 0) s = *c.slots_[0].bytes;
  barrier();
}

inline void cluster_comm::all_reduce_sum(std::span<double> values) {
  auto& c = *cluster_;
  const std::size_t k = c.workers_;
  if (k == 1) return;
  c.slots_[rank_].values = values.data();
  c.slots_[rank_].count = values.size();
  serial([&] {  // the barrier before it publishes every slot
    for (std::size_t r = 0; r < k; ++r)
      if (c.slots_[r].count != values.size())
        detail::fail("fda::local_cluster::all_reduce_sum: worker ", r, " passed ", c.slots_[r].count,
                     " values but worker 0 passed ", values.size());
    c.reduced_.assign(values.size(), 0.0);
  });
  const auto [begin, end] = detail::share_of(values.size(), k, rank_);
  for (std::size_t i = begin; i < end; ++i) {
    double s = 0.0;
    for (std::size_t r = 0; r < k; ++r) s += c.slots_[r].values[i];
    c.reduced_[i] = s;
  }
  barrier();
  std::copy(c.reduced_.begin(), c.reduced_.end(), values.begin());
}

inline void cluster_comm::publish_for_average(const void* view, std::size_t mine, std::size_t out, double weight) {
  auto& c = *cluster_;
  if (mine != out)
    detail::fail("fda::local_cluster::average: worker ", rank_, " has ", mine, " parameters but the average has ", out);
  if (!(weight >= 0.0 && std::isfinite(weight)))
    detail::fail("fda::local_cluster::average: worker ", rank_, " has weight ", weight,
                 ": it must be finite and >= 0");
  c.slots_[rank_].view = view;
  c.slots_[rank_].weight = weight;
  serial([&] {
    std::vector<double> weights(c.workers_);
    for (std::size_t r = 0; r < c.workers_; ++r) weights[r] = c.slots_[r].weight;
    c.weight_total_ = std::accumulate(weights.begin(), weights.end(), 0.0);
    c.contributors_ = detail::count_contributors(weights);
    c.coeff_ = detail::averaging_coefficients(weights);
  });
  if (!(c.weight_total_ > 0.0)) detail::fail("fda::local_cluster::average: the workers' weights sum to 0");
}

inline average_stats cluster_comm::combine_average_stats() {
  auto& c = *cluster_;
  serial([&] {
    c.stats_ = average_stats{true, 0.0, c.contributors_};
    for (std::size_t r = 0; r < c.workers_; ++r) {
      c.stats_.finite = c.stats_.finite && c.slots_[r].finite;
      c.stats_.spread += c.slots_[r].spread;
    }
  });
  return c.stats_;  // (rewritten only after the next collective's first barrier)
}

template <class T, class U>
average_stats cluster_comm::average(const param_view<const T>& mine, double weight, std::span<U> out,
                                    combine_rule rule) {
  auto& c = *cluster_;
  publish_for_average(&mine, mine.size(), out.size(), weight);
  // Each rank averages one share of the elements, reading the others' parameters in place.
  const auto [begin, end] = detail::share_of(out.size(), c.workers_, rank_);
  detail::share_averager share(c.coeff_.data(), c.coeff_.size(), rule);
  share.add(begin, end, out, [&](std::size_t r, std::size_t lo, std::size_t n, auto&& f) {
    detail::for_each_run(*static_cast<const param_view<const T>*>(c.slots_[r].view), lo, n, f);
  });
  c.slots_[rank_].finite = share.finite();
  c.slots_[rank_].spread = share.spread();
  return combine_average_stats();
}

template <class T, class U, class Space>
  requires(!std::is_same_v<Space, host_space>)
average_stats cluster_comm::average(const param_view<const T, Space>& mine, double weight,
                                    const param_view<U, Space>& out, combine_rule rule) {
  auto& c = *cluster_;
  const std::size_t k = c.workers_;
  if (!rule.is_mean())
    detail::fail("fda::local_cluster::average: robust aggregation (coordinate_median, trimmed_mean) needs host "
                 "parameters; with device parameters use fda::mean or fda::weighted_mean (docs/gpu.md)");
  publish_for_average(&mine, mine.size(), out.size(), weight);
  const std::vector<double>& coeff = c.coeff_;
  if (rank_ == 0) {  // the others wait at the barrier below
    auto sum_into = [&](const auto& acc) {  // acc ← Σ_r coeff_r · w_r, in rank order
      fill(acc, 0.0);
      for (std::size_t r = 0; r < k; ++r)
        if (coeff[r] != 0.0)  // a worker left out (weight 0) may hold anything, even NaN
          axpy(coeff[r], *static_cast<const param_view<const T, Space>*>(c.slots_[r].view), acc);
    };
    if constexpr (std::is_same_v<U, double>) {
      sum_into(out);
    } else {  // sums in double, rounded once, as on the host
      typename space_traits<Space>::template vector<double> acc(out.size());
      sum_into(fda::view(acc));
      copy(fda::view(acc), out);
    }
    c.slots_[0].finite = all_finite(out);
  }
  barrier();
  c.slots_[rank_].spread = coeff[rank_] != 0.0 ? sq_distance(mine, out) : 0.0;
  if (rank_ != 0) c.slots_[rank_].finite = true;  // (rank 0's says for the whole average)
  return combine_average_stats();
}

}  // namespace fda
