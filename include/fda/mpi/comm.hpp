// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The MPI transport (opt-in: needs Boost.MPI and an MPI library; link Boost::mpi).
///
///   boost::mpi::environment env(argc, argv);
///   boost::mpi::communicator world;
///   fda::mpi_comm comm(world);
///   my_worker w(world.rank());                     // one worker per rank
///   auto r = fda::train(comm, w, fda::linear_fda{}, fda::mean{}, {.max_steps = 1000});
///
/// `mpi_comm` models fda::communicator (comm/communicator.hpp), so fda::train runs the same
/// SPMD loop as on the in-process cluster. Each rank keeps its own replica of
/// the run's shared state (global model, policy and aggregator state); callbacks run on
/// rank 0 only and what they decide (stop) is broadcast.
///
/// Two ways to reduce, chosen by mpi_options::reduction:
///   ordered (default)  bit-identical to the in-process cluster with the same K, whatever
///                      MPI's algorithms: a check all-gathers the K local states (a few
///                      doubles, or a sketch) and adds them in rank order; a sync is an
///                      all-to-all of each rank's share of the elements, straight from the
///                      parameter memory, averaged in double in rank order by the share's
///                      owner (the cluster's kernel, detail::share_averager), then an
///                      in-place all-gather of the shares into the average.
///   native             MPI_Allreduce: a check is one in-place all-reduce of the state; a
///                      sync is one all-reduce from the parameter memory into the replica's
///                      average buffer (no staging copy), then one pass that scales it and
///                      measures the spread. Results agree with the cluster to rounding
///                      (1e-6 relative), not bitwise: MPI picks the order of the sum. Used
///                      only when every rank's weight is equal and the parameters are one
///                      contiguous block; otherwise the average is taken the ordered way.
///
/// Failures: an error that a collective reveals (sizes that differ, a NaN in a local state
/// or in the average) is raised on every rank alike, and fda::train throws it everywhere.
/// Any other exception on one rank (a worker's step throwing, a callback failing) would
/// leave the others blocked in a collective, so fda::train hands it to on_local_error, which
/// prints it and calls MPI_Abort,
/// which ends every rank with a non-zero status (mpi_options::abort_on_local_error). A rank
/// that dies ends the job through mpirun. Nothing is recoverable within a run: resume from
/// a checkpoint.
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/datatype.hpp>
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
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
#include "../detail/average_share.hpp"
#include "../comm/communicator.hpp"
#include "../comm/train.hpp"
#include "../detail/traverse.hpp"
#include "../error.hpp"
#include "../params.hpp"

namespace fda {

namespace detail {

/// The MPI datatype of T (float, double, char, ...).
template <class T>
MPI_Datatype mpi_datatype() {
  return boost::mpi::get_mpi_datatype<T>(T{});
}

/// Fails naming `who` and `what` when n elements do not fit MPI's int counts.
inline void mpi_require_int(const char* who, const char* what, std::size_t n) {
  if (n > std::size_t(INT_MAX)) fail(who, what, ": ", n, " elements exceed MPI's int counts (", INT_MAX, ")");
}

/// Calls f(lo, n) over [0, count) in pieces that fit MPI's int counts.
template <class F>
void for_each_int_chunk(std::size_t count, F f) {
  constexpr std::size_t most = std::size_t(1) << 30;
  for (std::size_t lo = 0; lo < count; lo += most) f(lo, int(std::min(most, count - lo)));
}

}  // namespace detail

/// How mpi_comm reduces (see the header comment).
enum class mpi_reduction {
  ordered,  ///< rank-ordered, bit-identical to the in-process cluster (default)
  native,   ///< MPI_Allreduce: fastest, equal to rounding
};

/// Settings of the MPI transport.
struct mpi_options {
  mpi_reduction reduction = mpi_reduction::ordered;  ///< ordered (bitwise as in-process) or native
  /// Elements per rank and per round of the ordered average's all-to-all (bounds its
  /// buffers to 2 · K · chunk elements when the parameters are not one contiguous block).
  /// Rounded up to a multiple of 4096 (the averaging block).
  std::size_t chunk = std::size_t(1) << 18;
  /// On an error raised on one rank only, print it and MPI_Abort (else rethrow: the other
  /// ranks may then wait forever).
  bool abort_on_local_error = true;
};

/// One rank's handle to the collectives of an MPI communicator.
class mpi_comm {
 public:
  /// This rank's handle; every rank of `world` makes one with the same options.
  explicit mpi_comm(const boost::mpi::communicator& world, mpi_options options = {})
      : world_(world), options_(options) {
    options_.chunk = std::max<std::size_t>(1, (options_.chunk + detail::block - 1) / detail::block) * detail::block;
  }

