// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Plain averaging (FedAvg): x ← x + Δ = avg.
#include <cstddef>
#include <string>
#include <string_view>

#include "aggregator.hpp"

namespace fda {

namespace detail {
/// x ← avg; no server memory. `replaces_model` tells the trainer that the new global
/// model is the average itself, so it may take the averaging buffer instead of copying.
template <class T>
class mean_state {
 public:
  static constexpr bool replaces_model = true;

  mean_state(const auto& /*config*/, std::size_t dim) : dim_(dim) {}

  template <viewable X, viewable Avg>
  void apply(X&& x, const Avg& avg) {
    server_pass(
        "fda::mean", dim_, [](auto& xi, auto ai) { store(xi, double(ai)); }, x, avg);
  }

 private:
  std::size_t dim_;
};
}  // namespace detail

/// FedAvg: the new global model is the workers' plain mean, x ← (1/K) Σ_k w_k.
struct mean {
  static constexpr std::string_view name = "mean";  ///< in checkpoints' run record and logs
  /// "mean" (no settings).
  std::string describe() const { return std::string(name); }
  /// The server state for T parameters: none; `apply(x, avg)` sets x ← avg.
  template <class T>
  using state = detail::mean_state<T>;
};

/// FedAvg with the mean weighted by sample counts: x ← Σ_k n_k w_k / Σ_k n_k.
/// The update is the same; only the trainer's mean differs (weights_by_samples is true).
struct weighted_mean {
  static constexpr bool weighted = true;  ///< tells the trainer to weight the mean by samples()
  static constexpr std::string_view name = "weighted_mean";  ///< in checkpoints' run record and logs
  /// "weighted_mean" (no settings).
  std::string describe() const { return std::string(name); }
  /// The server state for T parameters: none; `apply(x, avg)` sets x ← avg.
  template <class T>
  using state = detail::mean_state<T>;
};

}  // namespace fda
