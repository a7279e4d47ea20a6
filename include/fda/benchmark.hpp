// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Microbenchmarks of sync policies for users: what a policy's monitoring costs per check,
/// and what a sync costs, at your d and K on your machine, as ratios to a plain read (or
/// copy) of the same bytes measured in the same process. Opt-in: needs Google Benchmark
/// (Debian: libbenchmark-dev; CMake target fda::benchmark).
///
///   fda::register_policy_benchmark(fda::linear_fda{.theta = 1.0}, {.dim = 1'000'000, .workers = 8});
///   fda::register_policy_benchmark(my_policy{}, {.dim = 61'706, .tensors = 10});
///   fda::register_sync_benchmark(fda::mean{}, {.dim = 1'000'000, .workers = 8});
///   benchmark::Initialize(&argc, argv);
///   benchmark::RunSpecifiedBenchmarks();
///   fda::print_benchmark_results(stdout);  // or read fda::benchmark_results()
///
/// A check ("fda.check/<policy>/...") is what every worker does at each monitored step:
/// the monitor's local_state(w, w0) and decide() on a state of that size, on one thread.
/// Its baseline is a plain read of the arrays the check reads (w, w0, and ξ for LinearFDA;
/// policy_benchmark_options::arrays_read for another count), summed by the fastest loop
/// the compiler makes without fast math, with the widest vectors of the CPU (plain_read_widest). The two are timed alternately, in batches whose
/// order flips each iteration, so both see the same state of a noisy machine; the counter
/// `x_read` = median(check) / median(read): 1 is the memory bound, 3 three times slower.
///
/// A sync ("fda.sync/<aggregator>/...") runs on an fda::local_cluster of K threads what a
/// sync of fda::train does: the K models averaged by the aggregator's combine rule, the
/// aggregator's update of the global model, and every worker taking the new model. Its
/// baseline, alternated with it on the same threads, is every worker copying its model
/// once (K·d elements read and written); an ideal sync moves about twice those bytes.
///
/// Google Benchmark's time column is per iteration, which is one check (or sync) except at
/// small d, where an iteration runs `calls` of them (counter `calls`) so that the clock's
/// cost stays below 1%. The counters ns_per_check / ns_per_param are per call.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

#include "aggregate.hpp"
#include "comm/local_cluster.hpp"
#include "detail/isa.hpp"
#include "detail/splitmix.hpp"
#include "error.hpp"
#include "kernels.hpp"
#include "params.hpp"
#include "policy.hpp"

