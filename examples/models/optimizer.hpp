// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Client optimizers: what each worker runs between synchronizations, on a model's flat
/// params/grads vectors (any contiguous float or double buffers, as std::span). The
/// updates are PyTorch's (torch.optim.SGD and Adam, no weight decay), operation for
/// operation, so runs compare with the literature.
///
/// At a synchronization FDA overwrites the local model with the global one; the optimizer
/// state is local and may be kept or reset(). We recommend KEEPING it (do not call
/// reset() at a sync): FDA syncs when the drift ‖w − w0‖ crosses its threshold, so the
/// new model is close to the old one and the moment estimates stay valid. Resetting Adam
/// restarts its bias correction, whose first steps are ≈ lr·sign(g) on every coordinate:
/// a jolt after every sync. reset() is there for experiments that want a fresh optimizer
/// per round (FedAvg-style clients).
#include <Eigen/Core>
#include <fda/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace fda::models {

namespace detail {
inline void check_sizes(std::size_t params, std::size_t grads, std::size_t state) {
  if (params != grads || (state != 0 && state != params))
    throw std::invalid_argument("fda::models: optimizer params, grads and state differ in size");
}

/// The learning rate's check, shared by both optimizers and by set_lr: a NaN, infinite or
/// non-positive rate would silently turn every parameter NaN or make the step a no-op.
inline void require_lr(const char* optimizer, double lr) {
  fda::require_positive((std::string(optimizer) + ": lr").c_str(), lr);
}
}  // namespace detail

/// SGD with (optionally Nesterov) momentum μ, on each coordinate:
///   v ← μ v + g,   w ← w − lr (g + μ v)  with Nesterov,  w ← w − lr v  without.
/// μ = 0 is plain SGD and keeps no state. The settings are checked when made and when
/// set_lr changes them: lr finite > 0, momentum in [0, 1) (μ ≥ 1 makes v grow without
/// bound); fda::invalid_argument names the field and the value.
template <class T = float>
class sgd {
 public:
  struct options {
    double lr = 0.01;
    double momentum = 0.0;
    bool nesterov = false;  ///< with momentum 0 it changes nothing (plain SGD)
  };

  sgd() = default;
  explicit sgd(options o) : opt_(o) {
    detail::require_lr("fda::models::sgd", opt_.lr);
    fda::require_fraction("fda::models::sgd: momentum", opt_.momentum);
  }

  const options& settings() const { return opt_; }
  /// The learning rate may change between steps (schedules); it is checked as lr is.
  void set_lr(double lr) {
    detail::require_lr("fda::models::sgd", lr);
    opt_.lr = lr;
  }

  void step(std::span<T> w, std::span<const T> g) {
    detail::check_sizes(w.size(), g.size(), v_.size());
    const T lr = T(opt_.lr), mu = T(opt_.momentum);
    if (opt_.momentum == 0) {
      for (std::size_t i = 0; i < w.size(); ++i) w[i] -= lr * g[i];
      return;
    }
    if (v_.empty()) v_.assign(w.size(), T(0));
    if (opt_.nesterov) {
      for (std::size_t i = 0; i < w.size(); ++i) {
        v_[i] = mu * v_[i] + g[i];
        w[i] -= lr * (g[i] + mu * v_[i]);
      }
    } else {
      for (std::size_t i = 0; i < w.size(); ++i) {
        v_[i] = mu * v_[i] + g[i];
        w[i] -= lr * v_[i];
      }
    }
  }
  void step(std::vector<T>& w, const std::vector<T>& g) {
    step(std::span<T>(w), std::span<const T>(g));
  }

  /// Forgets the momentum (v ← 0).
  void reset() { v_.clear(); }
  /// The momentum buffer v (empty before the first step or without momentum).
  const std::vector<T>& velocity() const { return v_; }
  /// Visits the state a checkpoint must keep: the momentum buffer.
  template <class F>
  void state_fields(F&& f) {
    f(v_);
  }

 private:
  options opt_;
  std::vector<T> v_;
};

/// Adam (Kingma & Ba 2015), bias-corrected, at step t = 1, 2, ...:
///   m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²,
///   w ← w − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
/// (that is lr · m̂ / (√v̂ + ε), evaluated as PyTorch does). The settings are checked
/// when made and by set_lr: lr and eps finite > 0 (eps = 0 divides 0 by 0 on a coordinate
/// whose gradients were all 0), beta1 and beta2 in [0, 1) (β = 1 makes 1 − βᵗ = 0 in the
/// bias correction); fda::invalid_argument names the field and the value.
template <class T = float>
class adam {
 public:
  struct options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
  };

  adam() = default;
  explicit adam(options o) : opt_(o) {
    detail::require_lr("fda::models::adam", opt_.lr);
    fda::require_fraction("fda::models::adam: beta1", opt_.beta1);
    fda::require_fraction("fda::models::adam: beta2", opt_.beta2);
    fda::require_positive("fda::models::adam: eps", opt_.eps);
  }

  const options& settings() const { return opt_; }
  /// The learning rate may change between steps (schedules); it is checked as lr is.
  void set_lr(double lr) {
    detail::require_lr("fda::models::adam", lr);
    opt_.lr = lr;
  }

  void step(std::span<T> w, std::span<const T> g) {
    detail::check_sizes(w.size(), g.size(), m_.size());
    if (m_.empty()) {
      m_.assign(w.size(), T(0));
      v_.assign(w.size(), T(0));
    }
    ++t_;
    const double c1 = 1 - std::pow(opt_.beta1, double(t_));
    const double c2 = 1 - std::pow(opt_.beta2, double(t_));
    // The constants are rounded to T once, from double, as PyTorch does.
    const T b1 = T(opt_.beta1), one_b1 = T(1 - opt_.beta1);
    const T b2 = T(opt_.beta2), one_b2 = T(1 - opt_.beta2), eps = T(opt_.eps);
    const T step_size = T(opt_.lr / c1), sqrt_c2 = T(std::sqrt(c2));
    // Eigen's sqrt is the vector instruction; std::sqrt in a loop is not vectorized (it
    // may set errno), which made this step 5× slower. Blocks of 1024 keep the three
    // passes in L1.
    using array = Eigen::Array<T, Eigen::Dynamic, 1>;
    for (std::size_t at = 0; at < w.size(); at += 1024) {
      const auto len = Eigen::Index(std::min<std::size_t>(1024, w.size() - at));
      Eigen::Map<array> wb(w.data() + at, len), mb(m_.data() + at, len), vb(v_.data() + at, len);
      const Eigen::Map<const array> gb(g.data() + at, len);
      mb = b1 * mb + one_b1 * gb;
      vb = b2 * vb + one_b2 * gb * gb;
      wb -= step_size * (mb / (vb.sqrt() / sqrt_c2 + eps));
    }
  }
  void step(std::vector<T>& w, const std::vector<T>& g) {
    step(std::span<T>(w), std::span<const T>(g));
  }

  /// Forgets the moments and restarts the bias correction (t ← 0).
  void reset() {
    m_.clear();
    v_.clear();
    t_ = 0;
  }
  long steps() const { return t_; }
  const std::vector<T>& first_moment() const { return m_; }
  const std::vector<T>& second_moment() const { return v_; }
  /// Visits the state a checkpoint must keep: both moments and the step count.
  template <class F>
  void state_fields(F&& f) {
    f(m_);
    f(v_);
    f(t_);
  }

 private:
  options opt_;
  std::vector<T> m_, v_;
  long t_ = 0;
};

}  // namespace fda::models
