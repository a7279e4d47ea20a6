// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The hash functions of an AMS sketch shape (depth, width, seed): which cell and sign every
/// row gives each parameter index. Shared by every sketch kernel (host: sketch_host.hpp;
/// device: <fda/thrust.hpp>) and by sketch_fda. The hashing itself: tabulation_hash.hpp;
/// the cell and sign of a row value: sketch.hpp's header comment.
#include <cstddef>
#include <cstdint>

#include "../error.hpp"
#include "host_device.hpp"
#include "tabulation_hash.hpp"

namespace fda::detail {

inline constexpr std::size_t sketch_max_width = std::size_t{1} << 16;
inline constexpr std::size_t sketch_max_depth = 32767;  // (depth + 1) · 2 · width ≤ 2^32

/// Throws fda::invalid_argument, naming `where` and the value, unless depth is in
/// [1, 32767] and width in [2, 65536] (every sketch kind's shape).
inline void check_sketch_shape(const char* where, std::size_t depth, std::size_t width) {
  if (depth == 0) fail(where, ": depth = 0 is invalid: a sketch needs at least one row");
  if (depth > sketch_max_depth)
    fail(where, ": depth = ", depth, " is invalid: it must be in [1, 32767] (the kernel indexes ",
         "the cells of all rows with 32 bits)");
  if (width < 2 || width > sketch_max_width)
    fail(where, ": width = ", width, " is invalid: it must be in [2, 65536] (the sketch's hash ",
         "maps 32 random bits to 2 · width cells, within 3e-5 of uniform up to that width)");
}

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

  /// The cell in [0, 2 · width) of row r at index i, from the definition (no tables): what
  /// every sketch kernel computes (a memory space's sketch primitive may call it).
  std::uint64_t cell(std::size_t r, std::uint64_t i) const { return cell_of(row_value(r, i), 2 * width); }

 private:
  static std::size_t words_for(const char* where, std::size_t depth, std::size_t width) {
    check_sketch_shape(where, depth, width);
    return (depth + 1) / 2;
  }
};

}  // namespace fda::detail