namespace fda {

/// The parameters a benchmark runs on.
struct benchmark_shape {
  std::size_t dim = 0;      ///< d, parameters per worker
  std::size_t workers = 8;  ///< K: the monitor's run_info, the cost model's bytes, the sync's threads
  std::size_t tensors = 1;  ///< d split into this many tensors of near-equal length (a model's layers)
  std::uint64_t seed = 1;   ///< of the arrays and of the monitor's run_info
};

/// What the protocol does not tell about a policy's check.
struct policy_benchmark_options {
  /// d-length arrays a check reads, for its baseline; 0: fda::check_arrays_read<Policy>.
  std::size_t arrays_read = 0;
  /// Google Benchmark's minimum time per case, in seconds; 0: Google Benchmark's default.
  double min_time = 0;
  /// The benchmark's name in its key (fda.check/LABEL/...); empty: the policy's name. Two
  /// configurations of one policy (e.g. sketch_fda's two sketch kinds) need two labels.
  std::string label{};
};

/// d-length arrays a check of P reads (its memory baseline reads as many): w and w0, plus
/// ξ for LinearFDA. Specialize it for a policy of yours that reads more.
template <class P>
inline constexpr std::size_t check_arrays_read = 2;
/// LinearFDA's check reads w, w0 and ξ.
template <>
inline constexpr std::size_t check_arrays_read<linear_fda> = 3;

/// One benchmark's measurement (the latest run of it), for tables and files.
struct benchmark_row {
  std::string kind;              ///< "check" or "sync"
  std::string name;              ///< the policy's or the aggregator's name
  std::string type;              ///< "float" or "double"
  std::size_t dim = 0;           ///< d
  std::size_t workers = 0;       ///< K
  std::size_t tensors = 1;       ///< tensors of the model
  bool checks = true;            ///< false: the policy never checks (a schedule): nothing to time
  double seconds = std::numeric_limits<double>::quiet_NaN();           ///< median per check (sync)
  double baseline_seconds = std::numeric_limits<double>::quiet_NaN();  ///< median per read (copy)
  double bytes_read = 0;         ///< parameter bytes a check reads (a sync: K · d · sizeof(T))
  double ratio = std::numeric_limits<double>::quiet_NaN();  ///< seconds / baseline_seconds
  std::size_t state_bytes = 0;   ///< one worker's local state in the cost model
  double cost_model_bytes = 0;   ///< per check K · state_bytes; per sync 2 · K · 4 · d
  std::size_t samples = 0;       ///< alternated pairs timed
};

namespace detail {

struct benchmark_registry {
  std::mutex mu;
  std::vector<std::string> order;  // registration order
  std::map<std::string, benchmark_row> rows;
  static benchmark_registry& get() {
    static benchmark_registry r;
    return r;
  }
  /// Registers a benchmark's row; a second one under the same key would share (and
  /// overwrite) the first's row, so it is refused.
  void declare(const std::string& key, benchmark_row row) {
    std::lock_guard lock(mu);
    if (!rows.emplace(key, std::move(row)).second)
      fail("fda::benchmark: a benchmark named '", key, "' is already registered (the same policy or aggregator, ",
           "d, K and type): give a policy's second configuration its own options.label");
    order.push_back(key);
  }
  void record(const std::string& key, const benchmark_row& row) {
    std::lock_guard lock(mu);
    rows[key] = row;
  }
  benchmark_row row_of(const std::string& key) {
    std::lock_guard lock(mu);
    return rows.at(key);
  }
};

inline double median_of(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class T>
constexpr const char* type_name() {
  return std::is_same_v<T, float> ? "float" : "double";
}

inline void validate(const char* where, const benchmark_shape& s) {
  if (s.dim == 0) fail(where, ": shape.dim = 0 is invalid: a model has at least one parameter");
  if (s.workers == 0) fail(where, ": shape.workers = 0 is invalid: a run has at least one worker");
  if (s.tensors == 0 || s.tensors > s.dim)
    fail(where, ": shape.tensors = ", s.tensors, " is invalid: it must be in [1, dim = ", s.dim, "]");
}

/// Refuses a benchmark whose arrays would not fit in this machine's memory, before
/// allocating them (where the operating system says how much there is).
inline void require_memory(const char* where, double bytes) {
#if __has_include(<unistd.h>) && defined(_SC_PHYS_PAGES)
  const double have = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGESIZE));
  if (have > 0 && bytes > 0.9 * have)
    fail(where, ": the arrays would take ", bytes / 1e9, " GB and this machine has ", have / 1e9,
         " GB of memory: use a smaller dim or fewer workers");
#else
  (void)where, (void)bytes;
#endif
}

/// n arrays of the shape's tensors: array a, tensor t holds values offset + scale · U[-1, 1).
template <class T>
struct model_arrays {
  std::vector<std::vector<std::vector<T>>> arrays;  // [array][tensor][element]
  model_arrays(std::size_t n, const benchmark_shape& s) : arrays(n) {
    std::uint64_t state = s.seed * 0x9e3779b97f4a7c15ULL + 7;
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t t = 0; t < s.tensors; ++t) {
        const std::size_t len = s.dim / s.tensors + (t < s.dim % s.tensors ? 1 : 0);
        auto& x = arrays[a].emplace_back(len);
        for (auto& v : x) v = T(0.5 + 0.01 * (double(splitmix64(state) >> 11) * 0x1p-52 - 1));
      }
  }
};

/// Calls per timed batch: at least 2^16 elements, so that reading the clock costs < 1%.
inline std::size_t calls_per_batch(std::size_t elements) {
  return std::max<std::size_t>(1, (std::size_t(1) << 16) / std::max<std::size_t>(1, elements));
}

