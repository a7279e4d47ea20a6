// SPDX-License-Identifier: Apache-2.0
// A sync policy that is not in the library, written on the public protocol, trained, and
// checked by the conformance suite.
//
// bounded_linear_fda: LinearFDA's estimate H = (1/K) Σ ||u_k||² − ((1/K) Σ ξ·u_k)² / ||ξ||²
// (an upper bound of the models' variance), with a bound on staleness: sync when H > Θ,
// or when the round has lasted max_staleness steps, whichever comes first. The estimator
// follows fda::threshold_monitor's protocol (what a worker sends, how the summed states
// become a decision, what a checkpoint keeps); the monitor is fda::threshold_monitor with
// one more rule in decide().
//
// Prints the runs, the conformance report, and "custom_policy: conformance PASSED" (exit 0)
// or "custom_policy: conformance FAILED" (exit 1).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fda/fda.hpp>
#include <fda/testing.hpp>
#include <iostream>
#include <random>
#include <span>
#include <string_view>
#include <vector>

struct bounded_linear_fda {
  static constexpr std::string_view name = "bounded_linear_fda";  // logs, errors, checkpoints
  fda::threshold theta = 0.5;                                     // Θ: a number, or fda::adaptive{}
  std::size_t max_staleness = 20;                                 // a round lasts at most this many steps

  /// What a worker sends: ||u_k||² and ξ·u_k; how the summed states become H.
  template <class T>
  struct estimator {
    std::vector<T> xi;        // the direction of the last global step (read-only in a round)
    double xi_sq_norm = 1.0;  // ||ξ||² of the stored ξ, which H divides by

    /// ξ of the first round: a random unit vector drawn from the run's seed, so every
    /// worker draws the same one without communicating.
    estimator(const bounded_linear_fda& p, const fda::run_info& info) : xi(info.dim) {
      if (p.max_staleness == 0) throw fda::invalid_argument("bounded_linear_fda: max_staleness must be >= 1");
      std::mt19937_64 rng(info.seed ^ 0xb0d1ea5eULL);  // (raw draws: the same on every platform)
      for (auto& x : xi) x = T(double(rng() >> 11) * 0x1p-53 - 0.5);
      normalize();
    }
    std::size_t state_size() const { return 2; }
    std::size_t state_bytes() const { return 8; }  // two floats in the cost model
    const char* field_name(std::size_t i) const { return i == 0 ? "sq_norm" : "xi_dot_drift"; }
    bool non_negative(std::size_t field) const { return field == 0; }  // a squared norm

    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double /*theta*/) const {
      const fda::drift_stats s = fda::drift(w, w0, xi);  // one fused pass over w, w0, ξ
      out[0] = s.sq_norm;
      out[1] = s.dot;
    }
    fda::decision judge(std::span<const double> summed, std::size_t workers, double theta) const {
      const double mean_dot = summed[1] / double(workers);
      const double h = summed[0] / double(workers) - mean_dot * mean_dot / xi_sq_norm;
      return {h > theta, h};
    }
    /// ξ ← the direction of the global step just taken (kept when the model did not move).
    template <class X, class Xp>
    void on_sync(const X& new_w0, const Xp& old_w0) {
      const double step = std::sqrt(fda::sq_distance(new_w0, old_w0));
      if (!(step > 0.0 && std::isfinite(step))) return;
      fda::copy(new_w0, xi);
      fda::axpy(-1.0, old_w0, xi);
      normalize();
    }
    /// What a checkpoint must keep: ξ changes at every sync.
    template <class F>
    void state_fields(F&& f) {
      f(xi);
      f(xi_sq_norm);
    }

   private:
    void normalize() {
      fda::scale(1.0 / std::sqrt(fda::sq_norm(xi)), xi);
      xi_sq_norm = fda::sq_norm(xi);
    }
  };

  /// fda::threshold_monitor (cadence, Θ, the checks of summed states), plus the bound.
  template <class T>
  struct monitor : fda::threshold_monitor<bounded_linear_fda, estimator<T>> {
    using base = fda::threshold_monitor<bounded_linear_fda, estimator<T>>;
    monitor(const bounded_linear_fda& p, const fda::run_info& info) : base(p, info), max_staleness(p.max_staleness) {}
    fda::decision decide(std::span<const double> summed, std::size_t steps_in_round) const {
      fda::decision d = base::decide(summed, steps_in_round);
      d.sync = d.sync || steps_in_round >= max_staleness;
      return d;
    }
    std::size_t max_staleness;
  };
};

static_assert(fda::sync_policy<bounded_linear_fda>);
static_assert(fda::threshold_estimator<bounded_linear_fda::estimator<float>, bounded_linear_fda>);

/// Trains the built-in problem of fda::testing (8 workers, 50 parameters) and prints a line.
template <class Policy>
void train_and_print(const char* what, const Policy& policy) {
  const fda::testing::problem problem(8, 50);
  fda::local_cluster cluster(problem.workers);
  const fda::result r =
      fda::train(cluster, [&](std::size_t rank) { return fda::testing::problem_worker<float>(problem, rank); }, policy,
                 fda::mean{}, {.max_steps = 200, .steps_per_epoch = 5});
  const double error = fda::testing::problem::relative_error(r.model, problem.optimum(false));
  std::size_t longest = 0, last = 0;
  for (const auto& s : r.sync_log) longest = std::max(longest, s.step - last), last = s.step;
  std::printf("%-46s %3zu syncs, longest round %3zu steps, %8llu bytes, error %.4f\n", what, r.syncs, longest,
              static_cast<unsigned long long>(r.total_bytes()), error);
}

int main() {
  train_and_print("linear_fda{theta = 0.5}", fda::linear_fda{.theta = 0.5});
  train_and_print("bounded_linear_fda{theta = 0.5, staleness 20}", bounded_linear_fda{});
  train_and_print("linear_fda{theta = 50}", fda::linear_fda{.theta = 50.0});
  train_and_print("bounded_linear_fda{theta = 50, staleness 20}", bounded_linear_fda{.theta = 50.0});

  // The conformance suite: the author promises H >= Var always (Cauchy–Schwarz).
  const fda::testing::report report =
      fda::testing::check_policy(bounded_linear_fda{}, {.bounds_variance = fda::testing::always});
  const fda::testing::report report_double = fda::testing::check_policy<double>(
      bounded_linear_fda{.theta = 50.0, .max_staleness = 10}, {.bounds_variance = fda::testing::always});
  std::cout << report << report_double;
  const bool passed = report.passed() && report_double.passed();
  std::printf("custom_policy: conformance %s\n", passed ? "PASSED" : "FAILED");
  return passed ? 0 : 1;
}
