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
#include <concepts>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

#include "detail/host_device.hpp"
#include "detail/isa.hpp"
#include "detail/tabulation_hash.hpp"
#include "detail/traverse.hpp"
#include "error.hpp"
#include "params.hpp"

#if defined(FDA_DETAIL_X86_DISPATCH)
#include <immintrin.h>
#endif

// Clang contracts a*b+c within one expression wherever the ISA has FMA (-march=native):
// not in these kernels, whose results must not depend on the build (detail/isa.hpp).
#if defined(__clang__)
#pragma float_control(push)
#pragma clang fp contract(off)
#endif

namespace fda {

namespace detail {

inline constexpr std::size_t sketch_max_width = std::size_t{1} << 16;
inline constexpr std::size_t sketch_max_depth = 32767;  // (depth + 1) · 2 · width ≤ 2^32

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
  FDA_HOST_DEVICE static std::uint64_t cell_of(std::uint32_t y, std::uint64_t cells_per_row) {
    return (std::uint64_t(y) * cells_per_row) >> 32;
  }

 private:
  static std::size_t words_for(const char* where, std::size_t depth, std::size_t width) {
    if (depth == 0) fail(where, ": depth = 0 is invalid: a sketch needs at least one row");
    if (depth > sketch_max_depth)
      fail(where, ": depth = ", depth, " is invalid: it must be in [1, 32767] (the kernel indexes ",
           "the cells of all rows with 32 bits)");
    if (width < 2 || width > sketch_max_width)
      fail(where, ": width = ", width, " is invalid: it must be in [2, 65536] (the sketch's hash ",
           "maps 32 random bits to 2 · width cells, within 3e-5 of uniform up to that width)");
    return (depth + 1) / 2;
  }
};

/// Indices per pass of the kernel (never crossing a multiple of 4096, so T1[b] is one word
/// per pass): their cells, 8 · 128 bytes per word, stay in L1 from phase 1 to phase 2.
inline constexpr std::size_t sketch_chunk = 128;

/// The cells of one index in the two rows of a word (2w, 2w + 1), as offsets into the
/// kernel's depth rows of 2 · width cells.
struct sketch_cell_pair {
  std::uint32_t lo, hi;
};

/// Word w of the tables at indices i0, i0 + 1, ... (one high character b): T0[a] and
/// T2[a + b] from a = i0 mod 4096 on, T1[b], and the offsets of the word's two rows (2w,
/// 2w + 1) in the kernel's cells.
struct sketch_word {
  const std::uint64_t* t0;
  const std::uint64_t* t2;
  std::uint64_t t1;
  std::uint32_t off_lo, off_hi;

  sketch_word(const tabulation_hash::tables& t, std::size_t w, std::uint64_t i0, std::uint32_t cells_per_row)
      : t0(t.t0.data() + w * t.na + (i0 & (tabulation_hash::char_size - 1))),
        t2(t.t2.data() + w * t.n2 + (i0 & (tabulation_hash::char_size - 1)) + (i0 >> tabulation_hash::char_bits)),
        t1(t.t1[w * t.nb + (i0 >> tabulation_hash::char_bits)]),
        off_lo(std::uint32_t(2 * w * cells_per_row)),
        off_hi(off_lo + cells_per_row) {}

