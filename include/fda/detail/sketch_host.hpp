// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The AMS sketch of host views: detail::sketch_accumulate, space_traits<host_space>::sketch
/// (space.hpp). One pass over the inputs in chunks of 128 indices; on x86 the indices' cells
/// are hashed with SSE2, AVX2 or AVX-512 instructions (phase 1), then every value is added
/// into its cells (phase 2, scalar: the kernel's bound). The instruction set is chosen at
/// run time (isa.hpp) and never changes a bit of the result (tests/test_sketch.cpp).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <vector>

#include "isa.hpp"
#include "sketch_hashes.hpp"
#include "tabulation_hash.hpp"
#include "traverse.hpp"

#if defined(FDA_DETAIL_X86_DISPATCH)
#include <immintrin.h>
#endif

// Clang contracts a*b+c within one expression wherever the ISA has FMA (-march=native):
// not in these kernels, whose results must not depend on the build (detail/isa.hpp).
#if defined(__clang__)
#pragma float_control(push)
#pragma clang fp contract(off)
#endif

namespace fda::detail {

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

}  // namespace fda::detail

#if defined(__clang__)
#pragma float_control(pop)
#endif