template <class F>
double time_batch(std::size_t calls, F& f) {
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < calls; ++i) f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(calls);
}

/// Times `work` and `baseline` alternately (the order flips every iteration), reports the
/// work's time to Google Benchmark and returns the medians {work, baseline, pairs}.
template <class Work, class Baseline>
std::tuple<double, double, std::size_t> alternate(benchmark::State& st, std::size_t calls, Work work,
                                                  Baseline baseline) {
  work(), baseline();  // caches warm, lazily built state built
  std::vector<double> tw, tb;
  for (auto _ : st) {
    double x, y;
    if (tw.size() % 2 == 0) {
      x = time_batch(calls, work);
      y = time_batch(calls, baseline);
    } else {
      y = time_batch(calls, baseline);
      x = time_batch(calls, work);
    }
    tw.push_back(x);
    tb.push_back(y);
    st.SetIterationTime(x * double(calls));
  }
  return {median_of(tw), median_of(tb), tw.size()};
}

}  // namespace detail

/// Sums n arrays of length d element by element, in 8 independent vectors of 16 bytes:
/// the fastest plain read of those bytes at the default flags (no fast math, SSE2), which
/// check baselines compare with. (GCC/Clang vector types: left to itself, GCC vectorizes a
/// lane-array version across iterations with shuffles, at a third of the speed.)
/// The median wall time, in seconds, of `runs` calls of f after `warmup` untimed ones: a
/// model's training step, say, to set a check's time against (fda-bench --eigen-model).
template <class F>
double median_seconds(F&& f, std::size_t runs, std::size_t warmup = 3) {
  for (std::size_t i = 0; i < warmup; ++i) f();
  std::vector<double> times;
  for (std::size_t i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return detail::median_of(std::move(times));
}

namespace detail {
/// Bytes bytes of T as a GCC/Clang vector type (the attribute needs a non-dependent size).
template <class T, std::size_t Bytes>
struct simd_vector {
  typedef T type __attribute__((vector_size(Bytes)));
};
}  // namespace detail

/// Sums n arrays of length d element by element, in 8 independent vectors of VectorBytes
/// bytes: a plain read of those bytes as fast as the compiler makes one without fast math.
/// (GCC/Clang vector types: left to itself, GCC vectorizes a lane-array version across
/// iterations with shuffles, at a third of the speed.) VectorBytes 32 and 64 need a
/// function compiled for AVX2 or AVX-512 (plain_read_widest does that).
template <std::size_t N, class T, std::size_t VectorBytes = 16>
T plain_read(const std::array<const T*, N>& a, std::size_t d) {
  using vec = typename detail::simd_vector<T, VectorBytes>::type;
  constexpr std::size_t lanes = VectorBytes / sizeof(T), v = 8;
  vec acc[v] = {};
  std::size_t i = 0;
  for (; i + lanes * v <= d; i += lanes * v)
    for (std::size_t l = 0; l < v; ++l) {
      vec s, x;
      std::memcpy(&s, a[0] + i + lanes * l, sizeof s);  // unaligned load
      for (std::size_t k = 1; k < N; ++k) {
        std::memcpy(&x, a[k] + i + lanes * l, sizeof x);
        s += x;
      }
      acc[l] += s;
    }
  T t = 0;
  for (const vec& x : acc)
    for (std::size_t l = 0; l < lanes; ++l) t += x[l];
  for (; i < d; ++i)
    for (std::size_t k = 0; k < N; ++k) t += a[k][i];
  return t;
}

/// plain_read with the widest vectors this CPU has (16, 32 or 64 bytes: the instruction
/// set fda's own kernels pick at run time), so that a baseline is not slower than the
/// kernels it is compared with merely for using narrower instructions.
template <std::size_t N, class T>
T plain_read_widest(const std::array<const T*, N>& a, std::size_t d) {
  return detail::with_isa([&](auto tag) {
    using detail::isa;
    constexpr std::size_t bytes = tag.value == isa::avx512 ? 64 : tag.value == isa::avx2 ? 32 : 16;
    return plain_read<N, T, bytes>(a, d);
  });
}

namespace detail {

/// plain_read over the first n arrays of m, tensor by tensor (n from 1 to 4; more are read
/// four at a time).
template <class T>
T plain_read_arrays(const model_arrays<T>& m, std::size_t n) {
  T total = 0;
  for (std::size_t t = 0; t < m.arrays[0].size(); ++t)
    for (std::size_t a = 0; a < n; a += 4) {
      const auto at = [&](std::size_t k) { return m.arrays[std::min(a + k, n - 1)][t].data(); };
      const std::size_t len = m.arrays[0][t].size();
      switch (std::min<std::size_t>(4, n - a)) {
        case 1: total += plain_read_widest<1, T>({at(0)}, len); break;
        case 2: total += plain_read_widest<2, T>({at(0), at(1)}, len); break;
        case 3: total += plain_read_widest<3, T>({at(0), at(1), at(2)}, len); break;
        default: total += plain_read_widest<4, T>({at(0), at(1), at(2), at(3)}, len); break;
      }
    }
  return total;
}

template <class T, class Policy>
void run_check_benchmark(benchmark::State& st, const std::string& key, const Policy& policy,
                         const benchmark_shape& shape, std::size_t arrays_read) {
  using monitor_t = typename policy_traits<Policy>::template monitor<T>;
  const monitor_t monitor(policy, run_info{.dim = shape.dim, .workers = shape.workers, .seed = shape.seed});
  const model_arrays<T> m(std::max<std::size_t>(arrays_read, 2), shape);
  const auto w = fda::view(m.arrays[1]), w0 = fda::view(m.arrays[0]);
  std::vector<double> state(monitor.state_size());
  benchmark_row row = benchmark_registry::get().row_of(key);
  if (state.empty()) {  // a schedule: no local state, nothing checked (one iteration)
    for (auto _ : st) st.SetIterationTime(1e-9);
    row.checks = false, row.seconds = 0;
    benchmark_registry::get().record(key, row);
    return;
  }
  const std::size_t calls = calls_per_batch(shape.dim * arrays_read);
  auto check = [&] {
    monitor.local_state(w, w0, std::span<double>(state));
    benchmark::DoNotOptimize(monitor.decide(state, 1));
    benchmark::ClobberMemory();
  };
  auto read = [&] { benchmark::DoNotOptimize(plain_read_arrays(m, arrays_read)); };
  const auto [t_check, t_read, pairs] = alternate(st, calls, check, read);
  row.seconds = t_check, row.baseline_seconds = t_read, row.ratio = t_check / t_read, row.samples = pairs;
  benchmark_registry::get().record(key, row);
  using C = benchmark::Counter;
  st.counters["ns_per_check"] = C(t_check * 1e9);
  st.counters["ns_per_param"] = C(t_check * 1e9 / double(shape.dim));
  st.counters["x_read"] = C(row.ratio);
  st.counters["read_GBps"] = C(row.bytes_read / t_check * 1e-9);
  st.counters["state_bytes"] = C(double(row.state_bytes));
  st.counters["bytes_per_check_K"] = C(row.cost_model_bytes);
  st.counters["calls"] = C(double(calls));
}

}  // namespace detail

/// Registers "fda.check/<policy name>/d:<d>/K:<K>[/tensors:<n>][/double]": a check of
/// `policy` on T parameters of `shape` against a plain read of the same bytes (header
/// comment). Any policy modelling fda::sync_policy<Policy, T>, the library's or yours.
/// Throws fda::invalid_argument for a bad shape, naming the field and the value.
template <class T = float, class Policy>
benchmark::internal::Benchmark* register_policy_benchmark(const Policy& policy, const benchmark_shape& shape,
                                                           const policy_benchmark_options& options = {}) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "T is float or double");
  static_assert(sync_policy<Policy, T>, "fda::register_policy_benchmark: Policy does not model "
                                        "fda::sync_policy<Policy, T> (fda::train names what it lacks)");
  detail::validate("fda::register_policy_benchmark", shape);
  const std::size_t arrays = options.arrays_read ? options.arrays_read : check_arrays_read<Policy>;
  if (arrays > 64) detail::fail("fda::register_policy_benchmark: options.arrays_read = ", arrays, " is invalid: at most 64");
  detail::require_memory("fda::register_policy_benchmark",
                         double(std::max<std::size_t>(arrays, 2)) * double(shape.dim) * double(sizeof(T)));
  const std::string name(policy_traits<Policy>::name);
  const std::string key = detail::concat("fda.check/", options.label.empty() ? name : options.label, "/d:", shape.dim, "/K:", shape.workers,
                                 shape.tensors > 1 ? detail::concat("/tensors:", shape.tensors) : std::string(),
                                 std::is_same_v<T, double> ? "/double" : "");
  bool checks = true;
  {
    const typename policy_traits<Policy>::template monitor<T> probe(
        policy, run_info{.dim = shape.dim, .workers = shape.workers, .seed = shape.seed});
    benchmark_row row{.kind = "check", .name = name, .type = detail::type_name<T>(), .dim = shape.dim,
                      .workers = shape.workers, .tensors = shape.tensors};
    row.bytes_read = double(shape.dim * arrays * sizeof(T));
    row.state_bytes = probe.state_bytes();
    row.cost_model_bytes = double(shape.workers * probe.state_bytes());
    detail::benchmark_registry::get().declare(key, row);
    checks = probe.state_size() > 0;
  }
  auto* b = benchmark::RegisterBenchmark(key.c_str(), [=](benchmark::State& st) {
    detail::run_check_benchmark<T>(st, key, policy, shape, arrays);
  });
  b->UseManualTime();
  if (!checks) b->Iterations(1);  // a schedule: nothing to time
  else if (options.min_time > 0) b->MinTime(options.min_time);
  return b;
}

