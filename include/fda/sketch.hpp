#pragma once
/// AMS ("fast AGMS", tug-of-war) sketch: a linear map R^d → R^(depth × width) whose
/// squared row norms estimate ||v||².
///
///   sk(v)[r][h_r(i)] += s_r(i) · v[i],     M2(S) = median_r Σ_j S[r][j]²
///
/// Row r hashes index i with one cubic over GF(2^61 - 1) (4-wise independent): the
/// lowest bit gives the sign s_r(i), the high bits the bucket h_r(i) (pairwise
/// independent, as the 2-universal family asks). Hashes depend on the index only, so
/// the kernel walks consecutive indices by finite differences (detail/poly_hash.hpp):
/// no d × depth table, no per-element multiplication. Each row estimates ||v||² without
/// bias with relative standard deviation at most sqrt(2 / width); the median over rows
/// narrows it. With width 250 the estimate lands within ±ε·||v||², ε = 1/sqrt(width),
/// about 82% of the time at depth 5 (tests/test_sketch.cpp prints what it measures).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "detail/poly_hash.hpp"
#include "detail/traverse.hpp"
#include "error.hpp"
#include "params.hpp"

namespace fda {

namespace detail {

/// The hash functions of a sketch shape: one cubic per row, all drawn from one seed.
struct sketch_hashes {
  std::size_t depth = 0;
  std::size_t width = 0;
  std::uint64_t seed = 0;
  std::vector<cubic_hash> rows;

  sketch_hashes(const char* where, std::size_t depth_, std::size_t width_, std::uint64_t seed_)
      : depth(depth_), width(width_), seed(seed_) {
    if (depth == 0) fail(where, ": depth = 0 is invalid: a sketch needs at least one row");
    if (width < 2 || width > (std::size_t{1} << 31))
      fail(where, ": width = ", width, " is invalid: it must be in [2, 2^31]");
    std::uint64_t state = seed;
    for (std::size_t r = 0; r < depth; ++r) rows.push_back(cubic_hash::draw(state));
  }

  bool same_shape(const sketch_hashes& o) const {
    return depth == o.depth && width == o.width && seed == o.seed;
  }
};

inline constexpr std::size_t sketch_chunk = 512;

/// counters += sk(v), with v = a, or v = a - b when two views are given; returns ||v||².
/// counters holds depth rows of width doubles. One pass over the inputs; the values of a
/// short chunk are formed once (in double) and then scattered row by row.
template <class... V>
double sketch_accumulate(const sketch_hashes& hashes, double* counters, const V&... views) {
  static_assert(sizeof...(V) == 1 || sizeof...(V) == 2);
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  const auto width = std::uint32_t(hashes.width);
  blocked_sum<1> sq;
  auto square = [](auto& acc, std::size_t l, double x) { acc[0][l] += x * x; };
  double values[sketch_chunk];
  for_each_piece(
      [&](std::size_t g, std::size_t len, auto*... p) {
        for (std::size_t off = 0; off < len; off += sketch_chunk) {
          const std::size_t m = std::min(sketch_chunk, len - off);
          for (std::size_t j = 0; j < m; ++j) {
            if constexpr (sizeof...(V) == 1)
              values[j] = double(p[off + j]...);
            else
              values[j] = [](auto a, auto b) { return double(a) - double(b); }(p[off + j]...);
          }
          sq.add_piece(g + off, m, square, static_cast<const double*>(values));
          for (std::size_t r = 0; r < hashes.depth; ++r) {
            double* row = counters + r * width;
            cubic_walk walk(hashes.rows[r], g + off);
            for (std::size_t j = 0; j < m; ++j, walk.next()) {
              const std::uint64_t h = walk.value();
              row[bucket_of(h, width)] +=
                  std::bit_cast<double>(std::bit_cast<std::uint64_t>(values[j]) ^ sign_mask_of(h));
            }
          }
        }
        sq.end_piece(g + len, n);
      },
      views...);
  return sq.total[0];
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

}  // namespace detail

/// An AMS sketch with counters of type T. Sketches with equal depth, width and seed use
/// the same hash functions on every worker and merge by `+=` (the sketch is linear).
template <class T = float>
  requires detail::real<T>
class ams_sketch {
 public:
  explicit ams_sketch(std::size_t depth = 5, std::size_t width = 250, std::uint64_t seed = 0)
      : hashes_("fda::ams_sketch", depth, width, seed), counters_(depth * width, T(0)) {}

  std::size_t depth() const noexcept { return hashes_.depth; }
  std::size_t width() const noexcept { return hashes_.width; }
  std::uint64_t seed() const noexcept { return hashes_.seed; }

  /// ε = 1/sqrt(width): the relative accuracy the estimate has with good probability.
  double epsilon() const noexcept { return 1.0 / std::sqrt(double(width())); }

  /// this ← this + scale · sk(v). v must be viewable; its index i is the parameter index.
  template <viewable V>
  ams_sketch& add(const V& v, double scale = 1.0) {
    std::vector<double> sk(counters_.size(), 0.0);
    detail::sketch_accumulate(hashes_, sk.data(), detail::as_view(v));
    for (std::size_t i = 0; i < sk.size(); ++i) counters_[i] = T(double(counters_[i]) + scale * sk[i]);
    return *this;
  }

  /// Merge: the sketch of the sum of the two sketched vectors.
  ams_sketch& operator+=(const ams_sketch& other) {
    if (!hashes_.same_shape(other.hashes_))
      detail::fail("fda::ams_sketch::operator+=: cannot merge a sketch of depth ", other.depth(),
                   ", width ", other.width(), ", seed ", other.seed(), " into one of depth ",
                   depth(), ", width ", width(), ", seed ", seed(),
                   ": shape and seed must be equal");
    for (std::size_t i = 0; i < counters_.size(); ++i) counters_[i] += other.counters_[i];
    return *this;
  }

  ams_sketch& operator*=(double c) {
    for (auto& x : counters_) x = T(c * double(x));
    return *this;
  }

  friend ams_sketch operator+(ams_sketch a, const ams_sketch& b) { return a += b; }

  /// M2 = median over rows of Σ_j S[r][j]², an estimate of ||v||².
  double estimate_sq_norm() const {
    return detail::median_row_energy(std::span<const T>(counters_), depth(), width());
  }

  /// The depth × width counters, row-major, for transport (an all-reduce sums them).
  std::span<T> data() noexcept { return counters_; }
  std::span<const T> data() const noexcept { return counters_; }

  /// Counter of row r, bucket j.
  T operator()(std::size_t r, std::size_t j) const { return counters_[r * width() + j]; }

  void clear() { std::fill(counters_.begin(), counters_.end(), T(0)); }

  friend bool operator==(const ams_sketch& a, const ams_sketch& b) {
    return a.hashes_.same_shape(b.hashes_) && a.counters_ == b.counters_;
  }

 private:
  detail::sketch_hashes hashes_;
  std::vector<T> counters_;
};

}  // namespace fda
