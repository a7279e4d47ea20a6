// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The tiled AMS sketch (fda::tiled_sketch, tiled_sketch.hpp): its hash functions
/// (tiled_hashes) and its host kernel (tiled_accumulate, space_traits<host_space>::
/// tiled_sketch). The map itself is stated in tiled_sketch.hpp; this file computes it.
///
/// The kernel goes panel by panel (16 · 4099 elements). It first reads the panel's values
/// in order, lane after lane, into a buffer of floats (v = a or a − b, one rounding), which
/// then sits in L2; reading the 16 lanes of a tile straight from the inputs ran at a third
/// of the memory bandwidth. Then, in chunks of 64 tiles: the rows' hash words (cells and
/// sign words), and for 16 tiles at a time every lane's value added with its row's sign
/// into the 16 tiles' sums (one vector per lane: no horizontal sums, no per-element
/// scatter); one sum per tile and row is then added into the row's bucket of the panel's
/// cells, and those into the total at the panel's end (the order the device can follow). The signs are
/// the hash word's bits moved to the sign bit and XORed in: exact, so every instruction
/// set gives the portable path's result bit for bit (tests/test_tiled_sketch.cpp).
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <vector>

#include "../error.hpp"
#include "isa.hpp"
#include "sketch_host.hpp"
#include "sketch_hashes.hpp"
#include "tabulation_hash.hpp"
#include "traverse.hpp"

#if defined(__clang__)
#pragma float_control(push)
#pragma clang fp contract(off)
#endif

namespace fda::detail {

inline constexpr std::size_t tile_lanes = 16;  ///< elements per tile (one per lane)
inline constexpr std::size_t tile_chunk = 64;  ///< tiles per pass of the host kernel
inline constexpr std::size_t tile_group = 16;  ///< tiles summed together (a vector of 16 floats)

/// Tiles per full panel: a panel is 16 · 4099 consecutive elements, its tile t holding the
/// elements t, t + 4099, t + 2 · 4099, ... (prime: tensor rows of any length under 4099
/// never put two elements of one column into a tile; tiled_sketch.hpp).
inline constexpr std::size_t panel_tiles = 4099;

/// Panel q of a vector of n elements: elements [first, end), tiles of `stride` lanes apart
/// (4099, or ceil(elements / 16) in the last panel), global tile ids first_tile + t.
struct tile_panel {
  std::size_t first, end, stride, first_tile;
  FDA_HOST_DEVICE tile_panel(std::size_t n, std::size_t q)
      : first(q * tile_lanes * panel_tiles),
        end(n - first < tile_lanes * panel_tiles ? n : first + tile_lanes * panel_tiles),
        stride((end - first + tile_lanes - 1) / tile_lanes),
        first_tile(q * panel_tiles) {}
};

/// Global tile ids of a vector of n elements (the range the hash tables cover).
FDA_HOST_DEVICE inline std::size_t tile_ids(std::size_t n) {
  const std::size_t full = n / (tile_lanes * panel_tiles), rest = n % (tile_lanes * panel_tiles);
  return full * panel_tiles + (rest + tile_lanes - 1) / tile_lanes;
}

/// The hash functions of a tiled sketch shape (depth, width, seed): one 64-bit tabulation
/// word per row and tile. Its low 32 bits give the tile's bucket by multiply-shift, bits
/// 32 + k the sign of lane k (set: negative). Copies share the cached tables.
struct tiled_hashes {
  std::size_t depth = 0;
  std::size_t width = 0;
  std::uint64_t seed = 0;
  tabulation_hash tab;

  tiled_hashes(const char* where, std::size_t depth_, std::size_t width_, std::uint64_t seed_)
      : depth(depth_), width(width_), seed(seed_), tab(words_for(where, depth_, width_), seed_ ^ tag) {}

  bool same_shape(const tiled_hashes& o) const { return depth == o.depth && width == o.width && seed == o.seed; }

  /// The hash word of row r at tile t, from the definition (no tables).
  std::uint64_t word(std::size_t r, std::uint64_t t) const { return tab.word(r, t); }

  /// The bucket in [0, width) of a row's hash word.
  FDA_HOST_DEVICE static std::uint32_t bucket_of(std::uint64_t y, std::uint64_t width) {
    return std::uint32_t((std::uint64_t(std::uint32_t(y)) * width) >> 32);
  }

