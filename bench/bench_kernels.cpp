// SPDX-License-Identifier: Apache-2.0
/// What monitoring costs: the per-step kernels of FDA against memory baselines that read
/// the same bytes, in one process, so that their ratios survive a noisy machine.
///
/// Every benchmark is registered as "<kernel>/d:<d>" and reports the bytes of the input
/// arrays it must read (SetBytesProcessed), elements (SetItemsProcessed) and per-element
/// counters. After the run, main prints the table
///     kernel, d, threads, ns/elem, GB/s, baseline, ratio = t(baseline) / t(kernel)
/// (ratio = GB/s of the kernel / GB/s of a plain read of the same arrays), then the
/// targets of bench/README.md. d runs over 1e3 .. 1e7; FDA_BENCH_HUGE=1 adds 1e8
/// (about 10 GB of memory).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <fda/benchmark.hpp>
#include <fda/fda.hpp>

namespace {

// ---------------------------------------------------------------------------------------
// Data: deterministic arrays, cached per (d, key), so that the many calls Google Benchmark
// makes of each function do not rebuild 40 MB arrays, tables or monitors every time.

/// Uniform in offset ± scale: never denormal, never NaN.
std::vector<float> make_array(std::size_t d, std::uint64_t seed, float scale, float offset = 0) {
  std::vector<float> a(d);
  std::uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (auto& x : a) {
    const double u = double(fda::detail::splitmix64(s) >> 11) * 0x1p-53;  // [0, 1)
    x = offset + scale * float(2 * u - 1);
  }
  return a;
}

class cache {
 public:
  /// The object stored under (d, key), made once by make() (which returns a shared_ptr<T>
  /// and must not call get: the lock is held). Moving to or from d >= 1e8 frees everything
  /// first, so that the huge runs fit.
  template <class T, class Make>
  T& get(std::size_t d, const std::string& key, Make make) {
    std::lock_guard lock(mu_);
    if (d != last_d_ && (d >= huge_d || last_d_ >= huge_d)) items_.clear();
    last_d_ = d;
    auto& p = items_[{d, key}];
    if (!p) p = make();
    return *static_cast<T*>(p.get());
  }

  static constexpr std::size_t huge_d = 100'000'000;

 private:
  std::mutex mu_;
  std::size_t last_d_ = 0;
  std::map<std::pair<std::size_t, std::string>, std::shared_ptr<void>> items_;
};

cache data;

using floats = std::vector<float>;

/// Array `key` of length d; each benchmark thread gets its own (each worker has its model).
floats& array(benchmark::State& st, std::size_t d, const std::string& key, std::uint64_t seed,
              float scale, float offset = 0) {
  const auto t = std::uint64_t(st.thread_index());
  return data.get<floats>(d, key + "#" + std::to_string(t), [&] {
    return std::make_shared<floats>(make_array(d, seed + 1000 * t, scale, offset));
  });
}

/// One worker's arrays: w0 (the round's start), w = w0 + a drift of 1e-2, and xi.
struct model {
  floats& w0;
  floats& w;
  floats& xi;
};

model model_of(benchmark::State& st, std::size_t d) {
  floats& w0 = array(st, d, "w0", 1, 1.0f);
  floats& w = data.get<floats>(d, "w#" + std::to_string(st.thread_index()), [&] {
    auto w = std::make_shared<floats>(make_array(d, 2 + 1000 * std::uint64_t(st.thread_index()), 1e-2f));
    for (std::size_t i = 0; i < d; ++i) (*w)[i] += w0[i];
    return w;
  });
  floats& xi = array(st, d, "xi", 3, float(1 / std::sqrt(double(d))));
  return {w0, w, xi};
}

constexpr std::size_t sk_depth = 5, sk_width = 250;
constexpr std::uint64_t sk_seed = 42;

// ---------------------------------------------------------------------------------------
// Memory baselines.

/// Sum of N arrays in 8 vectors of 4 floats: fda::plain_read (<fda/benchmark.hpp>) at the
/// project's flags (SSE2), the baseline every figure of bench/README.md was measured with.
using fda::plain_read;

/// The scatter-add of a depth × width sketch with the hashing taken away: the cells of
/// 4096 indices (row r · 2 · width + cell, the library's own), computed once (40 KB, in
/// L1/L2) and reused for every block; u = w - w0 in double and ||u||² as the sketch kernel
/// forms them; the rows of one element are updated together (they never collide); the
/// positive and negative halves of each row folded at the end, as the library does. What
/// any scatter-add sketch of this shape costs at least: the floor under sketch_fda's local
/// state.
struct scatter_floor {
  static constexpr std::size_t period = 4096;
  std::vector<std::uint16_t> cell;  // [j * depth + r] = r * 2 * width + cell

  explicit scatter_floor(const fda::detail::sketch_hashes& h) : cell(period * h.depth) {
    for (std::size_t r = 0; r < h.depth; ++r)
      for (std::size_t j = 0; j < period; ++j)
        cell[j * h.depth + r] = std::uint16_t(r * 2 * h.width + fda::detail::sketch_hashes::cell_of(h.row_value(r, j), 2 * h.width));
  }

