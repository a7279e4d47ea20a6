// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The device kernels' machinery (<fda/thrust.hpp>): views cut into pieces contiguous in
/// every view, one pass of Thrust threads over fixed chunks, and the fixed-order folds that
/// make every reduction deterministic (see thrust.hpp for the partition).
#include <thrust/copy.h>
#include <thrust/device_ptr.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../params.hpp"
#include "../detail/host_device.hpp"
#include "../detail/terms.hpp"  // mul(): products rounded on their own, as on the host
#include "runtime.hpp"

namespace fda::detail::dev {

inline constexpr std::size_t chunk = 4096;  ///< elements per chunk of a reduction
inline constexpr std::size_t lanes = 32;    ///< partial sums per chunk (index mod 32)
inline constexpr std::size_t fold = 32;     ///< partials added per thread at each level
inline constexpr std::size_t max_views = 3;

FDA_HOST_DEVICE inline std::size_t smaller(std::size_t a, std::size_t b) { return a < b ? a : b; }

/// False for NaN and ±Inf (x - x is NaN for those), without <cmath> in device code.
FDA_HOST_DEVICE inline bool finite(double x) { return x - x == 0.0; }

/// A run of global indices [begin, end) contiguous in every view; ptr[v] is the address
/// of element `begin` in view v.
struct piece {
  std::size_t begin = 0, end = 0;
  std::uintptr_t ptr[max_views] = {};
};

/// The pieces of one or more views, as device code sees them: the first by value (a view
/// of one segment needs no table), all of them in device memory when there are several.
struct piece_list {
  piece first;
  const piece* table = nullptr;
  std::size_t count = 0;

  FDA_HOST_DEVICE piece at(std::size_t k) const { return k == 0 ? first : table[k]; }
  /// The piece holding global index i (i < n).
  FDA_HOST_DEVICE std::size_t find(std::size_t i) const {
    std::size_t lo = 0, hi = count;
    while (hi - lo > 1) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (at(mid).begin <= i) lo = mid; else hi = mid;
    }
    return lo;
  }
};

/// Element i of view V of piece p, typed.
template <std::size_t V, class T>
FDA_HOST_DEVICE T& element(const piece& p, std::size_t i) {
  return reinterpret_cast<T*>(p.ptr[V])[i - p.begin];
}

/// The longest runs contiguous in every view (host code: pointer arithmetic only).
template <class... T, class... S>
std::vector<piece> pieces_of(const param_view<T, S>&... views) {
  static_assert(sizeof...(T) >= 1 && sizeof...(T) <= max_views);
  struct segs {
    std::vector<std::pair<std::uintptr_t, std::size_t>> runs;
    std::size_t elem;
  };
  const segs all[] = {[](const auto& v) {
    segs s{{}, sizeof(typename std::remove_cvref_t<decltype(v)>::value_type)};
    for (auto seg : v.segments()) s.runs.emplace_back(reinterpret_cast<std::uintptr_t>(seg.data()), seg.size());
    return s;
  }(views)...};
  const std::size_t n = std::get<0>(std::tie(views...)).size(), k = sizeof...(T);
  std::vector<piece> out;
  std::size_t seg[max_views] = {}, off[max_views] = {};
  for (std::size_t g = 0; g < n;) {
    std::size_t len = n - g;
    for (std::size_t v = 0; v < k; ++v) len = smaller(len, all[v].runs[seg[v]].second - off[v]);
    piece p;
    p.begin = g;
    p.end = g + len;
    for (std::size_t v = 0; v < k; ++v) {
      p.ptr[v] = all[v].runs[seg[v]].first + off[v] * all[v].elem;
      if ((off[v] += len) == all[v].runs[seg[v]].second) ++seg[v], off[v] = 0;
    }
    out.push_back(p);
    g += len;
  }
  return out;
}

/// Doubles of scratch a piece table of `count` pieces takes (none for one piece).
inline std::size_t table_doubles(std::size_t count) {
  return count > 1 ? (count * sizeof(piece) + sizeof(double) - 1) / sizeof(double) : 0;
}

/// The piece list of the views, its table (if any) queued for copying to `where` in device
/// memory (`pieces` must live until the call's finish()).
inline piece_list upload_pieces(const std::vector<piece>& pieces, double* where) {
  piece_list list;
  list.count = pieces.size();
  if (!pieces.empty()) list.first = pieces[0];
  if (pieces.size() > 1) {
    piece* table = reinterpret_cast<piece*>(where);
    upload(table, pieces.data(), pieces.size());
    list.table = table;
  }
  return list;
}

inline thrust::counting_iterator<std::size_t> index(std::size_t i) { return thrust::counting_iterator<std::size_t>(i); }

/// Thread t = (chunk t / 32, lane t % 32) applies op(acc, element_of_each_view...) to the
/// elements chunk · 4096 + lane + 32 j of its chunk, in index order, and stores its N sums
/// at out[m · threads + t]. N = 0: an element-wise update, nothing stored.
template <std::size_t N, class Op, class... T>
struct lane_pass {
  piece_list pieces;
  std::size_t n = 0;
  double* out = nullptr;
  std::size_t threads = 0;
  Op op;

