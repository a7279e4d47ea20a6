// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The tiled AMS sketch of device views (<fda/thrust.hpp>): the host kernel's map and
/// arithmetic (detail/tiled_sketch_host.hpp), so the device result equals the host's bit
/// for bit. Thrust passes only, the same on the CUDA and the OpenMP back ends:
///   1. one thread per tile: its 16 values (float), its mass, and per row its signed sum
///      and its cell (row · width + bucket);
///   2. one thread per panel and row adding the panel's tile sums into its buckets in tile
///      order, then one thread per cell adding the panels in order, as the host does;
///   3. one thread per chunk of 64 tiles summing the masses in the host's 8 lanes; the
///      chunk totals are added on the host, in order.
/// No atomics, no sort and no fixed point: 16 elements share a hash and a bucket, so a
/// thread per panel and row walks 4099 tiles. (A stable sort of the (cell, sum) pairs did
/// the same with more parallelism, but Thrust's sequential radix sort trips UBSan.)
#include <thrust/for_each.h>

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <vector>

#include "../detail/host_device.hpp"
#include "../detail/tabulation_hash.hpp"
#include "../detail/tiled_sketch_host.hpp"
#include "reduce.hpp"
#include "sketch.hpp"

namespace fda::detail::dev {

/// x · y rounded on its own (nvcc would fuse `acc + x · y` into an FMA; the host's clones
/// are compiled without contraction).
FDA_HOST_DEVICE inline float mul_rn(float x, float y) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(x, y);
#else
  return x * y;
#endif
}

/// Pass 1: tile g's mass, and per row its signed sum and its cell.
template <class A, class... B>
struct tile_pass {
  piece_list pieces;
  std::size_t n = 0, ids = 0, depth = 0, width = 0;
  tabulation_hash::table_ref tables;
  float* sums = nullptr;
  std::uint32_t* cells = nullptr;
  float* mass = nullptr;

  FDA_HOST_DEVICE float value(std::size_t i) const {
    const piece p = pieces.at(pieces.find(i));
    if constexpr (sizeof...(B) == 0) return tile_value(element<0, A>(p, i));
    else return tile_value(element<0, A>(p, i), element<1, B...>(p, i));
  }

  FDA_HOST_DEVICE void operator()(std::size_t g) const {
    const tile_panel panel(n, g / panel_tiles);
    const std::size_t t = g % panel_tiles;
    float v[tile_lanes];
    float m = 0.0f;
    for (std::size_t k = 0; k < tile_lanes; ++k) {
      const std::size_t i = panel.first + k * panel.stride + t;
      v[k] = i < panel.end ? value(i) : 0.0f;
      m += mul_rn(v[k], v[k]);
    }
    mass[g] = m;
    for (std::size_t r = 0; r < depth; ++r) {
      const std::uint64_t y = tables.word(r, g);
      float s = 0.0f;
      for (std::size_t k = 0; k < tile_lanes; ++k) s += (y >> (32 + k)) & 1 ? -v[k] : v[k];
      sums[r * ids + g] = s;
      cells[r * ids + g] = std::uint32_t(r * width + tiled_hashes::bucket_of(y, width));
    }
  }
};

/// Pass 2: row r's buckets of panel p (thread p · depth + r), from zero, adding the panel's
/// tile sums in tile order, as the host does.
struct panel_pass {
  const float* sums = nullptr;
  const std::uint32_t* cells = nullptr;
  std::size_t n = 0, ids = 0, depth = 0, width = 0;
  double* partial = nullptr;  // [panel][r · width + bucket]

  FDA_HOST_DEVICE void operator()(std::size_t i) const {
    const std::size_t p = i / depth, r = i % depth;
    const tile_panel panel(n, p);
    double* out = partial + p * depth * width;
    for (std::size_t b = 0; b < width; ++b) out[r * width + b] = 0.0;
    for (std::size_t t = 0; t < panel.stride; ++t) {
      const std::size_t g = panel.first_tile + t;
      out[cells[r * ids + g]] += double(sums[r * ids + g]);
    }
  }
};

/// Pass 2b: cell c over the panels, in panel order from zero.
struct fold_panels_pass {
  const double* partial = nullptr;
  std::size_t panels = 0, cells = 0;
  double* out = nullptr;

