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
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "detail/tabulation_hash.hpp"
#include "detail/traverse.hpp"
#include "error.hpp"
#include "params.hpp"

namespace fda {

namespace detail {

inline constexpr std::size_t sketch_max_width = std::size_t{1} << 16;

/// The hash functions of a sketch shape: one tabulation hash of ceil(depth / 2) 64-bit
/// words (two rows per word), all drawn from one seed. Copies share the cached tables.
struct sketch_hashes {
  std::size_t depth = 0;
  std::size_t width = 0;
  std::uint64_t seed = 0;
  tabulation_hash tab;

  sketch_hashes(const char* where, std::size_t depth_, std::size_t width_, std::uint64_t seed_)
      : depth(depth_), width(width_), seed(seed_), tab(words_for(where, depth_, width_), seed_) {}

  bool same_shape(const sketch_hashes& o) const {
    return depth == o.depth && width == o.width && seed == o.seed;
  }

  /// The 32 random bits of row r at index i, from the definition (no tables).
  std::uint32_t row_value(std::size_t r, std::uint64_t i) const {
    return std::uint32_t(tab.word(r / 2, i) >> (32 * (r % 2)));
  }

  /// Cell in [0, 2 · width) of a row value: cell c < width adds at bucket c with sign +1,
  /// cell c >= width at bucket c - width with sign -1.
  static std::uint64_t cell_of(std::uint32_t y, std::uint64_t cells_per_row) {
    return (std::uint64_t(y) * cells_per_row) >> 32;
  }

 private:
  static std::size_t words_for(const char* where, std::size_t depth, std::size_t width) {
    if (depth == 0) fail(where, ": depth = 0 is invalid: a sketch needs at least one row");
    if (width < 2 || width > sketch_max_width)
      fail(where, ": width = ", width, " is invalid: it must be in [2, 65536] (the sketch's hash ",
           "maps 32 random bits to 2 · width cells, within 3e-5 of uniform up to that width)");
    return (depth + 1) / 2;
  }
};

inline constexpr std::size_t sketch_chunk = 512;

/// Adds values[j] into the cells of the rows of words [w0, w0 + W), for the m indices
/// i0 .. i0 + m - 1 (one high character: they do not cross a multiple of 4096). The rows
/// of one element are updated together (they never collide); Half: the last word feeds
/// one row only (odd depth).
template <std::size_t W, bool Half>
void sketch_scatter_words(const tabulation_hash::tables& t, std::size_t w0, std::uint64_t i0,
                          const double* values, std::size_t m, double* cells, std::uint64_t cells_per_row) {
  const std::size_t a0 = i0 & (tabulation_hash::char_size - 1), b = i0 >> tabulation_hash::char_bits;
  const std::uint64_t* t0[W];  // T0[a], a = a0, a0 + 1, ...
  const std::uint64_t* t2[W];  // T2[a + b]
  std::uint64_t t1[W];         // T1[b]: one word per chunk
  double* row[2 * W];
  for (std::size_t k = 0; k < W; ++k) {
    t0[k] = t.t0.data() + (w0 + k) * t.na + a0;
    t2[k] = t.t2.data() + (w0 + k) * t.n2 + a0 + b;
    t1[k] = t.t1[(w0 + k) * t.nb + b];
    row[2 * k] = cells + 2 * (w0 + k) * cells_per_row;
    row[2 * k + 1] = row[2 * k] + cells_per_row;
  }
  for (std::size_t j = 0; j < m; ++j) {
    const double v = values[j];
    for (std::size_t k = 0; k < W; ++k) {
      const std::uint64_t x = t0[k][j] ^ t2[k][j] ^ t1[k];
      row[2 * k][sketch_hashes::cell_of(std::uint32_t(x), cells_per_row)] += v;
      if (!Half || k + 1 < W) row[2 * k + 1][sketch_hashes::cell_of(std::uint32_t(x >> 32), cells_per_row)] += v;
    }
  }
}

/// All rows, words in groups of two (the fastest grouping measured: bench/README.md).
inline void sketch_scatter(const tabulation_hash::tables& t, std::size_t depth, std::uint64_t i0,
                           const double* values, std::size_t m, double* cells, std::uint64_t cells_per_row) {
  const std::size_t words = (depth + 1) / 2;
  const bool half = depth % 2 != 0;
  std::size_t w = 0;
  for (; words - w > 2; w += 2) sketch_scatter_words<2, false>(t, w, i0, values, m, cells, cells_per_row);
  if (words - w == 2) {
    if (half) sketch_scatter_words<2, true>(t, w, i0, values, m, cells, cells_per_row);
    else sketch_scatter_words<2, false>(t, w, i0, values, m, cells, cells_per_row);
  } else {
    if (half) sketch_scatter_words<1, true>(t, w, i0, values, m, cells, cells_per_row);
    else sketch_scatter_words<1, false>(t, w, i0, values, m, cells, cells_per_row);
  }
}

/// counters += sk(v), with v = a, or v = a - b when two views are given; returns ||v||².
/// counters holds depth rows of width doubles. One pass over the inputs: the values of a
/// short chunk are formed once (in double), squared into the blocked sum (bit-identical
/// to fda::sq_distance / sq_norm) and added into depth rows of 2 · width cells (positive
/// and negative halves, each cell summed in index order), folded into counters at the end.
/// The result depends only on the values and indices, never on the views' segmentation.
template <class... V>
double sketch_accumulate(const sketch_hashes& hashes, double* counters, const V&... views) {
  static_assert(sizeof...(V) == 1 || sizeof...(V) == 2);
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  if (n == 0) return 0.0;
  const auto tables = hashes.tab.covering(n);
  const std::size_t width = hashes.width, cells_per_row = 2 * width;
  std::vector<double> cells(hashes.depth * cells_per_row, 0.0);
  blocked_sum<1> sq;
  auto square = [](auto& acc, std::size_t l, double x) { acc[0][l] += x * x; };
  double values[sketch_chunk];
  for_each_piece(
      [&](std::size_t g, std::size_t len, auto*... p) {
        for (std::size_t off = 0, m = 0; off < len; off += m) {
          const std::size_t i0 = g + off;
          m = std::min({sketch_chunk, len - off, tabulation_hash::char_size - i0 % tabulation_hash::char_size});
          for (std::size_t j = 0; j < m; ++j) {
            if constexpr (sizeof...(V) == 1)
              values[j] = double(p[off + j]...);
            else
              values[j] = [](auto a, auto b) { return double(a) - double(b); }(p[off + j]...);
          }
          sq.add_piece(i0, m, square, static_cast<const double*>(values));
          sketch_scatter(*tables, hashes.depth, i0, values, m, cells.data(), cells_per_row);
        }
        sq.end_piece(g + len, n);
      },
      views...);
  for (std::size_t r = 0; r < hashes.depth; ++r) {
    const double* c = cells.data() + r * cells_per_row;
    for (std::size_t j = 0; j < width; ++j) counters[r * width + j] += c[j] - c[width + j];
  }
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