 private:
  // The tiled sketch's tables are not the classic sketch's for the same seed.
  static constexpr std::uint64_t tag = 0x7113d5ce7c4ULL;

  static std::size_t words_for(const char* where, std::size_t depth, std::size_t width) {
    check_sketch_shape(where, depth, width);
    return depth;
  }
};

/// What the tiled kernel returns besides the counters: ||v||² = Σ_t m_t and Σ_t m_t², m_t
/// the squared norm of tile t (the in-tile variance term, tiled_sketch.hpp).
struct tile_sums {
  double sq_norm = 0.0;
  double mass_sq = 0.0;
};

#if defined(FDA_DETAIL_X86_DISPATCH)
/// Unaligned vector load and store; by reference: no vector type in a signature, whatever
/// the target. The vector types are declared with their element's alignment: GCC then
/// loads through a plain dereference (through memcpy its code was 20% slower, measured);
/// Clang ignores a lowered alignment on a vector typedef (an aligned load faults), so it
/// goes through memcpy.
template <class Vec>
[[gnu::always_inline]] inline void load_vec(Vec& x, const void* p) {
#if defined(__clang__)
  __builtin_memcpy(&x, p, sizeof x);
#else
  x = *static_cast<const Vec*>(p);
#endif
}
template <class Vec>
[[gnu::always_inline]] inline void store_vec(void* p, const Vec& x) {
#if defined(__clang__)
  __builtin_memcpy(p, &x, sizeof x);
#else
  *static_cast<Vec*>(p) = x;
#endif
}
#endif

/// The value of an element in the tiled kernel, in single precision: v = a, or v = a − b
/// (one rounding: in float for float views, else formed in double and rounded).
template <class A>
FDA_HOST_DEVICE float tile_value(A a) {
  return float(a);
}
template <class A, class B>
FDA_HOST_DEVICE float tile_value(A a, B b) {
  if constexpr (std::is_same_v<A, float> && std::is_same_v<B, float>) return a - b;
  else return float(double(a) - double(b));
}

/// Tile sums and masses of `rows` rows for tiles [0, c) of a chunk: vals holds lane k's
/// values at vals[k·pitch + j] (zero beyond n), s the rows' sign words (the high half of
/// the hash word) at s[r·tile_chunk + j]. out[r·tile_chunk + j] = Σ_k ±vals[k][j] and
/// mass[j] = Σ_k vals[k][j]², in k order from +0, in float. c is a multiple of tile_group.
template <class Isa>
void tile_sums_of(Isa, const float* vals, std::size_t pitch, const std::uint32_t* s, std::size_t rows,
                  std::size_t c, float* out, float* mass) {
  constexpr std::uint32_t sign = std::uint32_t{1} << 31;
#if defined(FDA_DETAIL_X86_DISPATCH)
  if constexpr (Isa::value != isa::portable) {
    // GCC/Clang vectors of 16: one AVX-512 register, two AVX2 or four SSE2 ones per value.
    using f32x16 = float __attribute__((vector_size(64), aligned(4)));
    using u32x16 = std::uint32_t __attribute__((vector_size(64), aligned(4)));
    for (std::size_t j = 0; j < c; j += tile_group) {
      f32x16 m = {};
      for (std::size_t k = 0; k < tile_lanes; ++k) {
        f32x16 v;
        load_vec(v, vals + k * pitch + j);
        m += v * v;
      }
      store_vec(mass + j, m);
      for (std::size_t r = 0; r < rows; ++r) {
        u32x16 h;
        load_vec(h, s + r * tile_chunk + j);
        f32x16 acc = {};
#pragma GCC unroll 16
        for (std::size_t k = 0; k < tile_lanes; ++k) {
          u32x16 v;
          load_vec(v, vals + k * pitch + j);
          acc += reinterpret_cast<f32x16>(v ^ ((h << std::uint32_t(31 - k)) & sign));
        }
        store_vec(out + r * tile_chunk + j, acc);
      }
    }
    return;
  }
#endif
  for (std::size_t j = 0; j < c; ++j) {
    float m = 0.0f;
    for (std::size_t k = 0; k < tile_lanes; ++k) m += vals[k * pitch + j] * vals[k * pitch + j];
    mass[j] = m;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::uint32_t h = s[r * tile_chunk + j];
      float acc = 0.0f;
      for (std::size_t k = 0; k < tile_lanes; ++k) {
        const std::uint32_t v = std::bit_cast<std::uint32_t>(vals[k * pitch + j]);
        acc += std::bit_cast<float>(v ^ ((h << (31 - k)) & sign));
      }
      out[r * tile_chunk + j] = acc;
    }
  }
}

