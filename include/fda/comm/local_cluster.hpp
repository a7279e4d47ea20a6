#pragma once
/// The embedded default transport: K workers as threads of one process.
///
/// `local_cluster::run(f)` starts K threads and calls f(comm) on each, where comm is the
/// thread's handle to the collectives below. The handle offers what fda::train needs and
/// what an MPI communicator offers, so the same SPMD loop runs on both:
///   all_reduce_sum(span<double>)     sum over workers, in place
///   average(mine, weight, out)       out = Σ_k weight_k · w_k / Σ_k weight_k, and
///                                    {finite?, Σ_k ||w_k − out||²}
///   broadcast(mine, out)             out = worker 0's parameters
///   serial(f)                        f runs once per replica of the run's shared state
///   barrier()
/// Reductions add the workers' contributions in rank order 0, 1, ..., K-1 (each element
/// by one thread), so results are bit-identical whatever the thread scheduling. K may
/// exceed the number of cores: threads block, they never spin.
///
/// If a worker throws, the cluster is aborted: every other thread leaves its next (or
/// current) collective with an internal exception, all threads are joined, and run()
/// rethrows the first exception on the caller's thread.
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "../detail/traverse.hpp"
#include "../error.hpp"
#include "../params.hpp"

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

/// [begin, end) of the elements rank r reduces when n elements are split over k ranks.
inline std::pair<std::size_t, std::size_t> share_of(std::size_t n, std::size_t k, std::size_t r) {
  return {n * r / k, n * (r + 1) / k};
}

}  // namespace detail

class local_cluster;

/// What comm.average() reports besides the average itself.
struct average_stats {
  bool finite = true;   ///< every element of the average is finite
  double spread = 0.0;  ///< Σ_k ||w_k − average||² over all workers
};

/// One worker thread's handle to the cluster's collectives.
class cluster_comm {
 public:
  std::size_t rank() const noexcept { return rank_; }
  std::size_t size() const noexcept;
  void barrier();

  /// values ← Σ_k values_k, every rank passing a span of the same length.
  void all_reduce_sum(std::span<double> values);

  /// out ← Σ_k weight_k · mine_k / Σ_k weight_k, per element in double, in rank order.
  /// Every rank of this process passes the same `out` (the replica's buffer).
  /// Returns whether every element of the average is finite, and Σ_k ||w_k − out||²
  /// (the workers' spread about the average, computed while the data is in cache).
  template <class T, class U>
  average_stats average(const param_view<const T>& mine, double weight, std::span<U> out);

  /// out ← rank 0's `mine` (the replica's buffer; every rank passes the same one).
  template <class T, class U>
  void broadcast(const param_view<const T>& mine, std::span<U> out) {
    serial([&] { detail::for_each_element([](auto a, auto& b) { b = U(a); }, mine, fda::view(out)); });
  }

  /// Runs f once for the process's single replica of the shared run state: on rank 0,
  /// the others waiting; barriers on both sides make f's writes visible to all.
  template <class F>
  void serial(F&& f) {
    barrier();
    if (rank_ == 0) f();
    barrier();
  }

 private:
  friend class local_cluster;
  cluster_comm(local_cluster& c, std::size_t rank) : cluster_(&c), rank_(rank) {}
  local_cluster* cluster_;
  std::size_t rank_;
};

class local_cluster {
 public:
  explicit local_cluster(std::size_t workers) : workers_(workers) {
    if (workers == 0) detail::fail("fda::local_cluster: workers = 0 is invalid: it needs at least one");
    slots_.resize(workers);
  }
  local_cluster(const local_cluster&) = delete;
  local_cluster& operator=(const local_cluster&) = delete;

  std::size_t size() const noexcept { return workers_; }

  /// Calls f(cluster_comm&) on K threads; returns when all are done; rethrows the first
  /// exception any of them threw. A cluster runs one job at a time.
  template <class F>
  void run(F f) {
    barrier_ = std::make_unique<detail::abortable_barrier>(workers_);
    first_error_ = nullptr;
    std::vector<std::thread> threads;
    threads.reserve(workers_);
    for (std::size_t r = 0; r < workers_; ++r)
      threads.emplace_back([this, r, &f] {
        cluster_comm comm(*this, r);
        try {
          f(comm);
        } catch (const detail::cluster_aborted&) {
          // another worker failed first; its exception is the one reported
        } catch (...) {
          {
            std::lock_guard lock(error_mutex_);
            if (!first_error_) first_error_ = std::current_exception();
          }
          barrier_->abort();
        }
      });
    for (auto& t : threads) t.join();
    if (first_error_) std::rethrow_exception(first_error_);
  }

