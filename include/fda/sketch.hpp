// SPDX-License-Identifier: Apache-2.0
#pragma once
/// AMS ("fast AGMS", tug-of-war) sketch: a linear map R^d → R^(depth × width) whose
/// squared row norms estimate ||v||².
///
///   sk(v)[r][h_r(i)] += s_r(i) · v[i],     M2(S) = median_r Σ_j S[r][j]²
///
/// Hashing (detail/tabulation_hash.hpp): Thorup–Zhang tabulation on two characters of the
/// index, 4-wise (in fact 5-wise) independent. Row r takes 32 bits y = y_r(i) of it (word
/// r / 2, low or high half) and maps them to one of 2 · width cells by multiply-shift,
///   c = (y · 2 · width) >> 32;   c < width: bucket c, sign +1;  else bucket c − width, sign −1,
/// so the bucket and the sign come from one 4-wise independent value, each cell with
/// probability within 2^-32 of 1 / (2 · width): the estimate's bias is at most
/// width · d · 2^-64 · ||v||² (1.4e-10 relative at width 250, d = 1e7; docs/core.md). The
/// kernel adds v[i] into cell c without any sign arithmetic and folds each row's two
/// halves (positive minus negative) once per call. Each row estimates ||v||² without bias
/// (up to that bound) with relative standard deviation at most sqrt(2 / width); the median
/// over rows narrows it. With width 250 the estimate lands within ±ε·||v||²,
/// ε = 1/sqrt(width), about 82% of the time at depth 5 (tests/test_sketch.cpp prints what
/// it measures).
///
/// The kernel runs in the memory space of the sketched views, through the space's primitive
/// space_traits<Space>::sketch (space.hpp): for host views detail/sketch_host.hpp, hashing
/// with the widest instruction set of the CPU; for device views <fda/thrust.hpp>.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "detail/sketch_hashes.hpp"
#include "detail/sketch_host.hpp"
#include "error.hpp"
#include "kernels.hpp"
#include "params.hpp"

// Clang contracts a*b+c within one expression wherever the ISA has FMA (-march=native):
// not in this code, whose results must not depend on the build (detail/isa.hpp).
#if defined(__clang__)
#pragma float_control(push)
#pragma clang fp contract(off)
#endif

namespace fda {

/// The bucket and sign hashes of an AMS sketch's rows (hashes.cell(r, i): the cell of element
/// i in row r, negative-signed when >= width): what a memory space's sketch primitive reads
/// (docs/concepts.md: Memory space).
using sketch_hashes = detail::sketch_hashes;

namespace detail {

/// counters (host memory, depth rows of width doubles) += sk(v), v = a or a − b, computed in
/// the views' memory space by its sketch primitive; returns ||v||². The views must share a
/// space (a mix does not compile) and have equal sizes (the caller checks).
template <class... V>
double sketch_in_space(const sketch_hashes& hashes, double* counters, const V&... views) {
  static_assert(sizeof...(V) == 1 || sizeof...(V) == 2);
  using backend = backend_of<V...>;
  if constexpr (requires(const sketch_hashes& h, double* c) { backend::sketch(h, c, views...); })
    return backend::sketch(hashes, counters, views...);
  else
    static_assert(always_false<backend>,
                  "fda: this memory space supplies no sketch: give its fda::space_traits a "
                  "sketch(hashes, counters, views...) primitive (docs/concepts.md, Memory space)");
}

/// M2: the median over rows of each row's sum of squares (mean of the middle two when
/// depth is even).
template <class T>
double median_row_energy(std::span<const T> counters, std::size_t depth, std::size_t width) {
  std::vector<double> energy(depth);
  for (std::size_t r = 0; r < depth; ++r) {
    double e = 0.0;
    for (std::size_t j = 0; j < width; ++j) e += double(counters[r * width + j]) * double(counters[r * width + j]);
    energy[r] = e;
  }
  std::sort(energy.begin(), energy.end());
  return depth % 2 ? energy[depth / 2] : 0.5 * (energy[depth / 2 - 1] + energy[depth / 2]);
}

/// The depth × width counters of a linear sketch and what every sketch kind does with
/// them (ams_sketch, tiled_sketch): a call's contribution is computed in double and
/// rounded once into the T counters.
template <class T>
class sketch_counters {
 public:
  /// M2 = median over rows of Σ_j S[r][j]², an estimate of ||v||².
  double estimate_sq_norm() const { return median_row_energy(std::span<const T>(counters_), depth_, width_); }

  /// The depth × width counters, row-major, for transport (an all-reduce sums them).
  std::span<T> data() noexcept { return counters_; }
  /// The counters, read-only.
  std::span<const T> data() const noexcept { return counters_; }