  /// The cells of element j of the pass.
  sketch_cell_pair cells(std::size_t j, std::uint32_t cells_per_row) const {
    const std::uint64_t x = t0[j] ^ t2[j] ^ t1;
    return {off_lo + std::uint32_t(sketch_hashes::cell_of(std::uint32_t(x), cells_per_row)),
            off_hi + std::uint32_t(sketch_hashes::cell_of(std::uint32_t(x >> 32), cells_per_row))};
  }
  /// The same, stored at out[2j] (row 2w) and out[2j + 1] (row 2w + 1).
  void store_cells(std::size_t j, std::uint32_t* out, std::uint32_t cells_per_row) const {
    const sketch_cell_pair c = cells(j, cells_per_row);
    out[2 * j] = c.lo;
    out[2 * j + 1] = c.hi;
  }
};

#if defined(FDA_DETAIL_X86_DISPATCH)
// Phase 1 of the x86 paths: the cells of indices i0 .. i0 + m − 1 in every row, word w's at
// out[w · 2 · sketch_chunk ..] as sketch_word::store_cells lays them, 2, 4 or 8 indices per
// instruction (32 × 32 → 64-bit multiplies, pmuludq). Each: x = T0 ^ T2 ^ T1 in 64-bit lanes; the low halves times cells_per_row, >> 32, land in
// the even 32-bit lanes, the high halves' products masked to their top 32 bits in the odd
// ones: cells (row 2w, row 2w + 1) of consecutive indices, stored as they lie.
inline void sketch_cells(isa_tag<isa::sse2>, const tabulation_hash::tables& t, std::size_t words,
                         std::uint64_t i0, std::size_t m, std::uint32_t* out, std::uint32_t cells_per_row) {
  const __m128i c = _mm_set1_epi64x(cells_per_row), high = _mm_set1_epi64x(-0x100000000LL);
  for (std::size_t w = 0; w < words; ++w) {
    const sketch_word s(t, w, i0, cells_per_row);
    std::uint32_t* o = out + w * 2 * sketch_chunk;
    const __m128i t1 = _mm_set1_epi64x(std::int64_t(s.t1));
    const __m128i off = _mm_set1_epi64x(std::int64_t(std::uint64_t(s.off_hi) << 32 | s.off_lo));
    std::size_t j = 0;
    for (; j + 2 <= m; j += 2) {
      const __m128i x = _mm_xor_si128(_mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s.t0 + j)),
                                                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.t2 + j))),
                                      t1);
      const __m128i lo = _mm_srli_epi64(_mm_mul_epu32(x, c), 32);
      const __m128i hi = _mm_and_si128(_mm_mul_epu32(_mm_srli_epi64(x, 32), c), high);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 2 * j), _mm_add_epi32(_mm_or_si128(lo, hi), off));
    }
    for (; j < m; ++j) s.store_cells(j, o, cells_per_row);
  }
}

__attribute__((target(FDA_DETAIL_TARGET_AVX2))) inline void sketch_cells(
    isa_tag<isa::avx2>, const tabulation_hash::tables& t, std::size_t words, std::uint64_t i0, std::size_t m,
    std::uint32_t* out, std::uint32_t cells_per_row) {
  const __m256i c = _mm256_set1_epi64x(cells_per_row), high = _mm256_set1_epi64x(-0x100000000LL);
  for (std::size_t w = 0; w < words; ++w) {
    const sketch_word s(t, w, i0, cells_per_row);
    std::uint32_t* o = out + w * 2 * sketch_chunk;
    const __m256i t1 = _mm256_set1_epi64x(std::int64_t(s.t1));
    const __m256i off = _mm256_set1_epi64x(std::int64_t(std::uint64_t(s.off_hi) << 32 | s.off_lo));
    std::size_t j = 0;
    for (; j + 4 <= m; j += 4) {
      const __m256i x =
          _mm256_xor_si256(_mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.t0 + j)),
                                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.t2 + j))),
                           t1);
      const __m256i lo = _mm256_srli_epi64(_mm256_mul_epu32(x, c), 32);
      const __m256i hi = _mm256_and_si256(_mm256_mul_epu32(_mm256_srli_epi64(x, 32), c), high);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 2 * j), _mm256_add_epi32(_mm256_or_si256(lo, hi), off));
    }
    for (; j < m; ++j) s.store_cells(j, o, cells_per_row);
  }
}

#if !defined(__clang__)
__attribute__((target(FDA_DETAIL_TARGET_AVX512))) inline void sketch_cells(
    isa_tag<isa::avx512>, const tabulation_hash::tables& t, std::size_t words, std::uint64_t i0, std::size_t m,
    std::uint32_t* out, std::uint32_t cells_per_row) {
  const __m512i c = _mm512_set1_epi64(cells_per_row), high = _mm512_set1_epi64(-0x100000000LL);
  for (std::size_t w = 0; w < words; ++w) {
    const sketch_word s(t, w, i0, cells_per_row);
    std::uint32_t* o = out + w * 2 * sketch_chunk;
    const __m512i t1 = _mm512_set1_epi64(std::int64_t(s.t1));
    const __m512i off = _mm512_set1_epi64(std::int64_t(std::uint64_t(s.off_hi) << 32 | s.off_lo));
    std::size_t j = 0;
    for (; j + 8 <= m; j += 8) {
      const __m512i x = _mm512_ternarylogic_epi64(_mm512_loadu_si512(s.t0 + j), _mm512_loadu_si512(s.t2 + j), t1, 0x96);
      // (the maskz forms with a full mask: the plain ones trip GCC 12's -Wmaybe-uninitialized)
      const __m512i lo = _mm512_maskz_srli_epi64(0xff, _mm512_maskz_mul_epu32(0xff, x, c), 32);
      const __m512i hi = _mm512_and_si512(_mm512_maskz_mul_epu32(0xff, _mm512_maskz_srli_epi64(0xff, x, 32), c), high);
      _mm512_storeu_si512(o + 2 * j, _mm512_add_epi32(_mm512_or_si512(lo, hi), off));
    }
    for (; j < m; ++j) s.store_cells(j, o, cells_per_row);
  }
}
#endif
#endif

