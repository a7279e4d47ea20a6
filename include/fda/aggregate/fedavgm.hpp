// SPDX-License-Identifier: Apache-2.0
#pragma once
/// FedAvgM, server momentum (Hsu, Qi, Brown 2019):  m ← β m + Δ;  x ← x + η m.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator.hpp"

namespace fda {

/// Server SGD with momentum on the pseudo-gradient -Δ. lr η > 0, momentum β in [0, 1).
/// With η = 1 and β = 0 it is plain averaging.
struct fedavgm {
  double lr = 1.0;        ///< server learning rate η > 0
  double momentum = 0.9;  ///< β in [0, 1)
  bool weighted = false;  ///< weight the workers' mean by their sample counts

  static constexpr std::string_view name = "fedavgm";  ///< in checkpoints' run record and logs
  /// "fedavgm{lr=1, momentum=0.9, weighted=false}": every setting, each double in its
  /// shortest round-trip form.
  std::string describe() const {
    return detail::description(name)("lr", lr)("momentum", momentum)("weighted", weighted).str();
  }

  /// The server state for T parameters: the momentum m, carried from sync to sync.
  template <class T>
  class state {
   public:
    std::vector<T> m;  ///< momentum buffer, starts at 0

    /// m = 0 for `dim` parameters; throws fda::invalid_argument for η ≤ 0, β outside [0, 1)
    /// or either not finite.
    state(const fedavgm& config, std::size_t dim)
        : m(dim, T(0)), lr_(config.lr), beta_(config.momentum) {
      detail::require_positive("fda::fedavgm: lr", config.lr);
      detail::require_fraction("fda::fedavgm: momentum", config.momentum);
    }

    /// Visits what changes during a run (checkpoints).
    template <class F>
    void state_fields(F&& f) {
      f(m);
    }

    /// One sync: with Δ = avg - x, m ← β m + Δ, then x ← x + η m.
    template <viewable X, viewable Avg>
    void apply(X&& x, const Avg& avg) {
      const double lr = lr_, beta = beta_;
      detail::server_pass(
          "fda::fedavgm", m.size(),
          [=](auto& xi, auto ai, T& mi) {
            const double x0 = double(xi);
            const double m1 = beta * double(mi) + (double(ai) - x0);
            detail::store(mi, m1);
            detail::store(xi, x0 + lr * m1);
          },
          x, avg, m);
    }

   private:
    double lr_, beta_;
  };
};

}  // namespace fda