  /// This rank, the worker's index.
  std::size_t rank() const { return std::size_t(world_.rank()); }
  /// K, the number of ranks.
  std::size_t size() const { return std::size_t(world_.size()); }
  /// The communicator this handle uses.
  const boost::mpi::communicator& communicator() const { return world_; }
  /// The settings it was made with.
  const mpi_options& options() const { return options_; }

  /// Bytes this rank has handed to MPI for the other ranks so far: what each collective
  /// must deliver from this rank (all-gather: its part to each other rank; all-to-all: the
  /// slices for the others; broadcast from rank 0: the buffer to each other rank;
  /// all-reduce: 2·(K−1)/K of the buffer, the traffic of a bandwidth-optimal ring). MPI's
  /// algorithms may relay more through intermediate ranks.
  std::uint64_t bytes_sent() const { return bytes_sent_; }

  /// MPI_Barrier.
  void barrier() { MPI_Barrier(world_); }

  /// values ← Σ_k values_k, every rank passing the same length.
  void all_reduce_sum(std::span<double> values) {
    const std::size_t k = size(), n = values.size();
    if (k == 1 || n == 0) return;
    require_int("all_reduce_sum", n * k);
    if (options_.reduction == mpi_reduction::native) {
      MPI_Allreduce(MPI_IN_PLACE, values.data(), int(n), MPI_DOUBLE, MPI_SUM, world_);
      bytes_sent_ += 2 * (k - 1) * n * sizeof(double) / k;
      return;
    }
    gathered_.resize(n * k);
    MPI_Allgather(values.data(), int(n), MPI_DOUBLE, gathered_.data(), int(n), MPI_DOUBLE, world_);
    bytes_sent_ += (k - 1) * n * sizeof(double);
    for (std::size_t i = 0; i < n; ++i) {  // rank order, as the in-process cluster adds
      double s = 0.0;
      for (std::size_t r = 0; r < k; ++r) s += gathered_[r * n + i];
      values[i] = s;
    }
  }

  /// out ← Σ_k weight_k · mine_k / Σ_k weight_k; returns {finite?, Σ_k ||w_k − out||²}.
  /// `out` is this rank's replica of the average (every rank's has the same size).
  /// With an order rule (median, trimmed mean), each element is that order statistic of the
  /// ranks with a non-zero weight; it is always taken the ordered way.
  template <class T, class U>
  average_stats average(const param_view<const T>& mine, double weight, std::span<U> out,
                        combine_rule rule = {}) {
    if (mine.size() != out.size())
      detail::fail("fda::mpi_comm::average: rank ", rank(), " has ", mine.size(),
                   " parameters but the average has ", out.size());
    if (!(weight >= 0.0 && std::isfinite(weight)))
      detail::fail("fda::mpi_comm::average: rank ", rank(), " has weight ", weight,
                   ": it must be finite and >= 0");
    const std::size_t k = size();
    std::vector<double> weights(k);
    MPI_Allgather(&weight, 1, MPI_DOUBLE, weights.data(), 1, MPI_DOUBLE, world_);
    bytes_sent_ += (k - 1) * sizeof(double);
    if (!(std::accumulate(weights.begin(), weights.end(), 0.0) > 0.0))
      throw detail::everywhere<invalid_argument>("fda::mpi_comm::average: the ranks' weights sum to 0");
    const bool equal = std::all_of(weights.begin(), weights.end(), [&](double w) { return w == weights[0]; });
    const bool native = std::is_same_v<T, U> && options_.reduction == mpi_reduction::native && rule.is_mean() &&
                        equal && mine.segments().size() == 1;
    average_stats stats;
    if constexpr (std::is_same_v<T, U>)
      if (native) stats = native_average(mine.segments()[0], out);
    if (!native) stats = ordered_average(mine, detail::averaging_coefficients(weights), out, rule);
    stats.contributors = detail::count_contributors(weights);
    return stats;
  }

