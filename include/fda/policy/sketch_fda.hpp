#pragma once
/// SketchFDA: H = S1 - M2(sk(ū)) / (1 + ε), with sk(ū) = (1/K) Σ_k sk(u_k) (the sketch is
/// linear) and ε = 1/sqrt(width). Local state: ||u_k||² and the depth × width sketch of
/// u_k, computed in one pass over w and w0.
///
/// H ≥ Var holds with high probability, not always: at depth 5, width 250 in about 92%
/// of checks (tests/test_policy.cpp prints the measured fraction), so SketchFDA may
/// notice a threshold crossing a little late; a greater depth buys confidence.
#include <algorithm>
#include <cmath>
#include <string_view>

#include "../sketch.hpp"
#include "threshold_monitor.hpp"

namespace fda {

struct sketch_fda {
  static constexpr std::string_view name = "sketch_fda";
  threshold theta = adaptive{};
  std::size_t depth = 5;
  std::size_t width = 250;

  struct estimator {
    estimator(const sketch_fda& p, const run_info& info)
        : hashes("fda::sketch_fda", p.depth, p.width, info.seed ^ 0x5ce7c4fdaULL),
          epsilon(1.0 / std::sqrt(double(p.width))) {}
    detail::sketch_hashes hashes;
    double epsilon;

    std::size_t state_size() const { return 1 + hashes.depth * hashes.width; }
    std::size_t state_bytes() const { return 4 * state_size(); }
    const char* field_name(std::size_t i) const { return i == 0 ? "sq_norm" : "sketch"; }
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double) const {
      detail::require_same_size("fda::sketch_fda", {"w", "w0"}, w, w0);
      std::fill(out.begin(), out.end(), 0.0);
      out[0] = detail::sketch_accumulate(hashes, out.data() + 1, w, w0);
    }
    decision judge(std::span<const double> s, std::size_t k, double theta) const {
      const double inv = 1.0 / double(k);
      const double m2 = detail::median_row_energy(s.subspan(1), hashes.depth, hashes.width);
      const double h = s[0] * inv - m2 * inv * inv / (1.0 + epsilon);
      return {h > theta, h};
    }
    template <class X, class Xp>
    void on_sync(const X&, const Xp&) {}
  };

  template <class T>
  using monitor = detail::threshold_monitor<sketch_fda, estimator>;
};

}  // namespace fda