/// Phase 2 for words [w, w + W): adds value(j) into the cells cells_of(word, j) names,
/// j = 0 .. m − 1 in order, so every cell sums its terms in index order; Half: the last
/// word feeds one row only (odd depth). The rows of one element are updated together (they
/// never collide): scalar read-modify-writes, the kernel's bound (bench/README.md,
/// scatter_floor).
template <std::size_t W, bool Half, class Cells, class Value>
void sketch_add(const Cells& cells_of, std::size_t w, std::size_t m, const Value& value, double* cells) {
  for (std::size_t j = 0; j < m; ++j) {
    const double v = value(j);
    for (std::size_t k = 0; k < W; ++k) {
      const sketch_cell_pair c = cells_of(w + k, j);
      cells[c.lo] += v;
      if (!Half || k + 1 < W) cells[c.hi] += v;
    }
  }
}

/// Phase 2, all rows: words in groups of at most 3 (depth 5 in one pass).
template <class Cells, class Value>
void sketch_add_rows(std::size_t depth, const Cells& cells_of, std::size_t m, const Value& value, double* cells) {
  const std::size_t words = (depth + 1) / 2;
  const bool half = depth % 2 != 0;
  std::size_t w = 0;
  for (; words - w > 3; w += 2) sketch_add<2, false>(cells_of, w, m, value, cells);
  if (words - w == 3) {
    if (half) sketch_add<3, true>(cells_of, w, m, value, cells);
    else sketch_add<3, false>(cells_of, w, m, value, cells);
  } else if (words - w == 2) {
    if (half) sketch_add<2, true>(cells_of, w, m, value, cells);
    else sketch_add<2, false>(cells_of, w, m, value, cells);
  } else {
    if (half) sketch_add<1, true>(cells_of, w, m, value, cells);
    else sketch_add<1, false>(cells_of, w, m, value, cells);
  }
}

/// The sketched value of one element: v = a, or v = a − b (formed in double: exact).
template <class A>
double sketch_value(A a) {
  return double(a);
}
template <class A, class B>
double sketch_value(A a, B b) {
  return double(a) - double(b);
}

/// counters += sk(v), with v = a, or v = a - b when two views are given; returns ||v||².
/// counters holds depth rows of width doubles. One pass over the inputs, in chunks of 128
/// indices: on x86, phase 1 hashes the chunk's indices into the cells of every row
/// (vectorised); then the values are formed (in double), squared into the blocked sum
/// (bit-identical to fda::sq_distance / sq_norm) and added into depth rows of 2 · width
/// cells (positive and negative halves, each cell summed in index order), folded into
/// counters at the end. The portable path hashes each element as it adds it (stored cells
/// would cost it a store per row and element: 25–30% slower measured).
/// The result depends only on the values and indices: never on the views' segmentation,
/// nor on the instruction set (detail/isa.hpp; tested).
template <class... V>
double sketch_accumulate(const sketch_hashes& hashes, double* counters, const V&... views) {
  static_assert(sizeof...(V) == 1 || sizeof...(V) == 2);
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  if (n == 0) return 0.0;
  const auto tables = hashes.tab.covering(n);
  const std::size_t width = hashes.width, depth = hashes.depth, words = hashes.tab.words();
  const auto cells_per_row = std::uint32_t(2 * width);
  std::vector<double> cells(depth * cells_per_row, 0.0);
  std::vector<std::uint32_t> cell_index(words * 2 * sketch_chunk);
  std::vector<sketch_word> word;
  word.reserve(words);
  const double sq = with_isa([&](auto isa) {
    blocked_sum<1> sum;
    auto square = [](auto& acc, std::size_t l, double u) { acc[0][l] += u * u; };
    alignas(64) double values[sketch_chunk];
    for_each_piece(
        [&](std::size_t g, std::size_t len, auto*... p) {
          for (std::size_t off = 0, m = 0; off < len; off += m) {
            const std::size_t i0 = g + off;
            m = std::min({sketch_chunk, len - off, tabulation_hash::char_size - i0 % tabulation_hash::char_size});
            for (std::size_t j = 0; j < m; ++j) values[j] = sketch_value(p[off + j]...);
            sum.add_piece(i0, m, square, static_cast<const double*>(values));
            const auto value = [&](std::size_t j) { return values[j]; };
            if constexpr (decltype(isa)::value == isa::portable) {
              word.clear();
              for (std::size_t w = 0; w < words; ++w) word.emplace_back(*tables, w, i0, cells_per_row);
              const auto hash = [&](std::size_t w, std::size_t j) { return word[w].cells(j, cells_per_row); };
              sketch_add_rows(depth, hash, m, value, cells.data());
            } else {
              sketch_cells(isa, *tables, words, i0, m, cell_index.data(), cells_per_row);
              const auto stored = [&](std::size_t w, std::size_t j) {
                // one 64-bit load for both cells (x86: little-endian, row 2w in the low
                // half): the scatter is bound by memory operations
                std::uint64_t c;
                std::memcpy(&c, cell_index.data() + w * 2 * sketch_chunk + 2 * j, sizeof c);
                return sketch_cell_pair{std::uint32_t(c), std::uint32_t(c >> 32)};
              };
              sketch_add_rows(depth, stored, m, value, cells.data());
            }
          }
          sum.end_piece(g + len, n);
        },
        views...);
    return sum.total[0];
  });
  for (std::size_t r = 0; r < depth; ++r) {
    const double* c = cells.data() + r * cells_per_row;
    for (std::size_t j = 0; j < width; ++j) counters[r * width + j] += c[j] - c[width + j];
  }
  return sq;
}

