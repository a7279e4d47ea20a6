// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Walking several parameter views in lock step, and deterministic blocked reductions.
///
/// Views may be cut into segments at different places. `for_each_piece` visits the
/// longest runs that are contiguous in every view and never cross a multiple of `block`
/// in the global index. `reduce` accumulates in double, into `lanes` partial sums chosen
/// by global index and folded into the total once per block, so that
///   - the result depends only on the values, never on how the views are segmented
///     (a multi-segment view gives bit-for-bit the result of its concatenation), and
///   - rounding grows with block + n / block, not with n (10^7 floats: ~1e-13 relative).
#include <array>
#include <cstddef>
#include <span>
#include <tuple>
#include <type_traits>

#include "../error.hpp"
#include "host_device.hpp"
#include "isa.hpp"

namespace fda {
struct host_space;  // (space.hpp; this header takes any param_view, and params.hpp comes last)
}  // namespace fda

namespace fda::detail {

inline constexpr std::size_t lanes = 8;
inline constexpr std::size_t block = 4096;

/// Host algorithms only: a view of another memory space fails here, with a readable message.
template <class S>
inline constexpr bool host_memory = std::is_same_v<S, host_space>;

/// A position in a param_view (View) of host memory: segment and offset.
template <class View>
class cursor {
  static_assert(host_memory<typename View::space>,
                "fda: a host kernel was given a view of device memory: include "
                "<fda/thrust.hpp> and pass views of one memory space");
  using T = typename View::element_type;

 public:
  explicit cursor(const View& v) : segments_(v.segments()) {}
  std::size_t left() const { return segments_[seg_].size() - off_; }
  T* ptr() const { return segments_[seg_].data() + off_; }
  void advance(std::size_t n) {
    off_ += n;
    if (off_ == segments_[seg_].size()) {
      ++seg_;
      off_ = 0;
    }
  }

 private:
  std::span<const std::span<T>> segments_;
  std::size_t seg_ = 0;
  std::size_t off_ = 0;
};

/// Throws unless every view has the size of the first; `names` label them in the message.
template <class First, class... Rest>
void require_same_size(const char* function, const std::array<const char*, 1 + sizeof...(Rest)>& names,
                       const First& first, const Rest&... rest) {
  const std::size_t sizes[] = {first.size(), rest.size()...};
  for (std::size_t i = 1; i < names.size(); ++i)
    if (sizes[i] != sizes[0])
      fail(function, ": '", names[i], "' has ", sizes[i], " elements but '", names[0], "' has ",
           sizes[0]);
}

/// Calls f(j, p, len) for the contiguous runs of `v` that cover [lo, lo + n): p points at
/// element lo + j, and len elements follow it.
template <class View, class F>
void for_each_run(const View& v, std::size_t lo, std::size_t n, F f) {
  static_assert(host_memory<typename View::space>, "fda: a host kernel was given a view of device memory");
  std::size_t start = 0;  // global index of the segment's first element
  for (auto s : v.segments()) {
    const std::size_t end = start + s.size();
    if (end > lo && start < lo + n) {
      const std::size_t from = lo > start ? lo : start, to = lo + n < end ? lo + n : end;
      f(from - lo, s.data() + (from - start), to - from);
    }
    if (end >= lo + n) break;
    start = end;
  }
}

/// Calls f(global_offset, length, pointer_into_each_view...) over contiguous pieces.
/// The views must have equal sizes (callers check and name them).
template <class F, class... V>
void for_each_piece(F&& f, const V&... views) {
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  std::tuple cursors{cursor(views)...};
  for (std::size_t g = 0; g < n;) {
    std::size_t len = block - g % block;
    std::apply([&](auto&... c) { ((len = c.left() < len ? c.left() : len), ...); }, cursors);
    std::apply([&](auto&... c) { f(g, len, c.ptr()...); }, cursors);
    std::apply([&](auto&... c) { (c.advance(len), ...); }, cursors);
    g += len;
  }
}

inline double lane_sum(const double (&a)[lanes]) {
  return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/// N running sums kept in `lanes` partial sums each (lane = global index mod lanes),
/// folded into the totals at every block boundary: the reduction order depends only on
/// the global index, never on how the data arrived.
template <std::size_t N>
struct blocked_sum {
  std::array<double, N> total{};
  alignas(64) double acc[N][lanes] = {};

  /// Adds term(acc, lane, p[j]...) for j in [0, len), the elements at global g + j.
  template <class Term, class... P>
  void add_piece(std::size_t g, std::size_t len, Term& term, P*... p) {
    std::size_t j = 0;
    for (; j < len && (g + j) % lanes != 0; ++j) term(acc, (g + j) % lanes, p[j]...);
    for (; j + lanes <= len; j += lanes)
      for (std::size_t l = 0; l < lanes; ++l) term(acc, l, p[j + l]...);
    for (; j < len; ++j) term(acc, (g + j) % lanes, p[j]...);
  }

  /// Call after the piece that ends at global index `end` (of `n` in all).
  void end_piece(std::size_t end, std::size_t n) {
    if (end % block != 0 && end != n) return;
    for (std::size_t k = 0; k < N; ++k) {
      total[k] += lane_sum(acc[k]);
      for (auto& a : acc[k]) a = 0.0;
    }
  }
};

/// Sums N terms over all elements: term(acc, lane, element_of_each_view...) adds the
/// element's contributions into acc[k][lane]. Returns the N totals. Runs in the widest
/// instruction set of the CPU (detail/isa.hpp), with the same result on every one.
template <std::size_t N, class Term, class... V>
std::array<double, N> reduce(Term term, const V&... views) {
  return with_isa([&](auto) {
    blocked_sum<N> sum;
    const std::size_t n = std::get<0>(std::tie(views...)).size();
    for_each_piece(
        [&](std::size_t g, std::size_t len, auto*... p) {
          sum.add_piece(g, len, term, p...);
          sum.end_piece(g + len, n);
        },
        views...);
    return sum.total;
  });
}

/// Applies f(element_of_each_view...) to every element (element-wise updates).
template <class F, class... V>
void for_each_element(F f, const V&... views) {
  for_each_piece(
      [&](std::size_t, std::size_t len, auto*... p) {
        for (std::size_t j = 0; j < len; ++j) f(p[j]...);
      },
      views...);
}

}  // namespace fda::detail

// The views these walk. Last: params.hpp includes space.hpp, whose host back end calls the
// algorithms above, so they must be declared first whichever header is included first.
#include "../params.hpp"
