// SPDX-License-Identifier: Apache-2.0
#pragma once
// A synthetic worker for transport and checkpoint tests: float parameters (in one or several
// tensors) that drift by deterministic rank-dependent noise, so syncs happen and models differ.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <fda/checkpoint.hpp>
#include <fda/detail/average_share.hpp>
#include <fda/detail/splitmix.hpp>

namespace fda_test {

/// A deterministic noise word for (seed): splitmix64's first word of the stream at seed.
inline std::uint64_t mix(std::uint64_t seed) { return fda::detail::splitmix64(seed); }

/// A worker whose model drifts by rank-dependent noise plus a pull towards a rank-dependent
/// target: syncs happen, models differ, and the parameters are float, split in `tensors`
/// pieces (several pieces: the ordered average packs them; one: it sends them in place).
struct drifting_worker {
  std::size_t rank, dim, tensors;
  std::vector<std::vector<float>> w;
  std::size_t t = 0;
  std::size_t n_samples = 10 + 7 * rank;
  std::size_t poison_at = 0;  // the step at which this worker's parameters become NaN

  drifting_worker(std::size_t r, std::size_t d, std::size_t pieces = 1) : rank(r), dim(d), tensors(pieces) {
    for (std::size_t p = 0; p < pieces; ++p) {
      const auto [lo, hi] = fda::detail::share_of(d, pieces, p);
      w.emplace_back(hi - lo, float(r) * 0.5f);
    }
  }
  std::vector<std::vector<float>>& params() { return w; }
  void step() {
    ++t;
    std::size_t i = 0;
    for (auto& tensor : w)
      for (auto& x : tensor) {
        const double noise = double(mix(rank * 1000003 + t * 7919 + i) >> 11) * 0x1.0p-53 - 0.5;
        const double target = std::sin(double(i) + double(rank));
        x = float(x + 0.05 * noise + 0.01 * (target - x));
        ++i;
      }
    if (t == poison_at) w[0][0] = std::numeric_limits<float>::quiet_NaN();
  }
  std::size_t samples() const { return n_samples; }

  // Checkpoints: the step counter is the worker's only state beyond its parameters.
  void save(fda::checkpoint_writer& out) const { out(std::uint64_t(t)); }
  void load(fda::checkpoint_reader& in) { t = in.get<std::uint64_t>(); }
};

}  // namespace fda_test