/// out[j] = tile_value(p[j]...) for j < len.
template <class Isa, class... T>
void tile_values(Isa, std::size_t len, float* out, const T*... p) {
  std::size_t j = 0;
#if defined(FDA_DETAIL_X86_DISPATCH)
  if constexpr (Isa::value != isa::portable && (std::is_same_v<std::remove_const_t<T>, float> && ...)) {
    using f32x16 = float __attribute__((vector_size(64), aligned(4)));
    const float* const first = std::get<0>(std::tie(p...));
    for (; j + tile_group <= len; j += tile_group) {
      f32x16 x;
      load_vec(x, first + j);
      if constexpr (sizeof...(T) == 2) {
        f32x16 y;
        load_vec(y, std::get<1>(std::tie(p...)) + j);
        x -= y;
      }
      store_vec(out + j, x);
    }
  }
#endif
  for (; j < len; ++j) out[j] = tile_value(p[j]...);
}

/// Forward-only readers of host views in lock step: read(lo, n, out) fills out[0, n) with
/// v[lo ..), lo never decreasing between calls.
template <class... V>
class lane_reader {
 public:
  explicit lane_reader(const V&... v) : segments_{v.segments()...} {}

  template <class Isa>
  void read(Isa isa, std::size_t lo, std::size_t n, float* out) {
    std::apply([&](auto&... s) { (s.seek(lo), ...); }, segments_);
    for (std::size_t done = 0; done < n;) {
      std::size_t len = n - done;
      std::apply([&](auto&... s) { ((len = std::min(len, s.left(lo + done))), ...); }, segments_);
      std::apply([&](auto&... s) { tile_values(isa, len, out + done, s.at(lo + done)...); }, segments_);
      done += len;
      std::apply([&](auto&... s) { (s.seek(lo + done), ...); }, segments_);
    }
  }

 private:
  template <class View>
  struct position {
    std::span<const std::span<typename View::element_type>> segments;
    std::size_t seg = 0, start = 0;  // the segment holding the position, and its first index

    explicit position(std::span<const std::span<typename View::element_type>> s) : segments(s) {}
    void seek(std::size_t i) {
      while (seg < segments.size() && start + segments[seg].size() <= i) start += segments[seg++].size();
    }
    std::size_t left(std::size_t i) const { return start + segments[seg].size() - i; }
    const typename View::element_type* at(std::size_t i) const { return segments[seg].data() + (i - start); }
  };
  std::tuple<position<V>...> segments_;
};

/// The cells and sign words of rows [0, depth) for global tiles g0 .. g0 + c − 1: cell[r·
/// tile_chunk + j] = r · width + bucket, sign[r·tile_chunk + j] = the high half of the word.
template <class Isa>
void tile_words(Isa, const tabulation_hash::tables& t, std::size_t depth, std::size_t width, std::uint64_t g0,
                std::size_t c, std::uint32_t* cell, std::uint32_t* sign) {
  for (std::size_t j0 = 0; j0 < c;) {  // runs that stay under one high character b
    const std::uint64_t g = g0 + j0, a = g % tabulation_hash::char_size, b = g / tabulation_hash::char_size;
    const std::size_t m = std::min<std::size_t>(c - j0, tabulation_hash::char_size - a);
    for (std::size_t r = 0; r < depth; ++r) {
      const std::uint64_t *t0 = t.t0.data() + r * t.na + a, *t2 = t.t2.data() + r * t.n2 + a + b, t1 = t.t1[r * t.nb + b];
      std::uint32_t *ce = cell + r * tile_chunk + j0, *si = sign + r * tile_chunk + j0;
      const auto row = std::uint32_t(r * width);
      std::size_t j = 0;
#if defined(FDA_DETAIL_X86_DISPATCH)
      if constexpr (Isa::value != isa::portable) {
        using u64x8 = std::uint64_t __attribute__((vector_size(64), aligned(8)));
        using u32x8 = std::uint32_t __attribute__((vector_size(32), aligned(4)));
        for (; j + 8 <= m; j += 8) {
          u64x8 x0, x2;
          load_vec(x0, t0 + j);
          load_vec(x2, t2 + j);
          const u64x8 y = x0 ^ x2 ^ t1;
          const u32x8 bucket = __builtin_convertvector(((y & 0xffffffffu) * width) >> 32, u32x8) + row;
          const u32x8 high = __builtin_convertvector(y >> 32, u32x8);
          store_vec(ce + j, bucket);
          store_vec(si + j, high);
        }
      }
#endif
      for (; j < m; ++j) {
        const std::uint64_t y = t0[j] ^ t2[j] ^ t1;
        ce[j] = row + tiled_hashes::bucket_of(y, width);
        si[j] = std::uint32_t(y >> 32);
      }
    }
    j0 += m;
  }
}