/// Where sketches of views in memory space Space are computed: counters (host memory, depth
/// rows of width doubles) += sk(v), returning ||v||², as sketch_accumulate does for host
/// views. <fda/thrust.hpp> specializes it for device_space.
template <class Space>
struct sketch_kernel {
  static_assert(std::same_as<Space, host_space>,
                "fda: no sketch kernel for this memory space (device views need <fda/thrust.hpp>)");
  template <class... V>
  static double accumulate(const sketch_hashes& hashes, double* counters, const V&... views) {
    return sketch_accumulate(hashes, counters, views...);
  }
};

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
  /// An all-zero sketch (of the zero vector) with `depth` rows of `width` counters, hashed
  /// from `seed`. Throws fda::invalid_argument for depth 0 or width outside [2, 65536].
  explicit ams_sketch(std::size_t depth = 5, std::size_t width = 250, std::uint64_t seed = 0)
      : hashes_("fda::ams_sketch", depth, width, seed), counters_(depth * width, T(0)) {}

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
    std::vector<double> sk(counters_.size(), 0.0);
    const auto& vv = detail::as_view(v);
    detail::sketch_kernel<typename std::remove_cvref_t<decltype(vv)>::space>::accumulate(hashes_, sk.data(), vv);
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

  /// Scaling: sk(c·v) = c·sk(v).
  ams_sketch& operator*=(double c) {
    for (auto& x : counters_) x = T(c * double(x));
    return *this;
  }

  /// The sketch of the sum (see operator+=).
  friend ams_sketch operator+(ams_sketch a, const ams_sketch& b) { return a += b; }

  /// M2 = median over rows of Σ_j S[r][j]², an estimate of ||v||².
  double estimate_sq_norm() const {
    return detail::median_row_energy(std::span<const T>(counters_), depth(), width());
  }

  /// The depth × width counters, row-major, for transport (an all-reduce sums them).
  std::span<T> data() noexcept { return counters_; }
  /// The counters, read-only.
  std::span<const T> data() const noexcept { return counters_; }

  /// Counter of row r, bucket j.
  T operator()(std::size_t r, std::size_t j) const { return counters_[r * width() + j]; }

  /// Back to the sketch of the zero vector; shape and hashes are kept.
  void clear() { std::fill(counters_.begin(), counters_.end(), T(0)); }

  /// Equal shape and seed, and bit-equal counters.
  friend bool operator==(const ams_sketch& a, const ams_sketch& b) {
    return a.hashes_.same_shape(b.hashes_) && a.counters_ == b.counters_;
  }

 private:
  detail::sketch_hashes hashes_;
  std::vector<T> counters_;
};

}  // namespace fda

#if defined(__clang__)
#pragma float_control(pop)
#endif
