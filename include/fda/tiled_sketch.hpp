// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The tiled AMS sketch: the AMS sketch's estimate of ||v||² at the cost of a few passes
/// over registers instead of one scattered memory update per element and row.
///
/// A vector of n elements is cut into panels of 16 · 4099 consecutive elements, and each
/// panel into tiles of 16 *strided* elements: tile t of a panel holds lanes k = 0 .. 15,
/// the panel's elements k·P + t, P = 4099 (the last panel: P = ceil(its elements / 16);
/// absent lanes are zero). Tiles are numbered panel by panel (global tile id g). Row r
/// hashes each tile once, y = y_r(g) (64 bits of a tabulation hash, 4-wise independent
/// across tiles, rows independent):
///
///   tsk(v)[r][b_r(g)] += Σ_k s_r(g, k) · (lane k of tile g),   b_r(g) = (low32(y) · width) >> 32,
///                                                               s_r(g, k) = −1 if bit 32 + k of y is set
///   M2 = median_r Σ_j tsk[r][j]²
///
/// The indices are global: a view cut into segments (a model's tensors) is sketched exactly
/// like its concatenation, so how a model is cut never changes a bit of the result.
///
/// Why strided: one bucket and one hash per 16 elements makes a row one signed sum per tile,
/// which vectorizes across tiles (lane k of 16 adjacent tiles is 16 adjacent elements), so
/// the sketch runs at a small multiple of a plain pass (bench/README.md). Tiles of
/// *adjacent* elements vectorize as well but force together coordinates that move together
/// (a layer, a filter), which breaks the estimate (tests/test_tiled_sketch.cpp keeps that
/// layout as the negative control); strided tiles gather coordinates 4099 apart, a prime,
/// so no run shorter than 4099 and no column of a matrix with shorter rows puts two of its
/// coordinates into one tile. Panels keep the 16 lanes within 256 KiB (docs/core.md).
///
/// Accuracy. Signs are 4-wise independent (bits of one uniform word within a tile, 4-wise
/// independent words across tiles), independent of the buckets (disjoint bits), so each
/// row is unbiased and, with m_t the squared norm of tile t and p = P(two tiles share a
/// bucket) ≈ 1/width,
///   Var(row) = 2p (||v||⁴ − Σ_t m_t²) + 2 Σ_t (m_t² − Σ_k v⁴) ≤ (2/width) ||v||⁴ + 2 Σ_t m_t²:
/// the classic sketch's variance plus an in-tile term, negligible unless a few tiles carry
/// the mass. The kernel measures it in the same pass: tile_norm() = (Σ_t m_t²)^(1/4) (a norm
/// of v, so the bound survives merges and scaling), and error_bound() turns it into the
/// relative accuracy ε' = sqrt(1/width + tile_norm()⁴ / M2²) that the policy may use in
/// place of ε = 1/sqrt(width) (docs/core.md).
///
/// The kernel runs in the memory space of the sketched views, through the space's optional
/// primitive space_traits<Space>::tiled_sketch (space.hpp): host views in
/// detail/tiled_sketch_host.hpp, device views in <fda/thrust.hpp>.
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "detail/tiled_sketch_host.hpp"
#include "error.hpp"
#include "kernels.hpp"
#include "params.hpp"
#include "sketch.hpp"

#if defined(__clang__)
#pragma float_control(push)
#pragma clang fp contract(off)
#endif

namespace fda {

/// The hash functions of a tiled sketch shape: what a memory space's tiled_sketch primitive
/// reads (docs/concepts.md: Memory space).
using tiled_hashes = detail::tiled_hashes;
/// ||v||² and Σ_t m_t², returned by a memory space's tiled_sketch primitive.
using tile_sums = detail::tile_sums;

namespace detail {

/// Whether the memory space of views V supplies the tiled_sketch primitive.
template <class... V>
inline constexpr bool has_tiled_sketch =
    requires(const tiled_hashes& h, double* c, const V&... v) { backend_of<V...>::tiled_sketch(h, c, v...); };

/// counters (host memory, depth × width doubles) += tsk(v), v = a or a − b, computed in
/// the views' memory space by its tiled_sketch primitive.
template <class... V>
tile_sums tiled_sketch_in_space(const tiled_hashes& hashes, double* counters, const V&... views) {
  static_assert(sizeof...(V) == 1 || sizeof...(V) == 2);
  using backend = backend_of<V...>;
  if constexpr (has_tiled_sketch<V...>)
    return backend::tiled_sketch(hashes, counters, views...);
  else
    static_assert(always_false<backend>,
                  "fda: this memory space supplies no tiled sketch: give its fda::space_traits a "
                  "tiled_sketch(hashes, counters, views...) primitive (docs/concepts.md, Memory space)");
}

}  // namespace detail

/// A tiled AMS sketch with counters of type T: the interface of fda::ams_sketch (linear,
/// mergeable by `+=` when depth, width and seed are equal), plus the in-tile norm that
/// bounds its extra variance.
template <class T = float>
  requires detail::real<T>
class tiled_sketch : public detail::sketch_counters<T> {
  using base = detail::sketch_counters<T>;