  FDA_HOST_DEVICE void operator()(std::size_t c) const {
    double acc = 0.0;
    for (std::size_t p = 0; p < panels; ++p) acc += partial[p * cells + c];
    out[c] = acc;
  }
};

/// Pass 3: the masses of chunk c (panel c / 65, tiles from (c % 65) · 64) in the host's
/// 8 lanes: ||v||² and Σ m_t² of the chunk (0 for a chunk past its panel's end).
struct chunk_pass {
  const float* mass = nullptr;
  std::size_t n = 0;
  double* sq = nullptr;
  double* mass_sq = nullptr;
  static constexpr std::size_t per_panel = (panel_tiles + tile_chunk - 1) / tile_chunk;

  FDA_HOST_DEVICE void operator()(std::size_t c) const {
    const tile_panel panel(n, c / per_panel);
    const std::size_t t0 = (c % per_panel) * tile_chunk;
    constexpr std::size_t host_lanes = ::fda::detail::lanes;  // 8 (traverse.hpp), not this file's 32
    double a[host_lanes] = {}, b[host_lanes] = {};
    for (std::size_t j = 0; t0 + j < panel.stride && j < tile_chunk; ++j) {
      const double m = double(mass[panel.first_tile + t0 + j]);
      a[j % host_lanes] += m;
      b[j % host_lanes] += mul(m, m);
    }
    sq[c] = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
    mass_sq[c] = ((b[0] + b[4]) + (b[2] + b[6])) + ((b[1] + b[5]) + (b[3] + b[7]));
  }
};

/// counters += tsk(v) for v = a (or a − b) in device memory; returns ||v||² and Σ m_t².
template <class... T, class... S>
tile_sums tiled_sketch(const tiled_hashes& hashes, double* counters, const param_view<T, S>&... views) {
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  if (n == 0) return {};
  const std::size_t ids = tile_ids(n), depth = hashes.depth, pairs = depth * ids, cells = depth * hashes.width;
  const std::size_t panels = (n + tile_lanes * panel_tiles - 1) / (tile_lanes * panel_tiles);
  const std::size_t chunks = panels * chunk_pass::per_panel;
  const auto tables = device_copy(hashes.tab.covering(ids));
  const auto pieces = pieces_of(views...);
  // Scratch, in doubles: the piece table, sums and cells (4 bytes each per pair), masses,
  // the panels' buckets, the counters and the chunk totals.
  const std::size_t table = table_doubles(pieces.size()), half = (pairs + 1) / 2;
  double* base = scratch::mine().doubles(table + 2 * half + (ids + 1) / 2 + panels * cells + cells + 2 * chunks);
  const piece_list list = upload_pieces(pieces, base);
  auto* sums = reinterpret_cast<float*>(base + table);
  auto* cell = reinterpret_cast<std::uint32_t*>(base + table + half);
  auto* mass = reinterpret_cast<float*>(base + table + 2 * half);
  double* partial = base + table + 2 * half + (ids + 1) / 2;
  double* out = partial + panels * cells;
  double* chunk_sq = out + cells;
  launch("tiled sketch", [&] {
    thrust::for_each(policy(), index(0), index(ids),
                     tile_pass<T...>{list, n, ids, depth, hashes.width, tables->ref(), sums, cell, mass});
    thrust::for_each(policy(), index(0), index(panels * depth), panel_pass{sums, cell, n, ids, depth, hashes.width, partial});
    thrust::for_each(policy(), index(0), index(cells), fold_panels_pass{partial, panels, cells, out});
    thrust::for_each(policy(), index(0), index(chunks), chunk_pass{mass, n, chunk_sq, chunk_sq + chunks});
  });
  std::vector<double> result(cells + 2 * chunks);
  download(result.data(), out, result.size());
  finish("tiled sketch");
  for (std::size_t c = 0; c < cells; ++c) counters[c] += result[c];
  tile_sums total;
  for (std::size_t c = 0; c < chunks; ++c) {
    total.sq_norm += result[cells + c];
    total.mass_sq += result[cells + chunks + c];
  }
  return total;
}

}  // namespace fda::detail::dev