  FDA_HOST_DEVICE void operator()(std::size_t t) const {
    const std::size_t first = (t / lanes) * chunk + t % lanes;
    const std::size_t end = smaller(n, (t / lanes + 1) * chunk);
    double acc[N + 1] = {};
    if (first < end) {
      std::size_t k = pieces.find(first);
      piece p = pieces.at(k);
      for (std::size_t i = first; i < end; i += lanes) {
        while (i >= p.end) p = pieces.at(++k);
        apply(acc, p, i, std::index_sequence_for<T...>{});
      }
    }
    if constexpr (N > 0)
      for (std::size_t m = 0; m < N; ++m) out[m * threads + t] = acc[m];
  }

  /// The same sums for all 32 lanes of chunk c, reading the chunk in order (for CPU back
  /// ends; each lane still adds its elements in index order, so the sums are identical).
  void whole_chunk(std::size_t c) const {
    const std::size_t first = c * chunk, end = smaller(n, first + chunk);
    double acc[lanes][N + 1] = {};
    for (std::size_t i = first, k = pieces.find(first); i < end; ++k) {
      const piece p = pieces.at(k);
      for (const std::size_t stop = smaller(end, p.end); i < stop; ++i)
        apply(acc[i % lanes], p, i, std::index_sequence_for<T...>{});
    }
    if constexpr (N > 0)
      for (std::size_t l = 0; l < lanes; ++l)
        for (std::size_t m = 0; m < N; ++m) out[m * threads + c * lanes + l] = acc[l][m];
  }

  template <std::size_t... I>
  FDA_HOST_DEVICE void apply(double* acc, const piece& p, std::size_t i, std::index_sequence<I...>) const {
    op(acc, element<I, T>(p, i)...);
  }
};

/// Runs a lane_pass one chunk per call (the OpenMP back end).
template <class Pass>
struct per_chunk {
  Pass pass;
  void operator()(std::size_t c) const { pass.whole_chunk(c); }
};

/// Runs `pass` over all (chunk, lane) threads: one GPU thread each, or one CPU call per chunk.
template <class Pass>
void run_lanes(const char* kernel, const Pass& pass) {
  launch(kernel, [&] {
#if FDA_THRUST_CUDA
    thrust::for_each(policy(), index(0), index(pass.threads), pass);
#else
    thrust::for_each(policy(), index(0), index(pass.threads / lanes), per_chunk<Pass>{pass});
#endif
  });
}

/// out[m · groups + g] = the sum, in order, of in[m · count + j] for j in group g (32 per group).
template <std::size_t N>
struct fold_pass {
  const double* in = nullptr;
  double* out = nullptr;
  std::size_t count = 0, groups = 0;

  FDA_HOST_DEVICE void operator()(std::size_t g) const {
    const std::size_t lo = g * fold, hi = smaller(count, lo + fold);
    for (std::size_t m = 0; m < N; ++m) {
      double s = 0.0;
      for (std::size_t j = lo; j < hi; ++j) s += in[m * count + j];
      out[m * groups + g] = s;
    }
  }
};

/// Sums N terms over all elements of equally long device views (the caller checked the
/// sizes): op(acc, element_of_each_view...) adds into acc[0 .. N) (detail/terms.hpp).
template <std::size_t N, class Op, class... T, class... S>
std::array<double, N> reduce(const Op& op, const param_view<T, S>&... views) {
  std::array<double, N> total{};
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  if (n == 0) return total;
  const auto pieces = pieces_of(views...);
  const std::size_t threads = (n + chunk - 1) / chunk * lanes, table = table_doubles(pieces.size());
  const std::size_t spare = (threads + fold - 1) / fold;
  double* base = scratch::mine().doubles(table + N * (threads + spare));
  const piece_list list = upload_pieces(pieces, base);
  double* in = base + table;
  double* out = in + N * threads;
  const char* kernel = kernel_name<Op>();
  run_lanes(kernel, lane_pass<N, Op, T...>{list, n, in, threads, op});
  std::size_t count = threads;
  while (count > fold) {  // fixed levels of 32: the order of every addition depends on n only
    const std::size_t groups = (count + fold - 1) / fold;
    launch(kernel, [&] { thrust::for_each(policy(), index(0), index(groups), fold_pass<N>{in, out, count, groups}); });
    std::swap(in, out);
    count = groups;
  }
  std::vector<double> last(N * count);
  download(last.data(), in, N * count);
  finish(kernel);  // the only wait of the call: the passes above were queued back to back
  for (std::size_t m = 0; m < N; ++m)
    for (std::size_t j = 0; j < count; ++j) total[m] += last[m * count + j];
  return total;
}

/// An element-wise op (detail/terms.hpp: op(element_of_each_view...)) as a lane_pass term,
/// which also gets the (unused) accumulators.
template <class Op>
struct elementwise {
  Op op;
  template <class... E>
  FDA_HOST_DEVICE void operator()(double*, E&... e) const {
    op(e...);
  }
};

/// Applies op(element_of_each_view...) to every element (element-wise updates).
template <class Op, class... T, class... S>
void for_each(const Op& op, const param_view<T, S>&... views) {
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  if (n == 0) return;
  const auto pieces = pieces_of(views...);
  const std::size_t threads = (n + chunk - 1) / chunk * lanes;
  const piece_list list = upload_pieces(pieces, scratch::mine().doubles(table_doubles(pieces.size()) + 1));
  run_lanes(kernel_name<Op>(), lane_pass<0, elementwise<Op>, T...>{list, n, nullptr, threads, elementwise<Op>{op}});
  finish(kernel_name<Op>());
}

}  // namespace fda::detail::dev