 public:
  /// An all-zero sketch with `depth` rows of `width` counters, hashed from `seed`. Throws
  /// fda::invalid_argument for depth 0 or width outside [2, 65536].
  explicit tiled_sketch(std::size_t depth = 5, std::size_t width = 250, std::uint64_t seed = 0)
      : base("fda::tiled_sketch", depth, width), hashes_("fda::tiled_sketch", depth, width, seed) {}

  /// Rows: the estimate is a median over them.
  std::size_t depth() const noexcept { return hashes_.depth; }
  /// Counters per row: ε = 1/sqrt(width).
  std::size_t width() const noexcept { return hashes_.width; }
  /// The seed every hash function derives from (equal on every worker).
  std::uint64_t seed() const noexcept { return hashes_.seed; }

  /// ε = 1/sqrt(width): the classic sketch's relative accuracy, which this one has when the
  /// mass is spread over many tiles (see error_bound()).
  double epsilon() const noexcept { return 1.0 / std::sqrt(double(width())); }

  /// An upper bound on (Σ_t m_t²)^(1/4) of the sketched vector: exact after one add() to an
  /// empty sketch, then kept by the triangle inequality (+=) and homogeneity (*=).
  double tile_norm() const noexcept { return tile_norm_; }

  /// ε' = sqrt(1/width + tile_norm⁴ / M2²): ε with the in-tile variance added (ε when M2 is 0).
  double error_bound() const {
    const double m2 = base::estimate_sq_norm(), t2 = tile_norm_ * tile_norm_;
    return m2 > 0 ? std::sqrt(1.0 / double(width()) + (t2 / m2) * (t2 / m2)) : epsilon();
  }

  /// this ← this + scale · tsk(v). v must be viewable; its index i is the parameter index.
  template <viewable V>
  tiled_sketch& add(const V& v, double scale = 1.0) {
    std::vector<double> sk(depth() * width(), 0.0);
    const tile_sums s = detail::tiled_sketch_in_space(hashes_, sk.data(), detail::as_view(v));
    base::add_scaled(sk, scale);
    tile_norm_ += std::abs(scale) * std::sqrt(std::sqrt(s.mass_sq));
    return *this;
  }

  /// Merge: the sketch of the sum of the two sketched vectors.
  tiled_sketch& operator+=(const tiled_sketch& other) {
    if (!hashes_.same_shape(other.hashes_))
      base::refuse_merge("fda::tiled_sketch", other.depth(), other.width(), other.seed(), depth(), width(), seed());
    base::merge(other);
    tile_norm_ += other.tile_norm_;
    return *this;
  }

  /// Scaling: tsk(c·v) = c·tsk(v).
  tiled_sketch& operator*=(double c) {
    base::scale(c);
    tile_norm_ *= std::abs(c);
    return *this;
  }

  /// The sketch of the sum (see operator+=).
  friend tiled_sketch operator+(tiled_sketch a, const tiled_sketch& b) { return a += b; }

  /// Back to the sketch of the zero vector; shape and hashes are kept.
  void clear() {
    base::zero();
    tile_norm_ = 0.0;
  }

  /// Equal shape and seed, and bit-equal counters.
  friend bool operator==(const tiled_sketch& a, const tiled_sketch& b) {
    return a.hashes_.same_shape(b.hashes_) && a.same_counters(b);
  }

 private:
  detail::tiled_hashes hashes_;
  double tile_norm_ = 0.0;
};

}  // namespace fda

#if defined(__clang__)
#pragma float_control(pop)
#endif