namespace detail {

template <class T, class Aggregator>
void run_sync_benchmark(benchmark::State& st, const std::string& key, const Aggregator& agg,
                        const benchmark_shape& shape) {
  const std::size_t k = shape.workers;
  const model_arrays<T> m(k, shape);
  std::vector<std::vector<T>> w(k), scratch(k, std::vector<T>(shape.dim));
  for (std::size_t r = 0; r < k; ++r)
    for (const auto& piece : m.arrays[r]) w[r].insert(w[r].end(), piece.begin(), piece.end());
  std::vector<T> w0(w[0]), avg(shape.dim);
  typename Aggregator::template state<T> server(agg, shape.dim);
  const combine_rule rule = combine_rule_of(agg);
  std::vector<double> t_sync, t_copy;
  local_cluster cluster(k);
  cluster.run([&](cluster_comm& comm) {
    const std::size_t r = comm.rank();
    auto timed = [&](std::vector<double>& into, auto&& f) {
      comm.barrier();
      const auto t0 = std::chrono::steady_clock::now();
      f();
      comm.barrier();
      if (r == 0) into.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    };
    auto sync = [&] {
      comm.average(fda::view(std::as_const(w[r])), 1.0, std::span<T>(avg), rule);
      comm.serial([&] {
        if constexpr (replaces_model<Aggregator, T>()) std::swap(w0, avg);
        else server.apply(w0, avg);
      });
      copy(w0, w[r]);
    };
    auto plain_copy = [&] { std::memcpy(scratch[r].data(), w[r].data(), shape.dim * sizeof(T)); };
    sync(), plain_copy();  // warm
    while (comm.root_says([&] { return st.KeepRunning(); })) {
      if (comm.root_says([&] { return t_sync.size() % 2 == 1; })) {  // (t_sync: rank 0's)
        timed(t_copy, plain_copy), timed(t_sync, sync);
      } else {
        timed(t_sync, sync), timed(t_copy, plain_copy);
      }
      if (r == 0) st.SetIterationTime(t_sync.back());
    }
  });
  benchmark_row row = benchmark_registry::get().row_of(key);
  row.seconds = median_of(t_sync), row.baseline_seconds = median_of(t_copy), row.samples = t_sync.size();
  row.ratio = row.seconds / row.baseline_seconds;
  benchmark_registry::get().record(key, row);
  using C = benchmark::Counter;
  st.counters["ns_per_param"] = C(row.seconds * 1e9 / double(shape.dim));
  st.counters["x_copy"] = C(row.ratio);
  st.counters["cost_model_bytes"] = C(row.cost_model_bytes);
}

}  // namespace detail