/// counters += tsk(v), v = a, or v = a − b (tile_value: one rounding to float); returns
/// ||v||² and Σ_t m_t². counters: depth rows of width doubles. Panel by panel, in
/// chunks of 64 tiles: each row's buckets sum the panel's tile sums in tile order (from
/// zero), the panels' bucket sums are added in panel order (from zero), then into counters;
/// the masses are summed in 8 lanes (tile mod 8) per chunk, the chunk totals in order. The result depends only on the values and n: never on the views'
/// segmentation or the instruction set.
template <class... V>
tile_sums tiled_accumulate(const tiled_hashes& hashes, double* counters, const V&... views) {
  static_assert(sizeof...(V) == 1 || sizeof...(V) == 2);
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  if (n == 0) return {};
  const std::size_t depth = hashes.depth, width = hashes.width;
  const auto tables = hashes.tab.covering(tile_ids(n));
  std::vector<double> cells(depth * width, 0.0), panel_cells(depth * width);
  std::vector<float> vals(tile_lanes * panel_tiles + tile_group, 0.0f), sums(depth * tile_chunk);
  std::vector<std::uint32_t> cell(depth * tile_chunk, 0), signs(depth * tile_chunk, 0);
  const tile_sums result = with_isa([&](auto isa) {
    tile_sums total;
    alignas(64) float mass[tile_chunk];
    lane_reader<V...> reader(views...);
    for (std::size_t q = 0; q * tile_lanes * panel_tiles < n; ++q) {
      // The panel's values, lane by lane: one sequential read of the inputs (16 streams
      // far apart ran at a third of the memory bandwidth), then the tiles from L2.
      const tile_panel panel(n, q);
      for (std::size_t k = 0; k < tile_lanes; ++k) {
        float* out = vals.data() + k * panel.stride;
        const std::size_t lo = panel.first + k * panel.stride, len = lo >= panel.end ? 0 : std::min(panel.stride, panel.end - lo);
        reader.read(isa, lo, len, out);
        std::fill(out + len, out + panel.stride, 0.0f);
      }
      std::fill(panel_cells.begin(), panel_cells.end(), 0.0);
      for (std::size_t t0 = 0; t0 < panel.stride; t0 += tile_chunk) {
        const std::size_t c = std::min(tile_chunk, panel.stride - t0), c8 = (c + tile_group - 1) / tile_group * tile_group;
        tile_words(isa, *tables, depth, width, panel.first_tile + t0, c, cell.data(), signs.data());
        tile_sums_of(isa, vals.data() + t0, panel.stride, signs.data(), depth, c8, sums.data(), mass);
        for (std::size_t r = 0; r < depth; ++r)
          for (std::size_t j = 0; j < c; ++j)
            panel_cells[cell[r * tile_chunk + j]] += double(sums[r * tile_chunk + j]);
        double lane_sq[lanes] = {}, lane_mass_sq[lanes] = {};
        for (std::size_t j = 0; j < c; ++j) {
          lane_sq[j % lanes] += double(mass[j]);
          lane_mass_sq[j % lanes] += double(mass[j]) * double(mass[j]);
        }
        total.sq_norm += lane_sum(lane_sq);
        total.mass_sq += lane_sum(lane_mass_sq);
      }
      for (std::size_t i = 0; i < depth * width; ++i) cells[i] += panel_cells[i];
    }
    return total;
  });
  for (std::size_t i = 0; i < depth * width; ++i) counters[i] += cells[i];
  return result;
}

}  // namespace fda::detail

#if defined(__clang__)
#pragma float_control(pop)
#endif