  double run(const float* w, const float* w0, std::size_t d, double* cells, double* counters) const {
    double sq[4] = {};
    for (std::size_t g = 0; g < d; g += period) {
      const std::size_t m = std::min(period, d - g);
      for (std::size_t j = 0; j < m; ++j) {
        const double u = double(w[g + j]) - double(w0[g + j]);
        sq[j % 4] += u * u;
        for (std::size_t r = 0; r < sk_depth; ++r) cells[cell[j * sk_depth + r]] += u;
      }
    }
    for (std::size_t r = 0; r < sk_depth; ++r)
      for (std::size_t j = 0; j < sk_width; ++j)
        counters[r * sk_width + j] += cells[2 * r * sk_width + j] - cells[2 * r * sk_width + sk_width + j];
    return (sq[0] + sq[1]) + (sq[2] + sq[3]);
  }
};

// ---------------------------------------------------------------------------------------
// The previous sketch kernel (replaced by tabulation hashing, docs/core.md), kept to measure
// the change in the same run: row r hashes index i with a cubic over GF(2^61 - 1), walked
// by finite differences (three modular additions per element and row, rows one after
// another); sign from bit 0, bucket from the high 32 bits, the sign applied by an xor of
// the double's sign bit. Same chunking and blocked ||u||² as the library.

namespace cubic {

constexpr std::uint64_t p61 = (std::uint64_t{1} << 61) - 1;
constexpr std::uint64_t add_mod(std::uint64_t a, std::uint64_t b) { const std::uint64_t s = a + b; return s >= p61 ? s - p61 : s; }
constexpr std::uint64_t sub_mod(std::uint64_t a, std::uint64_t b) { return a >= b ? a - b : a + p61 - b; }
constexpr std::uint64_t mul_mod(std::uint64_t a, std::uint64_t b) {
  __extension__ using u128 = unsigned __int128;
  const u128 prod = u128(a) * b;
  const std::uint64_t f = std::uint64_t(prod & p61) + std::uint64_t(prod >> 61);
  return f >= p61 ? f - p61 : f;
}

struct hash {
  std::array<std::uint64_t, 4> a{};  // a[k] multiplies x^k
  std::uint64_t operator()(std::uint64_t x) const {
    x %= p61;
    return add_mod(mul_mod(add_mod(mul_mod(add_mod(mul_mod(a[3], x), a[2]), x), a[1]), x), a[0]);
  }
};

struct walk {
  std::uint64_t value, d1, d2, d3;
  walk(const hash& h, std::uint64_t x) {
    const std::uint64_t e0 = h(x), e1 = h(x + 1), e2 = h(x + 2), e3 = h(x + 3);
    value = e0;
    d1 = sub_mod(e1, e0);
    d2 = sub_mod(add_mod(e2, e0), add_mod(e1, e1));
    d3 = sub_mod(add_mod(e3, mul_mod(3, e1)), add_mod(mul_mod(3, e2), e0));
  }
  void next() { value = add_mod(value, d1); d1 = add_mod(d1, d2); d2 = add_mod(d2, d3); }
};

struct hashes {
  std::size_t depth, width;
  std::vector<hash> rows;
  hashes(std::size_t depth_, std::size_t width_, std::uint64_t seed) : depth(depth_), width(width_) {
    for (std::size_t r = 0; r < depth; ++r)
      for (auto& c : rows.emplace_back().a) {
        do c = fda::detail::splitmix64(seed) >> 3;
        while (c >= p61);
      }
  }
};

/// counters += sk(a - b); returns ||a - b||².
template <class A, class B>
double accumulate(const hashes& h, double* counters, const A& a, const B& b) {
  constexpr std::size_t chunk = 512;
  const std::size_t n = a.size();
  const auto width = std::uint32_t(h.width);
  fda::detail::blocked_sum<1> sq;
  auto square = [](auto& acc, std::size_t l, double x) { acc[0][l] += x * x; };
  double values[chunk];
  fda::detail::for_each_piece(
      [&](std::size_t g, std::size_t len, const float* pa, const float* pb) {
        for (std::size_t off = 0; off < len; off += chunk) {
          const std::size_t m = std::min(chunk, len - off);
          for (std::size_t j = 0; j < m; ++j) values[j] = double(pa[off + j]) - double(pb[off + j]);
          sq.add_piece(g + off, m, square, static_cast<const double*>(values));
          for (std::size_t r = 0; r < h.depth; ++r) {
            double* row = counters + r * width;
            walk wk(h.rows[r], g + off);
            for (std::size_t j = 0; j < m; ++j, wk.next())
              row[std::uint32_t(((wk.value >> 29) * width) >> 32)] +=
                  std::bit_cast<double>(std::bit_cast<std::uint64_t>(values[j]) ^ ((wk.value & 1) << 63));
          }
        }
        sq.end_piece(g + len, n);
      },
      a, b);
  return sq.total[0];
}

}  // namespace cubic

// ---------------------------------------------------------------------------------------
// The reference approach of the paper's PyTorch code: precomputed depth × d tables of
// bucket indices (int32) and signs (float), the drift u = w - w0 materialised as a float
// temporary, then one scatter-add (index_add_) per row. Written plainly, and kinder to
// the reference than the original: int32 instead of int64 indices, and no d × depth
// temporary of signed values. The tables hold the library's own hashes, so both compute
// the same sketch up to rounding (checked before timing).

struct reference_sketch {
  std::size_t depth, width, d;
  std::vector<std::int32_t> index;  // [r * d + i]
  std::vector<float> sign;          // [r * d + i], ±1
  mutable std::vector<float> drift;