/// Registers "fda.sync/<aggregator name>/d:<d>/K:<K>[/double]": a sync of K models of
/// shape.dim T parameters through `aggregator` on an fda::local_cluster of K threads,
/// against every worker copying its model (header comment). shape.tensors is not used (the
/// models are one array each). Throws fda::invalid_argument for a bad shape.
template <class T = float, class Aggregator>
benchmark::internal::Benchmark* register_sync_benchmark(const Aggregator& aggregator, const benchmark_shape& shape,
                                                         double min_time = 0) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "T is float or double");
  detail::validate("fda::register_sync_benchmark", shape);
  // The K models, their copy for the baseline, the arrays they are made from, w0 and avg.
  detail::require_memory("fda::register_sync_benchmark",
                         (3.0 * double(shape.workers) + 2.0) * double(shape.dim) * double(sizeof(T)));
  const typename Aggregator::template state<T> probe(aggregator, shape.dim);  // validates the aggregator
  const std::string name(aggregator_traits<Aggregator>::name);
  const std::string key = detail::concat("fda.sync/", name, "/d:", shape.dim, "/K:", shape.workers,
                                 std::is_same_v<T, double> ? "/double" : "");
  benchmark_row row{.kind = "sync", .name = name, .type = detail::type_name<T>(), .dim = shape.dim,
                    .workers = shape.workers};
  row.bytes_read = double(shape.workers * shape.dim * sizeof(T));
  row.cost_model_bytes = 2.0 * double(shape.workers) * 4.0 * double(shape.dim);
  detail::benchmark_registry::get().declare(key, row);
  auto* b = benchmark::RegisterBenchmark(key.c_str(), [=](benchmark::State& st) {
    detail::run_sync_benchmark<T>(st, key, aggregator, shape);
  });
  b->UseManualTime()->Unit(benchmark::kMicrosecond);
  if (min_time > 0) b->MinTime(min_time);
  return b;
}

