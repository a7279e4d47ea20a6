// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Adaptive server optimizers (Reddi et al., "Adaptive Federated Optimization", ICLR 2021).
/// With Δ = avg - x, all three do
///     m ← β1 m + (1-β1) Δ;   v ← rule(v, Δ²);   x ← x + η m / (sqrt(v) + τ)
/// from m = 0, v = τ², without bias correction; they differ only in the v-rule:
///     FedAdagrad  v ← v + Δ²
///     FedAdam     v ← β2 v + (1-β2) Δ²
///     FedYogi     v ← v - (1-β2) Δ² sign(v - Δ²)
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator.hpp"

namespace fda {

namespace detail {

struct adagrad_rule {
  static constexpr const char* name = "fda::fedadagrad";
  static double next_v(double v, double d2, double /*beta2*/) { return v + d2; }
};

struct adam_rule {
  static constexpr const char* name = "fda::fedadam";
  static double next_v(double v, double d2, double beta2) { return beta2 * v + (1 - beta2) * d2; }
};

/// Yogi moves v towards Δ² by a step of at most (1-β2) Δ², so v stays > 0 and shrinks slowly.
struct yogi_rule {
  static constexpr const char* name = "fda::fedyogi";
  static double next_v(double v, double d2, double beta2) {
    const double sign = double((v > d2) - (v < d2));
    return v - (1 - beta2) * d2 * sign;
  }
};

/// The shared server state of the three (Config: fedadagrad, fedadam or fedyogi).
template <class Rule, class Config, class T>
class fedopt_state {
 public:
  std::vector<T> m;  ///< first moment, starts at 0
  std::vector<T> v;  ///< second-moment accumulator, starts at τ²

  fedopt_state(const Config& c, std::size_t dim)
      : m(dim, T(0)), v(dim, T(c.tau * c.tau)), lr_(c.lr), beta1_(c.beta1), tau_(c.tau) {
    const std::string n = Rule::name;
    require_positive((n + ": lr").c_str(), c.lr);
    require_fraction((n + ": beta1").c_str(), c.beta1);
    if constexpr (requires { c.beta2; }) {
      require_fraction((n + ": beta2").c_str(), c.beta2);
      beta2_ = c.beta2;
    }
    require_positive((n + ": tau").c_str(), c.tau);
  }

  /// Visits what changes during a run (checkpoints).
  template <class F>
  void state_fields(F&& f) {
    f(m);
    f(v);
  }

  template <viewable X, viewable Avg>
  void apply(X&& x, const Avg& avg) {
    const double lr = lr_, b1 = beta1_, b2 = beta2_, tau = tau_;
    server_pass(
        Rule::name, m.size(),
        [=](auto& xi, auto ai, T& mi, T& vi) {
          const double x0 = double(xi), d = double(ai) - x0;
          const double m1 = b1 * double(mi) + (1 - b1) * d;
          const double v1 = Rule::next_v(double(vi), d * d, b2);
          store(mi, m1);
          store(vi, v1);
          store(xi, x0 + lr * m1 / (std::sqrt(v1) + tau));
        },
        x, avg, m, v);
  }

 private:
  double lr_, beta1_, tau_, beta2_ = 0.0;
};

}  // namespace detail

/// FedAdagrad: v accumulates Δ², so the server step shrinks where updates were large.
/// v ← v + Δ².
struct fedadagrad {
  double lr = 0.1;     ///< server learning rate η
  double beta1 = 0.9;  ///< β1, decay of the first moment m
  double tau = 1e-3;   ///< τ, adaptivity: the step is η m / (sqrt(v) + τ); v starts at τ²
  bool weighted = false;  ///< weight the workers' mean by their sample counts
  /// The server state for T parameters: m and v (d values each, starting at 0 and τ²) and
  /// `apply(x, avg)`: with Δ = avg - x, m ← β1 m + (1-β1) Δ, then v as above, then
  /// x ← x + η m / (sqrt(v) + τ). Throws fda::invalid_argument for η, τ ≤ 0, a β outside
  /// [0, 1), or any setting not finite.
  template <class T>
  using state = detail::fedopt_state<detail::adagrad_rule, fedadagrad, T>;

  static constexpr std::string_view name = "fedadagrad";  ///< in checkpoints' run record and logs
  /// "fedadagrad{lr=0.1, beta1=0.9, tau=0.001, weighted=false}": every setting, each double
  /// in its shortest round-trip form.
  std::string describe() const {
    return detail::description(name)("lr", lr)("beta1", beta1)("tau", tau)("weighted", weighted).str();
  }
};

/// FedAdam: v is an exponential average of Δ².
/// v ← β2 v + (1-β2) Δ².
struct fedadam {
  double lr = 0.01;    ///< server learning rate η
  double beta1 = 0.9;  ///< β1, decay of the first moment m
  double beta2 = 0.99; ///< β2, decay of the second moment v
  double tau = 1e-3;   ///< τ, adaptivity: the step is η m / (sqrt(v) + τ); v starts at τ²
  bool weighted = false;  ///< weight the workers' mean by their sample counts
  /// The server state for T parameters: m and v (d values each, starting at 0 and τ²) and
  /// `apply(x, avg)`: with Δ = avg - x, m ← β1 m + (1-β1) Δ, then v as above, then
  /// x ← x + η m / (sqrt(v) + τ). Throws fda::invalid_argument for η, τ ≤ 0, a β outside
  /// [0, 1), or any setting not finite.
  template <class T>
  using state = detail::fedopt_state<detail::adam_rule, fedadam, T>;

  static constexpr std::string_view name = "fedadam";  ///< in checkpoints' run record and logs
  /// "fedadam{lr=0.01, beta1=0.9, beta2=0.99, tau=0.001, weighted=false}": every setting,
  /// each double in its shortest round-trip form.
  std::string describe() const {
    return detail::description(name)("lr", lr)("beta1", beta1)("beta2", beta2)("tau", tau)("weighted", weighted).str();
  }
};

/// FedYogi: like FedAdam, but v changes additively (Zaheer et al. 2018), never collapsing.
/// v ← v - (1-β2) Δ² · sign(v - Δ²).
struct fedyogi {
  double lr = 0.01;    ///< server learning rate η
  double beta1 = 0.9;  ///< β1, decay of the first moment m
  double beta2 = 0.99; ///< β2, rate at which v moves towards Δ²
  double tau = 1e-3;   ///< τ, adaptivity: the step is η m / (sqrt(v) + τ); v starts at τ²
  bool weighted = false;  ///< weight the workers' mean by their sample counts
  /// The server state for T parameters: m and v (d values each, starting at 0 and τ²) and
  /// `apply(x, avg)`: with Δ = avg - x, m ← β1 m + (1-β1) Δ, then v as above, then
  /// x ← x + η m / (sqrt(v) + τ). Throws fda::invalid_argument for η, τ ≤ 0, a β outside
  /// [0, 1), or any setting not finite.
  template <class T>
  using state = detail::fedopt_state<detail::yogi_rule, fedyogi, T>;

  static constexpr std::string_view name = "fedyogi";  ///< in checkpoints' run record and logs
  /// "fedyogi{lr=0.01, beta1=0.9, beta2=0.99, tau=0.001, weighted=false}": every setting,
  /// each double in its shortest round-trip form.
  std::string describe() const {
    return detail::description(name)("lr", lr)("beta1", beta1)("beta2", beta2)("tau", tau)("weighted", weighted).str();
  }
};

}  // namespace fda