  reference_sketch(const fda::detail::sketch_hashes& h, std::size_t d_)
      : depth(h.depth), width(h.width), d(d_), index(depth * d), sign(depth * d), drift(d) {
    for (std::size_t r = 0; r < depth; ++r)
      for (std::size_t i = 0; i < d; ++i) {
        const auto c = std::size_t(fda::detail::sketch_hashes::cell_of(h.row_value(r, i), 2 * width));
        index[r * d + i] = std::int32_t(c < width ? c : c - width);
        sign[r * d + i] = c < width ? 1.0f : -1.0f;
      }
  }

  /// counters += sk(v).
  void add(const float* v, double* counters) const {
    for (std::size_t r = 0; r < depth; ++r) {
      const std::int32_t* idx = &index[r * d];
      const float* sgn = &sign[r * d];
      double* row = counters + r * width;
      for (std::size_t i = 0; i < d; ++i) row[idx[i]] += double(sgn[i]) * double(v[i]);
    }
  }

  /// counters += sk(w - w0); returns ||w - w0||² (fused into the drift pass).
  double local_state(const float* w, const float* w0, double* counters) const {
    double sq = 0;
    for (std::size_t i = 0; i < d; ++i) {
      drift[i] = w[i] - w0[i];
      sq += double(drift[i]) * double(drift[i]);
    }
    add(drift.data(), counters);
    return sq;
  }
};

// ---------------------------------------------------------------------------------------
// Kernels as "makers": maker(state, d) does the setup (cached) and returns a callable that
// performs one call. The plain benchmarks loop over it; the paired ones alternate two.

template <std::size_t N>
auto make_read(benchmark::State& st, std::size_t d) {
  const model mo = model_of(st, d);
  const std::array<const float*, 3> all{mo.w.data(), mo.w0.data(), mo.xi.data()};
  std::array<const float*, N> a;
  std::copy_n(all.begin(), N, a.begin());
  return [a, d] { benchmark::DoNotOptimize(plain_read<N>(a, d)); };
}

/// STREAM triad a = b + s·c.
auto make_triad(benchmark::State& st, std::size_t d) {
  float* out = array(st, d, "triad_a", 7, 1.0f).data();
  const model mo = model_of(st, d);
  return [out, b = mo.w0.data(), c = mo.xi.data(), d] {
    for (std::size_t i = 0; i < d; ++i) out[i] = b[i] + 0.5f * c[i];
    benchmark::ClobberMemory();
  };
}

/// The memory traffic of a server update: read x, avg, m, v; write x, m, v.
auto make_read_4_write_3(benchmark::State& st, std::size_t d) {
  float* x = array(st, d, "adam_x", 11, 1.0f).data();
  float* m = array(st, d, "adam_m", 12, 1e-2f).data();
  float* v = array(st, d, "adam_v", 13, 1e-4f, 2e-4f).data();
  const float* avg = array(st, d, "adam_avg", 14, 1.0f).data();
  return [=] {
    for (std::size_t i = 0; i < d; ++i) {
      const float a = avg[i];
      x[i] = 0.5f * x[i] + a;  // bounded, so x, m, v stay normal floats
      m[i] = 0.5f * m[i] + a;
      v[i] = 0.5f * v[i] + a;
    }
    benchmark::ClobberMemory();
  };
}

auto make_scatter_floor(benchmark::State& st, std::size_t d) {
  const auto& f = data.get<scatter_floor>(d, "scatter_floor", [] {
    return std::make_shared<scatter_floor>(fda::detail::sketch_hashes("bench", sk_depth, sk_width, sk_seed));
  });
  const model mo = model_of(st, d);
  return [&f, w = mo.w.data(), w0 = mo.w0.data(), d, cells = std::vector<double>(2 * sk_depth * sk_width),
          counters = std::vector<double>(sk_depth * sk_width)]() mutable {
    std::fill(cells.begin(), cells.end(), 0.0);
    std::fill(counters.begin(), counters.end(), 0.0);
    benchmark::DoNotOptimize(f.run(w, w0, d, cells.data(), counters.data()));
    benchmark::DoNotOptimize(counters.data());
  };
}

/// The sketch's hashing alone: phase 1 of the kernel (the cells of every row of every index,
/// 128 indices at a time, vectorised) at the widest ISA, with no values and no scatter.
/// x86 only (the portable path hashes as it scatters).
auto make_sketch_hash(benchmark::State&, std::size_t d) {
  const auto& h = data.get<fda::detail::sketch_hashes>(d, "hash_only", [] {
    return std::make_shared<fda::detail::sketch_hashes>("bench", sk_depth, sk_width, sk_seed);
  });
  return [&h, d, cells = std::vector<std::uint32_t>(h.tab.words() * 2 * fda::detail::sketch_chunk)]() mutable {
    const auto tables = h.tab.covering(d);
    fda::detail::with_isa([&](auto isa) {
#if defined(FDA_DETAIL_X86_DISPATCH)
      if constexpr (decltype(isa)::value != fda::detail::isa::portable) {
        const auto cpr = std::uint32_t(2 * sk_width);
        for (std::size_t i0 = 0, m = 0; i0 < d; i0 += m) {
          m = std::min({fda::detail::sketch_chunk, d - i0, 4096 - i0 % 4096});
          fda::detail::sketch_cells(isa, *tables, h.tab.words(), i0, m, cells.data(), cpr);
          benchmark::ClobberMemory();
        }
      }
#endif
      return 0;
    });
    benchmark::DoNotOptimize(cells.data());
  };
}

/// maker run with the kernels capped at instruction set `p` (detail/isa.hpp): what a
/// narrower CPU (or the library before run-time dispatch: SSE2) gets, in the same process.
template <class Maker>
auto at_isa(fda::detail::isa p, Maker maker) {
  return [p, maker](benchmark::State& st, std::size_t d) {
    auto call = maker(st, d);
    return [p, call]() mutable {
      fda::detail::isa_ceiling = p;
      call();
      fda::detail::isa_ceiling = fda::detail::isa::avx512;
    };
  };
}

/// The previous kernel (namespace cubic) as sketch_fda's local state called it.
auto make_sketch_cubic(benchmark::State& st, std::size_t d) {
  const auto& h = data.get<cubic::hashes>(d, "cubic", [] { return std::make_shared<cubic::hashes>(sk_depth, sk_width, sk_seed); });
  const model mo = model_of(st, d);
  return [&h, mo, state = std::vector<double>(1 + sk_depth * sk_width)]() mutable {
    std::fill(state.begin(), state.end(), 0.0);
    state[0] = cubic::accumulate(h, state.data() + 1, fda::view(mo.w), fda::view(mo.w0));
    benchmark::DoNotOptimize(state.data());
    benchmark::ClobberMemory();
  };
}

/// One fda kernel of fda/kernels.hpp on the worker's arrays: k(model) is one call.
template <class K>
auto make_kernel(K k) {
  return [k](benchmark::State& st, std::size_t d) {
    const model mo = model_of(st, d);
    return [k, mo] { benchmark::DoNotOptimize(k(mo)); };
  };
}

/// The local state of a policy through its monitor, as the trainer calls it. One monitor
/// serves every in-process worker, so benchmark threads share it (read-only).
template <class Policy>
auto make_local_state(Policy policy, std::string key) {
  return [policy, key](benchmark::State& st, std::size_t d) {
    using monitor_t = typename Policy::template monitor<float>;
    const auto& mon = data.get<monitor_t>(d, key, [&] {
      return std::make_shared<monitor_t>(policy, fda::run_info{.dim = d, .workers = 8});
    });
    const model mo = model_of(st, d);
    return [&mon, mo, state = std::vector<double>(mon.state_size())]() mutable {
      mon.local_state(mo.w, mo.w0, std::span<double>(state));
      benchmark::DoNotOptimize(state.data());
      benchmark::ClobberMemory();
    };
  };
}

auto make_sketch_add(benchmark::State& st, std::size_t d) {
  const model mo = model_of(st, d);
  return [mo, sk = fda::ams_sketch<float>(sk_depth, sk_width, sk_seed)]() mutable {
    sk.add(mo.w);
    benchmark::DoNotOptimize(sk.data().data());
  };
}

auto make_tiled_add(benchmark::State& st, std::size_t d) {
  const model mo = model_of(st, d);
  return [mo, sk = fda::tiled_sketch<float>(sk_depth, sk_width, sk_seed)]() mutable {
    sk.add(mo.w);
    benchmark::DoNotOptimize(sk.data().data());
  };
}

/// The reference sketch for d, built once and checked against fda's sketch.
const reference_sketch& reference_for(benchmark::State& st, std::size_t d) {
  const model mo = model_of(st, d);  // not inside make(): the cache's lock is held there
  return data.get<reference_sketch>(d, "reference", [&] {
    const fda::detail::sketch_hashes h("bench", sk_depth, sk_width, sk_seed);
    auto r = std::make_shared<reference_sketch>(h, d);
    std::vector<double> a(sk_depth * sk_width), b(a.size()), c(a.size()), e(a.size());
    r->add(mo.w.data(), a.data());
    fda::detail::sketch_accumulate(h, b.data(), fda::view(mo.w));
    r->local_state(mo.w.data(), mo.w0.data(), c.data());
    fda::detail::sketch_accumulate(h, e.data(), fda::view(mo.w), fda::view(mo.w0));
    double scale_b = 0, scale_e = 0;
    for (double x : b) scale_b = std::max(scale_b, std::abs(x));
    for (double x : e) scale_e = std::max(scale_e, std::abs(x));
    for (std::size_t i = 0; i < a.size(); ++i)
      // sk(w): the same terms, summed signed by the reference and as positive minus
      // negative half by fda; sk(w - w0): the reference also rounds u to float, as PyTorch does.
      if (std::abs(a[i] - b[i]) > 1e-9 * scale_b || std::abs(c[i] - e[i]) > 1e-5 * scale_e) {
        std::fprintf(stderr, "bench: the reference sketch differs from fda's at counter %zu\n", i);
        std::abort();
      }
    return r;
  });
}

template <bool Drift>
auto make_reference(benchmark::State& st, std::size_t d) {
  const model mo = model_of(st, d);
  const reference_sketch& ref = reference_for(st, d);
  return [&ref, mo, counters = std::vector<double>(sk_depth * sk_width)]() mutable {
    std::fill(counters.begin(), counters.end(), 0.0);
    if constexpr (Drift)
      benchmark::DoNotOptimize(ref.local_state(mo.w.data(), mo.w0.data(), counters.data()));
    else
      ref.add(mo.w.data(), counters.data());
    benchmark::DoNotOptimize(counters.data());
  };
}

/// One FedAdam server update: reads x, avg, m, v and writes x, m, v.
auto make_fedadam(benchmark::State& st, std::size_t d) {
  using state_t = fda::fedadam::state<float>;
  auto& s = data.get<state_t>(d, "adam_state", [&] { return std::make_shared<state_t>(fda::fedadam{}, d); });
  floats& x = array(st, d, "adam_x", 11, 1.0f);
  const floats& avg = array(st, d, "adam_avg", 14, 1.0f);
  return [&s, &x, &avg] {
    s.apply(x, avg);
    benchmark::ClobberMemory();
  };
}

// ---------------------------------------------------------------------------------------
// Registry: what each benchmark reads, and which baseline it is compared with.

struct meta {
  std::string kernel;
  std::size_t d = 0;
  double read_per_elem = 0;   // bytes of input arrays read per element
  double write_per_elem = 0;  // bytes written per element
  std::string baseline;       // kernel name of the baseline at the same d and thread count
  std::string note{};
  std::size_t order = 0;      // registration order, for the table
};

std::map<std::string, meta> registry;  // by registered name

std::string name_of(const std::string& kernel, std::size_t d) { return kernel + "/d:" + std::to_string(d); }

void set_counters(benchmark::State& st, const meta& m) {
  const auto n = std::int64_t(st.iterations()) * std::int64_t(m.d);
  st.SetItemsProcessed(n);
  st.SetBytesProcessed(std::int64_t(double(n) * m.read_per_elem));
  using C = benchmark::Counter;
  st.counters["d"] = C(double(m.d), C::kAvgThreads);
  st.counters["rd_B_per_elem"] = C(m.read_per_elem, C::kAvgThreads);
  if (m.write_per_elem > 0) st.counters["wr_B_per_elem"] = C(m.write_per_elem, C::kAvgThreads);
}

struct options {
  int threads = 1;
  double write_per_elem = 0;
  std::string note{};
};

/// Registers "<kernel>/d:<d>": a loop over maker(state, d)'s call. threads > 1 runs that
/// many copies at once, each on its own arrays, timed by the wall clock.
template <class Maker>
void add(const std::string& kernel, std::size_t d, double read_per_elem, const std::string& baseline,
         Maker maker, const options& o = {}) {
  const std::string name = name_of(kernel, d);
  if (!registry.count(name)) {
    const std::size_t order = registry.size();
    registry[name] = meta{kernel, d, read_per_elem, o.write_per_elem, baseline, o.note, order};
  }
  const meta m = registry[name];
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [m, maker](benchmark::State& st) {
    auto call = maker(st, m.d);
    for (auto _ : st) call();
    set_counters(st, m);
  });
  if (o.threads > 1) b->Threads(o.threads)->UseRealTime();
}