  /// out ← rank 0's `mine`.
  template <class T, class U>
  void broadcast(const param_view<const T>& mine, std::span<U> out) {
    if (rank() == 0)
      detail::for_each_element([](auto a, auto& b) { b = U(a); }, mine, fda::view(out));
    for_each_int_chunk(out.size(), [&](std::size_t lo, int n) {
      MPI_Bcast(out.data() + lo, n, datatype<U>(), 0, world_);
    });
    if (rank() == 0) bytes_sent_ += (size() - 1) * out.size() * sizeof(U);
  }

  /// Each rank holds its own replica of the run's shared state: f runs on every rank.
  template <class F>
  void serial(F&& f) {
    f();
  }

  /// Runs f() -> bool on rank 0 only (the callbacks); every rank gets its value.
  template <class F>
  bool root_says(F&& f) {
    int said = 0;
    if (rank() == 0) said = f() ? 1 : 0;
    MPI_Bcast(&said, 1, MPI_INT, 0, world_);
    if (rank() == 0) bytes_sent_ += (size() - 1) * sizeof(int);
    return said != 0;
  }

  /// Rank 0 gets every rank's `mine` in rank order; the others get nothing (checkpoints).
  std::vector<std::string> gather_bytes(std::string mine) {
    const std::size_t k = size();
    const unsigned long long n = mine.size();
    std::vector<unsigned long long> sizes(k);
    MPI_Gather(&n, 1, MPI_UNSIGNED_LONG_LONG, sizes.data(), 1, MPI_UNSIGNED_LONG_LONG, 0, world_);
    std::vector<int> counts(k), displs(k);
    std::size_t total = 0;
    for (std::size_t r = 0; r < k && rank() == 0; ++r) {
      require_int("gather_bytes", total + sizes[r]);
      counts[r] = int(sizes[r]);
      displs[r] = int(total);
      total += sizes[r];
    }
    std::string joined(total, '\0');
    require_int("gather_bytes", mine.size());
    MPI_Gatherv(mine.data(), int(mine.size()), MPI_CHAR, joined.data(), counts.data(), displs.data(), MPI_CHAR, 0, world_);
    if (rank() != 0) bytes_sent_ += mine.size();
    std::vector<std::string> all;
    if (rank() == 0)
      for (std::size_t r = 0; r < k; ++r) all.push_back(joined.substr(std::size_t(displs[r]), sizes[r]));
    return all;
  }

  /// Each rank gets its element of rank 0's `all` (all.size() == size() on rank 0).
  std::string scatter_bytes(const std::vector<std::string>& all) {
    const std::size_t k = size();
    std::vector<unsigned long long> sizes(k);
    std::vector<int> counts(k), displs(k);
    std::string joined;
    if (rank() == 0) {
      if (all.size() != k) detail::fail("fda::mpi_comm::scatter_bytes: ", all.size(), " strings for ", k, " ranks");
      for (std::size_t r = 0; r < k; ++r) {
        require_int("scatter_bytes", joined.size() + all[r].size());
        sizes[r] = all[r].size();
        counts[r] = int(all[r].size());
        displs[r] = int(joined.size());
        joined += all[r];
      }
      bytes_sent_ += joined.size() - all[0].size();
    }
    unsigned long long n = 0;
    MPI_Scatter(sizes.data(), 1, MPI_UNSIGNED_LONG_LONG, &n, 1, MPI_UNSIGNED_LONG_LONG, 0, world_);
    std::string mine(n, '\0');
    MPI_Scatterv(joined.data(), counts.data(), displs.data(), MPI_CHAR, mine.data(), int(n), MPI_CHAR, 0, world_);
    return mine;
  }