 private:
  friend class cluster_comm;

  /// What a rank publishes for a collective.
  struct slot {
    double* values = nullptr;
    std::size_t count = 0;
    const void* view = nullptr;  // a param_view<const T>
    double weight = 0.0;
    bool finite = true;
    double spread = 0.0;
  };

  std::size_t workers_;
  std::unique_ptr<detail::abortable_barrier> barrier_;
  std::vector<slot> slots_;
  std::vector<double> reduced_;
  std::mutex error_mutex_;
  std::exception_ptr first_error_;
};

inline std::size_t cluster_comm::size() const noexcept { return cluster_->workers_; }

inline void cluster_comm::barrier() { cluster_->barrier_->arrive_and_wait(); }

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

template <class T, class U>
average_stats cluster_comm::average(const param_view<const T>& mine, double weight, std::span<U> out) {
  auto& c = *cluster_;
  const std::size_t k = c.workers_;
  if (mine.size() != out.size())
    detail::fail("fda::local_cluster::average: worker ", rank_, " has ", mine.size(),
                 " parameters but the average has ", out.size());
  if (!(weight >= 0.0 && std::isfinite(weight)))
    detail::fail("fda::local_cluster::average: worker ", rank_, " has weight ", weight,
                 ": it must be finite and >= 0");
  c.slots_[rank_].view = &mine;
  c.slots_[rank_].weight = weight;
  barrier();
  double total = 0.0;
  for (std::size_t r = 0; r < k; ++r) total += c.slots_[r].weight;
  if (!(total > 0.0)) detail::fail("fda::local_cluster::average: the workers' weights sum to 0");
  // Each rank averages one share of the elements, a block at a time, in rank order.
  // The finiteness probe (Σ x·0) and the spread use lanes (detail::blocked_sum) so that
  // neither is a serial chain of additions.
  const auto [begin, end] = detail::share_of(out.size(), k, rank_);
  double acc[detail::block];
  detail::blocked_sum<1> probe, spread;
  auto zero_if_finite = [](auto& a, std::size_t l, double x) { a[0][l] += x * 0.0; };
  auto squared_gap = [](auto& a, std::size_t l, auto x, double m) {
    const double u = double(x) - m;
    a[0][l] += u * u;
  };
  for (std::size_t lo = begin; lo < end; lo += detail::block) {
    const std::size_t n = std::min(detail::block, end - lo);
    std::fill(acc, acc + n, 0.0);
    for (std::size_t r = 0; r < k; ++r) {
      const auto& theirs = *static_cast<const param_view<const T>*>(c.slots_[r].view);
      const double coeff = c.slots_[r].weight / total;
      detail::for_each_run(theirs, lo, n, [&](std::size_t j, const T* p, std::size_t len) {
        for (std::size_t i = 0; i < len; ++i) acc[j + i] += coeff * double(p[i]);
      });
    }
    for (std::size_t i = 0; i < n; ++i) {
      out[lo + i] = U(acc[i]);
      acc[i] = double(out[lo + i]);
    }
    probe.add_piece(0, n, zero_if_finite, static_cast<const double*>(acc));
    // The block is still in cache: add every worker's spread about the average.
    for (std::size_t r = 0; r < k; ++r) {
      const auto& theirs = *static_cast<const param_view<const T>*>(c.slots_[r].view);
      detail::for_each_run(theirs, lo, n, [&](std::size_t j, const T* p, std::size_t len) {
        spread.add_piece(j, len, squared_gap, p, static_cast<const double*>(acc + j));
      });
    }
    probe.end_piece(1, 1);
    spread.end_piece(1, 1);
  }
  c.slots_[rank_].finite = probe.total[0] == 0.0;
  c.slots_[rank_].spread = spread.total[0];
  barrier();
  average_stats stats{true, 0.0};
  for (std::size_t r = 0; r < k; ++r) {
    stats.finite = stats.finite && c.slots_[r].finite;
    stats.spread += c.slots_[r].spread;
  }
  return stats;
}

}  // namespace fda