/// Registers "pair:<a>/<b>/d:<d>": calls of a and b alternate (in batches of >= ~1e5
/// elements, the order swapped every time), so both see the same state of a shared
/// machine; counter "ratio" = median time of a / median time of b.
template <class MakerA, class MakerB>
void add_pair(const std::string& a, const std::string& b, std::size_t d, MakerA make_a, MakerB make_b) {
  const std::string name = "pair:" + a + "/" + b + "/d:" + std::to_string(d);
  benchmark::RegisterBenchmark(name.c_str(), [d, make_a, make_b](benchmark::State& st) {
    auto call_a = make_a(st, d);
    auto call_b = make_b(st, d);
    const std::size_t batch = std::max<std::size_t>(1, 100'000 / d);
    const auto time = [batch](auto& call) {
      const auto t0 = std::chrono::steady_clock::now();
      for (std::size_t k = 0; k < batch; ++k) call();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(batch);
    };
    call_a(), call_b();  // warm caches and lazily built state
    std::vector<double> ta, tb;
    for (auto _ : st) {
      double x, y;
      if (ta.size() % 2 == 0) {
        x = time(call_a);
        y = time(call_b);
      } else {
        y = time(call_b);
        x = time(call_a);
      }
      ta.push_back(x);
      tb.push_back(y);
      st.SetIterationTime((x + y) * double(batch));  // the time spent, so min_time holds
    }
    const auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v.empty() ? 0.0 : v[v.size() / 2];
    };
    st.counters["ratio"] = median(ta) / median(tb);
    st.counters["a_ns_per_elem"] = median(ta) / double(d) * 1e9;
    st.counters["b_ns_per_elem"] = median(tb) / double(d) * 1e9;
  })->UseManualTime();
}