  /// s ← rank 0's s.
  void broadcast_bytes(std::string& s) {
    unsigned long long n = s.size();
    MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, world_);
    s.resize(n);
    for_each_int_chunk(n, [&](std::size_t lo, int len) { MPI_Bcast(s.data() + lo, len, MPI_CHAR, 0, world_); });
    if (rank() == 0) bytes_sent_ += (size() - 1) * n;
  }

  /// Every rank's bytes_sent(), in rank order (a collective).
  std::vector<std::uint64_t> bytes_sent_per_rank() {
    std::vector<std::uint64_t> all(size());
    const unsigned long long mine = bytes_sent_;
    MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all.data(), 1, MPI_UNSIGNED_LONG_LONG, world_);
    return all;
  }

  /// fda::train calls this when an error raised on this rank only leaves it: the other ranks
  /// would wait forever in their next collective, so (mpi_options::abort_on_local_error, the
  /// default) it prints the error and ends the job; otherwise it returns and the error propagates.
  void on_local_error(const char* what) {
    if (options_.abort_on_local_error) abort(what);
  }

  /// Prints `what` for this rank and ends every rank of the communicator.
  [[noreturn]] void abort(const char* what) {
    std::fprintf(stderr, "fda: rank %zu of %zu failed, aborting the MPI job: %s\n", rank(), size(), what);
    std::fflush(stderr);
    MPI_Abort(world_, 1);
    std::terminate();  // MPI_Abort does not return
  }

 private:
  template <class T>
  static MPI_Datatype datatype() {
    return detail::mpi_datatype<T>();
  }

  void require_int(const char* what, std::size_t n) const { detail::mpi_require_int("fda::mpi_comm::", what, n); }

  template <class F>
  static void for_each_int_chunk(std::size_t count, F f) {
    detail::for_each_int_chunk(count, f);
  }

  /// The per-rank {finite, spread} combined in rank order, as the cluster combines them.
  average_stats combine(bool finite, double spread) {
    const std::size_t k = size();
    double mine[2] = {finite ? 1.0 : 0.0, spread};
    std::vector<double> all(2 * k);
    MPI_Allgather(mine, 2, MPI_DOUBLE, all.data(), 2, MPI_DOUBLE, world_);
    bytes_sent_ += (k - 1) * 2 * sizeof(double);
    average_stats stats{true, 0.0};
    for (std::size_t r = 0; r < k; ++r) {
      stats.finite = stats.finite && all[2 * r] != 0.0;
      stats.spread += all[2 * r + 1];
    }
    return stats;
  }

  /// Each rank averages its share of the elements: per round, an all-to-all brings every
  /// rank's next slice of that share, read straight from the parameters when they are one
  /// contiguous block (else packed, a chunk at a time).
  template <class T, class U>
  average_stats ordered_average(const param_view<const T>& mine, std::vector<double> coeff,
                                std::span<U> out, combine_rule rule) {
    const std::size_t k = size(), d = out.size(), me = rank(), chunk = options_.chunk;
    std::vector<std::pair<std::size_t, std::size_t>> shares(k);
    std::size_t longest = 0;
    for (std::size_t r = 0; r < k; ++r) {
      shares[r] = detail::share_of(d, k, r);
      longest = std::max(longest, shares[r].second - shares[r].first);
    }
    const bool direct = mine.segments().size() == 1 && d <= std::size_t(INT_MAX);
    const T* base = direct ? mine.segments()[0].data() : nullptr;
    std::vector<T> packed(direct ? 0 : k * chunk), received(k * chunk);
    std::vector<int> send_counts(k), send_displs(k), recv_counts(k), recv_displs(k);
    // The slice of rank r's share that travels in round j.
    auto slice = [&](std::size_t r, std::size_t j) {
      const auto [b, e] = shares[r];
      const std::size_t lo = std::min(e, b + j * chunk);
      return std::pair{lo, std::min(e, lo + chunk)};
    };
    detail::share_averager averager(std::move(coeff), rule);
    for (std::size_t j = 0; j * chunk < longest || j == 0; ++j) {
      for (std::size_t r = 0; r < k; ++r) {
        const auto [lo, hi] = slice(r, j);
        send_counts[r] = r == me ? 0 : int(hi - lo);  // my own slice never leaves
        if (direct) {
          send_displs[r] = int(lo);
        } else {
          send_displs[r] = int(r * chunk);
          if (r != me)
            detail::for_each_run(mine, lo, hi - lo, [&](std::size_t at, const T* p, std::size_t len) {
              std::copy(p, p + len, packed.data() + r * chunk + at);
            });
        }
        bytes_sent_ += std::uint64_t(send_counts[r]) * sizeof(T);
      }
      // (not a structured binding: the lambda below captures mlo, which clang 14 refuses)
      const std::pair<std::size_t, std::size_t> mine_slice = slice(me, j);
      const std::size_t mlo = mine_slice.first, mhi = mine_slice.second;
      for (std::size_t r = 0; r < k; ++r) {
        recv_counts[r] = r == me ? 0 : int(mhi - mlo);
        recv_displs[r] = int(r * chunk);
      }
      MPI_Alltoallv(direct ? base : packed.data(), send_counts.data(), send_displs.data(), datatype<T>(),
                    received.data(), recv_counts.data(), recv_displs.data(), datatype<T>(), world_);
      averager.add(mlo, mhi, out, [&](std::size_t r, std::size_t lo, std::size_t n, auto&& f) {
        if (r == me)
          detail::for_each_run(mine, lo, n, f);
        else
          f(std::size_t(0), static_cast<const T*>(received.data() + r * chunk + (lo - mlo)), n);
      });
    }
    // Every rank's share of the average, into every rank's replica, in place.
    std::vector<int> counts(k), displs(k);
    for (std::size_t r = 0; r < k; ++r) {
      require_int("average", shares[r].second);
      counts[r] = int(shares[r].second - shares[r].first);
      displs[r] = int(shares[r].first);
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, out.data(), counts.data(), displs.data(),
                   datatype<U>(), world_);
    bytes_sent_ += (k - 1) * std::uint64_t(counts[me]) * sizeof(U);
    return combine(averager.finite(), averager.spread());
  }

  /// One MPI_Allreduce from the parameters into `out`, then out /= K with the finiteness
  /// probe and this rank's spread in the same pass.
  template <class T>
  average_stats native_average(std::span<const T> mine, std::span<T> out) {
    const std::size_t k = size(), d = out.size();
    for_each_int_chunk(d, [&](std::size_t lo, int n) {
      MPI_Allreduce(mine.data() + lo, out.data() + lo, n, datatype<T>(), MPI_SUM, world_);
    });
    bytes_sent_ += 2 * (k - 1) * d * sizeof(T) / k;
    const double inv = 1.0 / double(k);
    const auto sums = detail::reduce<2>(
        [inv](auto& a, std::size_t l, auto w, auto& avg) {
          avg = T(double(avg) * inv);
          const double m = double(avg), u = double(w) - m;
          a[0][l] += m * 0.0;
          a[1][l] += u * u;
        },
        param_view<const T>(mine), param_view<T>(out));
    return combine(sums[0] == 0.0, sums[1]);
  }

  boost::mpi::communicator world_;
  mpi_options options_;
  std::vector<double> gathered_;
  std::uint64_t bytes_sent_ = 0;
};

}  // namespace fda