  /// Counter of row r, bucket j.
  T operator()(std::size_t r, std::size_t j) const { return counters_[r * width_ + j]; }

 protected:
  /// Zero counters of a checked shape (`where` names the sketch in the error), checked
  /// before anything is allocated.
  sketch_counters(const char* where, std::size_t depth, std::size_t width)
      : depth_((check_sketch_shape(where, depth, width), depth)), width_(width), counters_(depth * width, T(0)) {}

  /// counters += scale · sk, sk one call's contribution (depth × width doubles).
  void add_scaled(const std::vector<double>& sk, double scale) {
    for (std::size_t i = 0; i < sk.size(); ++i) counters_[i] = T(double(counters_[i]) + scale * sk[i]);
  }
  /// counters += the other's (shapes checked by the caller).
  void merge(const sketch_counters& other) {
    for (std::size_t i = 0; i < counters_.size(); ++i) counters_[i] += other.counters_[i];
  }
  /// counters ·= c.
  void scale(double c) {
    for (auto& x : counters_) x = T(c * double(x));
  }
  /// counters ← 0.
  void zero() { std::fill(counters_.begin(), counters_.end(), T(0)); }
  /// Bit-equal counters.
  bool same_counters(const sketch_counters& other) const { return counters_ == other.counters_; }

  /// Throws: a merge of sketches whose shape or seed differ (`what`: the sketch kind).
  [[noreturn]] static void refuse_merge(const char* what, std::size_t depth, std::size_t width, std::uint64_t seed,
                                        std::size_t into_depth, std::size_t into_width, std::uint64_t into_seed) {
    fail(what, "::operator+=: cannot merge a sketch of depth ", depth, ", width ", width, ", seed ", seed,
         " into one of depth ", into_depth, ", width ", into_width, ", seed ", into_seed,
         ": shape and seed must be equal");
  }

 private:
  std::size_t depth_, width_;
  std::vector<T> counters_;
};

}  // namespace detail

/// An AMS sketch with counters of type T. Sketches with equal depth, width and seed use
/// the same hash functions on every worker and merge by `+=` (the sketch is linear).
template <class T = float>
  requires detail::real<T>
class ams_sketch : public detail::sketch_counters<T> {
  using base = detail::sketch_counters<T>;

 public:
  /// An all-zero sketch (of the zero vector) with `depth` rows of `width` counters, hashed
  /// from `seed`. Throws fda::invalid_argument for depth 0 or width outside [2, 65536].
  explicit ams_sketch(std::size_t depth = 5, std::size_t width = 250, std::uint64_t seed = 0)
      : base("fda::ams_sketch", depth, width), hashes_("fda::ams_sketch", depth, width, seed) {}

  /// Rows: the estimate is a median over them (more rows, more confidence).
  std::size_t depth() const noexcept { return hashes_.depth; }
  /// Counters per row: ε = 1/sqrt(width).
  std::size_t width() const noexcept { return hashes_.width; }
  /// The seed every hash function derives from (equal on every worker).
  std::uint64_t seed() const noexcept { return hashes_.seed; }

  /// ε = 1/sqrt(width): the relative accuracy the estimate has with good probability.
  double epsilon() const noexcept { return 1.0 / std::sqrt(double(width())); }

  /// this ← this + scale · sk(v). v must be viewable; its index i is the parameter index.
  template <viewable V>
  ams_sketch& add(const V& v, double scale = 1.0) {
    std::vector<double> sk(depth() * width(), 0.0);
    detail::sketch_in_space(hashes_, sk.data(), detail::as_view(v));
    base::add_scaled(sk, scale);
    return *this;
  }

  /// Merge: the sketch of the sum of the two sketched vectors.
  ams_sketch& operator+=(const ams_sketch& other) {
    if (!hashes_.same_shape(other.hashes_))
      base::refuse_merge("fda::ams_sketch", other.depth(), other.width(), other.seed(), depth(), width(), seed());
    base::merge(other);
    return *this;
  }

  /// Scaling: sk(c·v) = c·sk(v).
  ams_sketch& operator*=(double c) {
    base::scale(c);
    return *this;
  }

  /// The sketch of the sum (see operator+=).
  friend ams_sketch operator+(ams_sketch a, const ams_sketch& b) { return a += b; }

  /// Back to the sketch of the zero vector; shape and hashes are kept.
  void clear() { base::zero(); }

  /// Equal shape and seed, and bit-equal counters.
  friend bool operator==(const ams_sketch& a, const ams_sketch& b) {
    return a.hashes_.same_shape(b.hashes_) && a.same_counters(b);
  }

 private:
  detail::sketch_hashes hashes_;
};

}  // namespace fda

#if defined(__clang__)
#pragma float_control(pop)
#endif