void register_all(std::size_t d, bool threads2) {
  const std::string r1 = "read_1", r2 = "read_2", r3 = "read_3";
  const auto sq_norm = make_kernel([](const model& mo) { return fda::sq_norm(mo.w); });
  const auto dot = make_kernel([](const model& mo) { return fda::dot(mo.w, mo.w0); });
  const auto sq_distance = make_kernel([](const model& mo) { return fda::sq_distance(mo.w, mo.w0); });
  const auto drift = make_kernel([](const model& mo) { return fda::drift(mo.w, mo.w0, mo.xi); });
  const auto naive = make_local_state(fda::naive_fda{.theta = 1.0}, "mon_naive");
  const auto linear = make_local_state(fda::linear_fda{.theta = 1.0}, "mon_linear");
  const auto sketch =
      make_local_state(fda::sketch_fda{.theta = 1.0, .depth = sk_depth, .width = sk_width}, "mon_sketch");
  const auto tiled = make_local_state(
      fda::sketch_fda{.theta = 1.0, .depth = sk_depth, .width = sk_width, .sketch = fda::sketch_kind::tiled},
      "mon_tiled");

  // Memory baselines.
  add(r1, d, 4, "", make_read<1>);
  add(r2, d, 8, "", make_read<2>);
  add(r3, d, 12, "", make_read<3>);
  add("triad", d, 8, "", make_triad, {.write_per_elem = 4});
  add("read_4_write_3", d, 16, "", make_read_4_write_3, {.write_per_elem = 12});
  add("scatter_floor", d, 8, r2, make_scatter_floor, {.note = "5x250 scatter, hashing free"});
  add("sketch_cubic.local_state", d, 8, r2, make_sketch_cubic, {.note = "the previous kernel (cubic hash)"});

  // Kernels of fda/kernels.hpp, and the local states through the monitors (K = 8 is
  // immaterial to their cost).
  add("sq_norm", d, 4, r1, sq_norm);
  add("dot", d, 8, r2, dot);
  add("sq_distance", d, 8, r2, sq_distance);
  add("drift", d, 12, r3, drift);
  add("naive_fda.local_state", d, 8, r2, naive);
  add("linear_fda.local_state", d, 12, r3, linear, {.note = "w, w0 and the monitor's xi"});
  add("sketch_fda.local_state", d, 8, r2, sketch);
  add("sketch_fda.tiled.local_state", d, 8, r2, tiled, {.note = "sketch_kind::tiled"});
  add("sketch_hash", d, 0, "", make_sketch_hash, {.note = "phase 1 alone: cells of 5 rows"});
  // The same two local states with the kernels capped at SSE2 (the library's code path
  // before run-time ISA dispatch, and what a CPU without AVX2 gets).
  const auto linear_sse2 = at_isa(fda::detail::isa::sse2, linear);
  const auto sketch_sse2 = at_isa(fda::detail::isa::sse2, sketch);
  add("linear_fda.local_state.sse2", d, 12, r3, linear_sse2, {.note = "capped at SSE2"});
  add("sketch_fda.local_state.sse2", d, 8, r2, sketch_sse2, {.note = "capped at SSE2"});

  // The AMS sketch on its own, and the reference approach (40 B/elem of tables besides the
  // model arrays).
  add("ams_sketch.add", d, 4, r1, make_sketch_add);
  add("tiled_sketch.add", d, 4, r1, make_tiled_add);
  add("reference_sketch.add", d, 4, r1, make_reference<false>, {.note = "+ 40 B/elem of tables"});
  add("reference_sketch.local_state", d, 8, r2, make_reference<true>,
      {.note = "+ 40 B/elem of tables, 4+20 B/elem of drift"});

  add("fedadam.apply", d, 16, "read_4_write_3", make_fedadam, {.write_per_elem = 12});

  // The ratios of the targets, measured by alternation (see add_pair).
  add_pair(r3, "linear_fda.local_state", d, make_read<3>, linear);
  add_pair("sketch_fda.local_state", "linear_fda.local_state", d, sketch, linear);
  add_pair("tiled_sketch.add", "linear_fda.local_state", d, make_tiled_add, linear);
  add_pair("sketch_fda.tiled.local_state", "linear_fda.local_state", d, tiled, linear);
  add_pair("reference_sketch.local_state", "sketch_fda.local_state", d, make_reference<true>, sketch);
  add_pair("reference_sketch.add", "ams_sketch.add", d, make_reference<false>, make_sketch_add);
  add_pair("sketch_fda.local_state", "scatter_floor", d, sketch, make_scatter_floor);
  add_pair("sketch_cubic.local_state", "sketch_fda.local_state", d, make_sketch_cubic, sketch);
  add_pair("linear_fda.local_state.sse2", "linear_fda.local_state", d, linear_sse2, linear);
  add_pair("sketch_fda.local_state.sse2", "sketch_fda.local_state", d, sketch_sse2, sketch);

  // Two workers at once, each on its own arrays (the kernels are single-threaded; in-process
  // workers use the cores): how much memory bandwidth one core leaves to the other.
  if (threads2) {
    add(r2, d, 8, "", make_read<2>, {.threads = 2});
    add(r3, d, 12, "", make_read<3>, {.threads = 2});
    add("linear_fda.local_state", d, 12, r3, linear, {.threads = 2});
    add("sketch_fda.local_state", d, 8, r2, sketch, {.threads = 2});
  }
}