/// Every registered benchmark's row, in registration order; a benchmark not run (filtered
/// out, or not yet) has NaN times.
inline std::vector<benchmark_row> benchmark_results() {
  auto& reg = detail::benchmark_registry::get();
  std::lock_guard lock(reg.mu);
  std::vector<benchmark_row> out;
  for (const auto& key : reg.order) out.push_back(reg.rows.at(key));
  return out;
}

/// Prints benchmark_results() as a table: one row per check or sync, with its time, ns per
/// parameter, read bandwidth, ratio to the memory baseline, state bytes and cost-model bytes.
inline void print_benchmark_results(std::FILE* out) {
  std::fprintf(out, "%-5s %-18s %-6s %11s %5s %12s %9s %8s %9s %11s %14s\n", "kind", "name", "type", "d", "K",
               "us/call", "ns/param", "GB/s", "x base", "state B", "cost B/call");
  for (const benchmark_row& r : benchmark_results()) {
    if (!r.checks) {
      std::fprintf(out, "%-5s %-18s %-6s %11zu %5zu %12s %9s %8s %9s %11zu %14.0f   (never checks)\n", r.kind.c_str(),
                   r.name.c_str(), r.type.c_str(), r.dim, r.workers, "0", "-", "-", "-", r.state_bytes, 0.0);
      continue;
    }
    std::fprintf(out, "%-5s %-18s %-6s %11zu %5zu %12.3f %9.3f %8.2f %9.2f %11zu %14.0f\n", r.kind.c_str(),
                 r.name.c_str(), r.type.c_str(), r.dim, r.workers, r.seconds * 1e6, r.seconds * 1e9 / double(r.dim),
                 r.bytes_read / r.seconds * 1e-9, r.ratio, r.state_bytes, r.cost_model_bytes);
  }
  std::fprintf(out, "x base: time / time of the memory baseline measured alternately in this process (a check: a\n"
                    "plain read of the bytes it reads; a sync: every worker copying its model once).\n");
}

}  // namespace fda
