// SPDX-License-Identifier: Apache-2.0
#pragma once
/// SketchFDA: H = S1 - M2(sk(ū)) / (1 + ε), with sk(ū) = (1/K) Σ_k sk(u_k) (the sketch is
/// linear) and ε = 1/sqrt(width). Local state: ||u_k||² and the depth × width sketch of
/// u_k, computed in one pass over w and w0.
///
/// H ≥ Var holds with high probability, not always: at depth 5, width 250 in about 92%
/// of checks (tests/test_policy.cpp prints the measured fraction), so SketchFDA may
/// notice a threshold crossing a little late; a greater depth buys confidence.
///
/// The sketch is the classic AMS sketch (sketch.hpp) or, with `.sketch =
/// fda::sketch_kind::tiled`, the tiled one (tiled_sketch.hpp: 16 elements per hash and
/// bucket, a small multiple of a plain pass). Its state carries one more value, the
/// worker's tile norm r, and ε becomes the data-dependent ε' = sqrt(1/width + r⁴ / M2²)
/// (r of the average ≤ the average of the workers' r: it is a norm), a guard against
/// drift packed into a few tiles; `.tile_bound = false` drops it.
#include <algorithm>
#include <cmath>
#include <string_view>

#include "../sketch.hpp"
#include "../tiled_sketch.hpp"
#include "threshold_monitor.hpp"

namespace fda {

/// Which AMS sketch sketch_fda uses.
enum class sketch_kind {
  classic,  ///< fda::ams_sketch: every element hashed into every row (the default)
  tiled,    ///< fda::tiled_sketch: 16 strided elements per hash and bucket, 3-5x cheaper
};

/// SketchFDA: sync when H = (1/K) Σ_k ||u_k||² - M2((1/K) Σ_k sk(u_k)) / (1 + ε) > Θ,
/// ε = 1/sqrt(width); H ≥ Var with high probability (about 9 checks in 10 at depth 5).
struct sketch_fda {
  static constexpr std::string_view name = "sketch_fda";  ///< the policy's name in logs and errors
  threshold theta = adaptive{};  ///< Θ: a number (fixed) or fda::adaptive{} (the default: FDA-Opt's rule)
  std::size_t depth = 5;    ///< sketch rows: M2 is their median (7 or 9 buy confidence)
  std::size_t width = 250;  ///< counters per row, in [2, 65536]: ε = 1/sqrt(width)
  sketch_kind sketch = sketch_kind::classic;  ///< the classic AMS sketch or the tiled one
  /// Tiled sketch: judge with ε' = sqrt(1/width + r⁴/M2²), r ≤ the workers' mean tile norm
  /// (sent as one more value), instead of ε. On by default: without it a drift packed
  /// into a few tiles (any model of d ≲ 16 · width) breaks H ≥ Var (the conformance suite's
  /// d = 16: 80% of trials instead of ≥ 90%). Off saves 4 bytes a check and, on non-IID
  /// data, some early syncs (docs/core.md), for models whose drift spreads over many tiles.
  bool tile_bound = true;

  /// What a worker sends and how the summed states become a decision.
  struct estimator {
    /// The hash functions of the sketch, derived from info.seed (equal on every worker).
    estimator(const sketch_fda& p, const run_info& info)
        : hashes("fda::sketch_fda", p.depth, p.width, info.seed ^ 0x5ce7c4fdaULL),
          tiled("fda::sketch_fda", p.depth, p.width, info.seed ^ 0x5ce7c4fdaULL),
          kind(checked(p.sketch)),
          tile_bound(checked_bound(p)),
          epsilon(1.0 / std::sqrt(double(p.width))) {}
    detail::sketch_hashes hashes;  ///< the classic sketch's bucket and sign hashes, shared read-only
    detail::tiled_hashes tiled;    ///< the tiled sketch's, shared read-only
    sketch_kind kind;              ///< which of the two the state holds
    bool tile_bound;               ///< the state ends with the tile norm, and ε' is used
    double epsilon;                ///< ε = 1/sqrt(width)

    /// 1 + depth·width values per worker (||u_k||² and the counters of sk(u_k)), and the
    /// tile norm of u_k last with tile_bound.
    std::size_t state_size() const { return 1 + hashes.depth * hashes.width + tile_bound; }
    /// 4 bytes per value of the state in the cost model.
    std::size_t state_bytes() const { return 4 * state_size(); }
    /// "sq_norm" for value 0, "sketch" for the counters, "tile_norm" for the last value with tile_bound.
    const char* field_name(std::size_t i) const {
      return i == 0 ? "sq_norm" : tile_bound && i + 1 == state_size() ? "tile_norm" : "sketch";
    }
    /// ||u_k||² and the tile norm can never be negative (a negative one is a faulty state).
    bool non_negative(std::size_t field) const { return field == 0 || (tile_bound && field + 1 == state_size()); }
    /// out = {||u||², sk(u) [, r(u)]} with u = w - w0, in one pass over w and w0.
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double) const {
      detail::require_same_size("fda::sketch_fda", {"w", "w0"}, w, w0);
      std::fill(out.begin(), out.end(), 0.0);
      if (kind == sketch_kind::classic) {
        out[0] = detail::sketch_in_space(hashes, out.data() + 1, w, w0);
      } else if constexpr (!detail::has_tiled_sketch<W, W0>) {
        detail::fail("fda::sketch_fda: sketch = tiled, but the parameters' memory space supplies no "
                     "tiled_sketch primitive (docs/concepts.md, Memory space): use sketch_kind::classic");
      } else {
        const tile_sums s = detail::tiled_sketch_in_space(tiled, out.data() + 1, w, w0);
        out[0] = s.sq_norm;
        if (tile_bound) out.back() = std::sqrt(std::sqrt(s.mass_sq));
      }
    }
    /// H = s[0]/k - M2(s[1..]/k) / (1 + ε), M2 the median over rows of Σ_j S[r][j]², ε the
    /// data-dependent ε' with tile_bound; sync when H > Θ.
    decision judge(std::span<const double> s, std::size_t k, double theta) const {
      const double inv = 1.0 / double(k);
      const double m2 = detail::median_row_energy(s.subspan(1, hashes.depth * hashes.width), hashes.depth, hashes.width) * inv * inv;
      double eps = epsilon;
      if (tile_bound && m2 > 0) {
        const double r2 = (s.back() * inv) * (s.back() * inv);
        eps = std::sqrt(epsilon * epsilon + (r2 / m2) * (r2 / m2));
      }
      const double h = s[0] * inv - m2 / (1.0 + eps);
      return {h > theta, h};
    }
    /// Nothing to update at a sync (the hashes never change).
    template <class X, class Xp>
    void on_sync(const X&, const Xp&) {}
  };

  /// Whether the state carries the tile norm: tile_bound, with the tiled sketch only (the
  /// classic sketch has no in-tile term).
  static bool checked_bound(const sketch_fda& p) { return p.tile_bound && p.sketch == sketch_kind::tiled; }

  /// The sketch kind, checked (a value outside the enum is refused, naming it).
  static sketch_kind checked(sketch_kind k) {
    if (k != sketch_kind::classic && k != sketch_kind::tiled)
      detail::fail("fda::sketch_fda: sketch = ", int(k), " is not a sketch_kind (classic or tiled)");
    return k;
  }

  /// Space: where the parameters live; the sketch runs there (the state is host memory).
  template <class T, class Space = host_space>
  using monitor = threshold_monitor<sketch_fda, estimator>;
};

}  // namespace fda