/// The sketch operations whose cost does not depend on d.
void register_sketch_ops() {
  const std::string shape = std::to_string(sk_depth) + "x" + std::to_string(sk_width);
  const double counters = double(sk_depth * sk_width);
  const auto per_counter = [counters](benchmark::State& st, double read_bytes) {
    st.SetItemsProcessed(std::int64_t(double(st.iterations()) * counters));
    st.SetBytesProcessed(std::int64_t(double(st.iterations()) * read_bytes));
  };
  benchmark::RegisterBenchmark(("ams_sketch.merge/" + shape).c_str(), [=](benchmark::State& st) {
    fda::ams_sketch<float> a(sk_depth, sk_width, sk_seed), b(sk_depth, sk_width, sk_seed);
    const floats w = make_array(10'000, 5, 1.0f);
    a.add(w);
    b.add(w);  // a grows by b every call: harmless to floats over any run length
    for (auto _ : st) {
      a += b;
      benchmark::DoNotOptimize(a.data().data());
      benchmark::ClobberMemory();
    }
    per_counter(st, 2 * counters * sizeof(float));
  });
  benchmark::RegisterBenchmark(("ams_sketch.estimate_sq_norm/" + shape).c_str(), [=](benchmark::State& st) {
    fda::ams_sketch<float> a(sk_depth, sk_width, sk_seed);
    a.add(make_array(10'000, 6, 1.0f));
    for (auto _ : st) benchmark::DoNotOptimize(a.estimate_sq_norm());
    per_counter(st, counters * sizeof(float));
  });
}

// ---------------------------------------------------------------------------------------
// The ratio table, printed after the run from the results the display reporter saw.

struct result_key {
  std::string name;
  int threads;
  auto operator<=>(const result_key&) const = default;
};

const char* isa_name(fda::detail::isa p) {
  using fda::detail::isa;
  return p == isa::avx512 ? "AVX-512" : p == isa::avx2 ? "AVX2" : p == isa::sse2 ? "SSE2" : "portable";
}

std::string fmt(double x, const char* f) {
  char b[32];
  std::snprintf(b, sizeof b, f, x);
  return b;
}

class collecting_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const result_key k{r.run_name.function_name, int(r.threads)};
      if (k.name.rfind("pair:", 0) == 0) {
        const auto it = r.counters.find("ratio");
        if (it == r.counters.end()) continue;
        if (r.run_type == Run::RT_Iteration)
          pair_iterations_[k.name].push_back(it->second.value);
        else if (r.aggregate_name == "median")
          pair_medians_[k.name] = it->second.value;
        continue;
      }
      // Per call: wall clock for the threaded runs, CPU time otherwise (less disturbed by
      // other processes on a shared machine).
      const bool wall = r.run_name.time_type == "real_time";
      const double t = (wall ? r.GetAdjustedRealTime() : r.GetAdjustedCPUTime()) /
                       benchmark::GetTimeUnitMultiplier(r.time_unit);
      if (r.run_type == Run::RT_Iteration)
        iterations_[k].push_back(t);
      else if (r.aggregate_name == "median")
        medians_[k] = t;
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void print_table() const {
    std::vector<std::pair<const meta*, int>> rows;
    for (const auto& [name, m] : registry)
      for (int thr : {1, 2})
        if (double t; seconds({name, thr}, t)) rows.push_back({&m, thr});
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::tuple(a.first->d, a.second, a.first->order) < std::tuple(b.first->d, b.second, b.first->order);
    });
    std::printf("\n%-30s %9s %3s %9s %8s %-15s %6s  %s\n", "kernel", "d", "thr", "ns/elem", "GB/s",
                "baseline", "ratio", "note");
    for (const auto& [m, thr] : rows) {
      double t = 0, tb = 0;
      seconds({name_of(m->kernel, m->d), thr}, t);
      std::string ratio = "-";
      if (!m->baseline.empty() && seconds({name_of(m->baseline, m->d), thr}, tb)) ratio = fmt(tb / t, "%.2f");
      std::printf("%-30s %9zu %3d %9.3f %8.2f %-15s %6s  %s\n", m->kernel.c_str(), m->d, thr,
                  // With threads, Google Benchmark's time per iteration is a call's wall time
                  // over the thread count: ns/elem is per worker's call, GB/s their sum.
                  thr * t / double(m->d) * 1e9, m->read_per_elem * double(m->d) / t * 1e-9,
                  m->baseline.empty() ? "-" : m->baseline.c_str(), ratio.c_str(), m->note.c_str());
    }
    print_targets();
  }

 private:
  /// Seconds per call: the median over repetitions (or the reported median).
  bool seconds(const result_key& k, double& t) const {
    if (auto it = iterations_.find(k); it != iterations_.end()) return t = median(it->second), true;
    if (auto it = medians_.find(k); it != medians_.end()) return t = it->second, true;
    return false;
  }

  /// t(a) / t(b) at d: measured by alternation when the pair ran, else from the two
  /// kernels' own runs.
  double ratio(const std::string& a, const std::string& b, std::size_t d) const {
    const std::string name = "pair:" + a + "/" + b + "/d:" + std::to_string(d);
    if (auto it = pair_iterations_.find(name); it != pair_iterations_.end()) return median(it->second);
    if (auto it = pair_medians_.find(name); it != pair_medians_.end()) return it->second;
    return time_of(a, d) / time_of(b, d);
  }

  static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  }

  double time_of(const std::string& kernel, std::size_t d) const {
    double t = std::nan("");
    seconds({name_of(kernel, d), 1}, t);
    return t;
  }

  /// The targets of bench/README.md (set for d = 1e7), at every d measured.
  void print_targets() const {
    std::set<std::size_t> ds;
    for (const auto& [name, m] : registry)
      if (double t; seconds({name, 1}, t)) ds.insert(m.d);
    const auto d_of = [](const std::string& name) { return std::size_t(std::stoull(name.substr(name.rfind("/d:") + 3))); };
    for (const auto& [name, v] : pair_iterations_) ds.insert(d_of(name));
    for (const auto& [name, v] : pair_medians_) ds.insert(d_of(name));
    std::printf("\n%9s  %-20s %-20s %-20s %-20s %-13s %-13s %-13s %-13s\n", "d", "read_3/linear >=0.8",
                "sketch/linear <=4", "ref/sketch_fda >=5", "ref.add/add >=5", "sketch/floor", "cubic/sketch",
                "linear sse2/", "sketch sse2/");
    // The verdict is that of the figure shown (two decimals); at_most: the bound is an upper one.
    const auto cell = [](double x, double bound, bool at_most = false) {
      if (std::isnan(x)) return std::string("-");
      const double shown = std::round(x * 100) / 100;
      return fmt(x, "%.2f") + ((at_most ? shown <= bound : shown >= bound) ? " met" : " MISSED");
    };
    const std::string lin = "linear_fda.local_state", sk = "sketch_fda.local_state";
    for (std::size_t d : ds) {
      const auto plain = [](double x) { return std::isnan(x) ? std::string("-") : fmt(x, "%.2f"); };
      std::printf("%9zu  %-20s %-20s %-20s %-20s %-13s %-13s %-13s %-13s\n", d,
                  cell(ratio("read_3", lin, d), 0.8).c_str(), cell(ratio(sk, lin, d), 4, true).c_str(),
                  cell(ratio("reference_sketch.local_state", sk, d), 5).c_str(),
                  cell(ratio("reference_sketch.add", "ams_sketch.add", d), 5).c_str(),
                  plain(ratio(sk, "scatter_floor", d)).c_str(), plain(ratio("sketch_cubic.local_state", sk, d)).c_str(),
                  plain(ratio(lin + ".sse2", lin, d)).c_str(), plain(ratio(sk + ".sse2", sk, d)).c_str());
    }
    std::printf("(t(a)/t(b) measured by alternating a and b, median of the pairs; read_3/linear is\n"
                " the GB/s of linear_fda.local_state over that of a plain read of the same 12 B/elem;\n"
                " sse2/: the kernel capped at SSE2 over the widest ISA of this CPU (%s))\n",
                isa_name(fda::detail::cpu_isa()));
  }

  std::map<result_key, std::vector<double>> iterations_;
  std::map<result_key, double> medians_;
  std::map<std::string, std::vector<double>> pair_iterations_;  // ratio counters of pair: runs
  std::map<std::string, double> pair_medians_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  std::vector<std::size_t> sizes{1'000, 10'000, 100'000, 1'000'000, 10'000'000};
  if (const char* huge = std::getenv("FDA_BENCH_HUGE"); huge && std::string(huge) == "1")
    sizes.push_back(cache::huge_d);

  register_sketch_ops();
  for (std::size_t d : sizes) register_all(d, d == 10'000'000);

  collecting_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_table();
  benchmark::Shutdown();
  return 0;
}
