// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Variance thresholds Θ: fixed, or adaptive after FDA-Opt (docs/algorithm.md: Thresholds).
#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string_view>
#include <system_error>
#include <variant>

#include "error.hpp"

namespace fda {

/// A fixed Θ chosen by the user (it grows with the model: the paper used 0.5–7 for
/// LeNet-5). A plain double converts to one.
struct fixed {
  double value = 1.0;  ///< Θ: sync when the variance estimate H exceeds it; finite, >= 0
};

/// Θ that tunes itself (FDA-Opt). The first round has a fixed length to calibrate; after
/// each sync with exact variance Var_r after a round of τ_r steps,
///     Θ_next = (τ_target / τ_r) · Var_r,    τ_target = target_fraction · max_round,
/// and a round of max_round steps forces a sync. 0 means "derive from the epoch":
/// first_round = 1 local epoch, max_round = 4 local epochs. (max_drift calibrates on the
/// quantity it compares, max_k ||u_k||², instead of Var: fda::calibration.)
///
/// A round that measures no variance (Var_r = 0: identical workers, or NaN/Inf) says
/// nothing about how fast the workers drift apart, so it never sets Θ: Θ keeps its value,
/// and if no round has calibrated it yet it stays +∞, i.e. rounds simply last max_round
/// steps (no monitoring is sent while Θ is +∞) until a sync measures a positive variance.
/// Θ is therefore never 0 by calibration; the trainer says so in result::notes.
struct adaptive {
  std::size_t first_round = 0;   ///< steps of the calibration round (no monitoring); 0: one local epoch
  std::size_t max_round = 0;     ///< a round this long forces a sync; 0: four local epochs
  double target_fraction = 0.5;  ///< τ_target / max_round, in (0, 1]: the round length Θ aims at
};

/// Either kind of threshold; `linear_fda{.theta = 2.5}` and `{.theta = fda::adaptive{}}`
/// both work. The choice is consulted once per check, never per element.
class threshold {
 public:
  /// A fixed Θ = value; throws fda::invalid_argument unless it is finite and >= 0.
  threshold(double value) : threshold(fixed{value}) {}
  /// A fixed Θ = f.value; throws fda::invalid_argument unless it is finite and >= 0.
  threshold(fixed f) : kind_(f) { detail::require_non_negative("fda::fixed: theta", f.value); }
  /// An adaptive Θ; throws fda::invalid_argument unless target_fraction is in (0, 1].
  threshold(adaptive a) : kind_(a) {
    if (!(a.target_fraction > 0.0 && a.target_fraction <= 1.0))
      detail::fail("fda::adaptive: target_fraction = ", a.target_fraction,
                   " is invalid: it must be in (0, 1]");
  }

  /// True for an adaptive Θ.
  bool is_adaptive() const noexcept { return std::holds_alternative<adaptive>(kind_); }
  /// The adaptive settings, or nullptr for a fixed Θ.
  const adaptive* as_adaptive() const noexcept { return std::get_if<adaptive>(&kind_); }
  /// The fixed Θ, or nullptr for an adaptive one.
  const fixed* as_fixed() const noexcept { return std::get_if<fixed>(&kind_); }

 private:
  std::variant<fixed, adaptive> kind_;
};

/// Reads a threshold as a command line or a configuration file writes it: `adaptive`
/// (FDA-Opt with its defaults) or a finite number >= 0 ("0.5", "7", "1e-3"), the whole
/// text and nothing else (no sign, spaces or hex). Throws fda::invalid_argument quoting the
/// text otherwise.
inline threshold parse_threshold(std::string_view text) {
  if (text == "adaptive") return adaptive{};
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value) || value < 0)
    detail::fail("fda::parse_threshold: \"", text, "\" is invalid: it must be a finite number >= 0 or 'adaptive'");
  return value;
}

namespace detail {

/// The run-time side of a threshold: the current Θ and the round-length rules.
class threshold_state {
 public:
  threshold_state(const char* where, const threshold& t, std::size_t steps_per_epoch) {
    if (const fixed* f = t.as_fixed()) {
      require_non_negative(concat(where, ": theta").c_str(), f->value);
      theta_ = f->value;
      return;
    }
    const adaptive a = *t.as_adaptive();
    if ((a.first_round == 0 || a.max_round == 0) && steps_per_epoch == 0)
      fail(where, ": an adaptive theta needs steps_per_epoch > 0, or explicit first_round and "
                  "max_round");
    adaptive_ = true;
    first_round_ = a.first_round ? a.first_round : steps_per_epoch;
    max_round_ = a.max_round ? a.max_round : 4 * steps_per_epoch;
    target_ = a.target_fraction * double(max_round_);
    if (target_ < 1.0)
      fail(where, ": adaptive target round = ", target_, " steps is invalid: it must be >= 1");
    theta_ = std::numeric_limits<double>::infinity();  // first round: calibrate
  }

  double theta() const noexcept { return theta_; }
  bool is_adaptive() const noexcept { return adaptive_; }

  /// True when the round must end now whatever the estimate says.
  bool forces_sync(std::size_t steps_in_round) const noexcept {
    if (!adaptive_) return false;
    return steps_in_round >= (calibrated_ ? max_round_ : first_round_);
  }

  /// After a sync: the measured quantity (the exact variance, for max_drift the largest
  /// drift) and the round's length in steps. A measure that cannot calibrate (0, NaN or
  /// Inf, or a Θ that would underflow to 0) keeps Θ: +∞ if never calibrated.
  void on_sync(double measure, std::size_t round_steps) {
    if (!adaptive_) return;
    calibrated_ = true;
    const double next = target_ / double(round_steps ? round_steps : 1) * measure;
    if (std::isfinite(next) && next > 0.0 && round_steps > 0) theta_ = next;
  }

  /// Visits what changes during a run (a checkpoint saves and restores exactly this).
  template <class F>
  void state_fields(F&& f) {
    f(theta_);
    f(calibrated_);
  }

 private:
  double theta_ = 0.0;
  bool adaptive_ = false;
  bool calibrated_ = false;
  std::size_t first_round_ = 0;
  std::size_t max_round_ = 0;
  double target_ = 0.0;
};

}  // namespace detail
}  // namespace fda
