// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda::testing::check_policy: the conformance checks of a sync policy (<fda/testing.hpp>).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../aggregate/mean.hpp"
#include "../options.hpp"
#include "../policy/policy.hpp"
#include "compare.hpp"
#include "problem.hpp"
#include "report.hpp"

namespace fda::testing {

/// What a policy's author promises about its estimate H (decide(summed).estimate) and the
/// variance Var of the workers' models (docs/algorithm.md).
enum class bound_kind {
  never,                  ///< no promise (schedules, max_drift): the check is skipped
  always,                 ///< H ≥ Var in every trial, up to rounding (naive, linear, exact)
  with_high_probability,  ///< H ≥ Var in at least a given fraction of trials (sketch_fda)
};

/// A promise about H ≥ Var: fda::testing::never, always, or with_high_probability(f).
struct variance_promise {
  bound_kind kind = bound_kind::never;  ///< what is promised
  double fraction = 0.0;                ///< with_high_probability: the least fraction of trials
};

/// No promise about H ≥ Var.
inline constexpr variance_promise never{};
/// H ≥ Var always (up to rounding: 1e-9 of (1/K) Σ ||u_k||²).
inline constexpr variance_promise always{bound_kind::always, 1.0};
/// H ≥ Var in at least `fraction` of the random trials.
constexpr variance_promise with_high_probability(double fraction) {
  return {bound_kind::with_high_probability, fraction};
}

/// How check_policy exercises a policy: the author's promises and the size of the runs.
struct policy_settings {
  variance_promise bounds_variance = never;  ///< the author's promise about H ≥ Var
  /// The cost-model bytes of one local state; unset: 4 per value (a float each, the cost
  /// model's wire), i.e. 4 · state_size() (max_drift declares 1: a flag).
  std::optional<std::size_t> state_bytes = std::nullopt;
  std::string label = {};             ///< names the subject in the report; empty: the policy's name
  std::size_t workers = 4;            ///< K of every run (with K = 1 there is nothing to converge by)
  std::size_t dim = 16;               ///< d of the built-in problem and of half the variance trials
  std::size_t variance_dim = 1000;    ///< d of the other half of the variance trials
  std::size_t variance_trials = 400;  ///< random drift sets compared with a brute-force Var
  std::size_t steps = 200;            ///< local steps of a run (the checkpoint check saves at half)
  std::size_t steps_per_epoch = 5;    ///< for fedavg and an adaptive Θ (its rounds: 2 epochs)
  std::size_t check_every = 1;        ///< the monitoring cadence of the runs
  std::uint64_t seed = 1;             ///< of the problem, the runs and the trials
  double convergence_ratio = 0.25;    ///< the final error must be ≤ this × the error without syncs
  bool checkpoint = true;             ///< run the checkpoint check (host parameters only)
  std::string scratch_dir = {};       ///< where checkpoints go; empty: the temporary directory
};

namespace detail {

/// "linear_fda<float>", "linear_fda<double, device memory>", or the label's.
template <class T, class Space>
std::string subject_of(std::string_view name, const std::string& label) {
  std::string s = label.empty() ? std::string(name) : label;
  s += std::is_same_v<T, float> ? "<float" : "<double";
  return s + (std::is_same_v<Space, host_space> ? ">" : ", device memory>");
}

/// Runs f(); an exception becomes a failure of `check`.
template <class F>
void guarded(report& rep, std::string_view check, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    rep.fail(check, threw(e), "no exception");
  }
}

/// The run_info of a run of these settings with d parameters.
inline run_info info_of(const policy_settings& s, std::size_t d) {
  return {.dim = d,
          .workers = s.workers,
          .steps_per_epoch = s.steps_per_epoch,
          .check_every = s.check_every,
          .seed = s.seed};
}

/// The options of the full run.
inline options options_of(const policy_settings& s) {
  return {.max_steps = s.steps, .steps_per_epoch = s.steps_per_epoch, .check_every = s.check_every, .seed = s.seed};
}

/// K workers' parameters w_k = w0 + u_k (in T) and what a brute force says about them.
template <class T>
struct drift_trial {
  std::vector<T> w0;              ///< the global model
  std::vector<std::vector<T>> w;  ///< the workers' models
  double variance = 0.0;          ///< Var = (1/K) Σ ||w_k − w̄||², in long double
  double s1 = 0.0;                ///< (1/K) Σ ||w_k − w0||²
  const char* shape = "";         ///< how the drifts were drawn
};

/// Var and S1 of the trial's models (as rounded to T), by their definitions.
template <class T>
void measure(drift_trial<T>& t) {
  const std::size_t k = t.w.size(), d = t.w0.size();
  long double var = 0, s1 = 0;
  for (std::size_t i = 0; i < d; ++i) {
    long double mean = 0;
    for (const auto& wk : t.w) mean += wk[i];
    mean /= (long double)k;
    for (const auto& wk : t.w) {
      var += ((long double)wk[i] - mean) * ((long double)wk[i] - mean);
      s1 += ((long double)wk[i] - t.w0[i]) * ((long double)wk[i] - t.w0[i]);
    }
  }
  t.variance = double(var / (long double)k);
  t.s1 = double(s1 / (long double)k);
}

/// A random trial of one of six shapes: independent drifts with a common part,
/// drifts concentrated in 1–3 coordinates (shared, or each worker's own), one common
/// drift with small noise, one outlier, and equal drifts (Var = 0); scale 1e-2 to 1e2.
template <class T>
drift_trial<T> make_trial(std::size_t k, std::size_t d, std::size_t shape, std::uint64_t& rng) {
  static constexpr const char* names[] = {"random", "concentrated", "common", "outlier", "sparse", "equal"};
  drift_trial<T> t;
  t.shape = names[shape % 6];
  const double scale = std::pow(10.0, 4.0 * uniform(rng) - 2.0);
  std::vector<double> w0(d), common(d);
  for (auto& x : w0) x = gaussian(rng);
  for (auto& x : common) x = gaussian(rng) * scale;
  std::vector<std::size_t> spots(1 + next_random(rng) % 3);
  for (auto& i : spots) i = next_random(rng) % d;
  t.w0.assign(w0.begin(), w0.end());
  for (std::size_t r = 0; r < k; ++r) {
    std::vector<double> u(d, 0.0);
    if (shape % 6 == 4)
      for (auto& i : spots) i = next_random(rng) % d;
    for (std::size_t i = 0; i < d; ++i) {
      const double g = gaussian(rng) * scale;
      switch (shape % 6) {
        case 0: u[i] = 0.3 * common[i] + g; break;
        case 2: u[i] = common[i] + 0.01 * g; break;
        case 3: u[i] = (r == 0 ? 100.0 : 0.01) * g; break;
        case 5: u[i] = common[i]; break;
        default: break;
      }
    }
    if (shape % 6 == 1 || shape % 6 == 4)
      for (auto i : spots) u[i] = gaussian(rng) * scale;
    std::vector<T> wk(d);
    for (std::size_t i = 0; i < d; ++i) wk[i] = T(w0[i] + u[i]);
    t.w.push_back(std::move(wk));
  }
  measure(t);
  return t;
}

/// A host vector moved into memory space Space (space_traits<Space>::vector<T>).
template <class T, class Space>
typename space_traits<Space>::template vector<T> in_space(const std::vector<T>& v) {
  return typename space_traits<Space>::template vector<T>(v.begin(), v.end());
}

/// Every worker's local state (monitor m), summed in rank order, as the trainer sums them.
template <class T, class Space, class M>
std::vector<double> summed_state(const M& m, const drift_trial<T>& t) {
  const auto w0 = in_space<T, Space>(t.w0);
  std::vector<double> state(m.state_size()), summed(m.state_size(), 0.0);
  for (const auto& wk : t.w) {
    const auto w = in_space<T, Space>(wk);
    m.local_state(fda::view(std::as_const(w)), fda::view(std::as_const(w0)), std::span<double>(state));
    for (std::size_t i = 0; i < state.size(); ++i) summed[i] += state[i];
  }
  return summed;
}

/// A random global step: the monitor's on_sync (LinearFDA's ξ turns), in Space.
template <class T, class Space, class M>
void random_sync(M& m, std::size_t d, std::uint64_t& rng) {
  std::vector<T> a(d), b(d);
  for (std::size_t i = 0; i < d; ++i) a[i] = T(gaussian(rng)), b[i] = T(gaussian(rng));
  const auto va = in_space<T, Space>(a), vb = in_space<T, Space>(b);
  m.on_sync(fda::view(std::as_const(va)), fda::view(std::as_const(vb)), sync_info{.variance = 1.0, .round_steps = 5});
}

/// (a) The protocol: state_size, state_bytes and field names stable; local_state, checks_at,
/// decide and theta identical on repeated calls and across two monitors made alike (every
/// MPI rank makes its own and all must decide alike).
template <class T, class Space, class P>
void check_protocol(report& rep, const P& policy, const policy_settings& s) {
  using M = typename policy_traits<P>::template monitor<T, Space>;
  constexpr std::string_view check = "protocol";
  rep.expect(!policy_traits<P>::name.empty(), check, "an empty name", "a name (logs, errors, checkpoints)");
  const run_info info = info_of(s, s.dim);
  const M a(policy, info), b(policy, info);
  const std::size_t n = a.state_size();
  rep.expect(
      a.state_size() == b.state_size() && a.state_bytes() == b.state_bytes() && a.state_bytes() == a.state_bytes(),
      check,
      "state_size " + to_text(a.state_size()) + " / " + to_text(b.state_size()) + ", state_bytes " +
          to_text(a.state_bytes()) + " / " + to_text(b.state_bytes()),
      "the same from two monitors made alike");
  for (std::size_t i = 0; i < n; ++i)
    if (!rep.expect(!std::string_view(a.field_name(i)).empty(), check, "field_name(" + to_text(i) + ") empty",
                    "a name for every field"))
      break;
  std::uint64_t rng = s.seed * 7919 + 1;
  const drift_trial<T> t = make_trial<T>(s.workers, s.dim, 0, rng);
  const std::vector<double> first = summed_state<T, Space>(a, t), again = summed_state<T, Space>(a, t),
                            other = summed_state<T, Space>(b, t);
  for (std::size_t i = 0; i < n; ++i)
    if (!rep.expect(same(first[i], again[i]) && same(first[i], other[i]), check,
                    "local state field " + to_text(i) + " = " + to_text(first[i]) + ", again " + to_text(again[i]) +
                        ", from a second monitor " + to_text(other[i]),
                    "identical values"))
      break;
  rep.expect(same(a.theta(), b.theta()), check, "theta " + to_text(a.theta()) + " / " + to_text(b.theta()),
             "the same from two monitors made alike");
  for (std::size_t step = 1; step <= 3 * s.steps_per_epoch + 2 * s.check_every; ++step) {
    const bool checks = a.checks_at(step);
    const std::span<const double> input = checks ? std::span<const double>(first) : std::span<const double>();
    const decision d1 = a.decide(input, step), d2 = a.decide(input, step), d3 = b.decide(input, step);
    const bool ok = checks == b.checks_at(step) && d1.sync == d2.sync && d1.sync == d3.sync &&
                    same(d1.estimate, d2.estimate) && same(d1.estimate, d3.estimate);
    if (!rep.expect(ok, check,
                    "at step " + to_text(step) + " of a round: sync " + to_text(d1.sync) + "/" + to_text(d2.sync) +
                        "/" + to_text(d3.sync) + ", estimate " + to_text(d1.estimate) + "/" + to_text(d2.estimate) +
                        "/" + to_text(d3.estimate),
                    "decide() identical on repeated calls and across monitors"))
      break;
  }
}

/// (c) H ≥ Var: the estimate from the summed local states of random drift sets against
/// a brute-force Var, as the author promises (always, or in a fraction of the trials).
template <class T, class Space, class P>
void check_variance_bound(report& rep, const P& policy, const policy_settings& s) {
  using M = typename policy_traits<P>::template monitor<T, Space>;
  constexpr std::string_view check = "variance_bound";
  const variance_promise promise = s.bounds_variance;
  if (promise.kind == bound_kind::never) {
    rep.note("variance_bound skipped: the settings promise nothing about H >= Var");
    return;
  }
  M small(policy, info_of(s, s.dim)), large(policy, info_of(s, s.variance_dim));
  std::uint64_t rng = s.seed * 104729 + 3;
  std::size_t holds = 0;
  double worst = -1.0;  // the largest (Var − H) / S1
  std::string worst_text = "none";
  for (std::size_t trial = 0; trial < s.variance_trials; ++trial) {
    const bool big = trial % 2 == 1;
    M& m = big ? large : small;
    const std::size_t d = big ? s.variance_dim : s.dim;
    if (trial % 16 >= 14) random_sync<T, Space>(m, d, rng);  // new directions (ξ) now and then
    const drift_trial<T> t = make_trial<T>(s.workers, d, trial / 2, rng);
    const double h = m.decide(summed_state<T, Space>(m, t), s.check_every).estimate;
    const double slack = 1e-9 * t.s1 + 1e-300;  // rounding of the local states' sums
    const bool ok = h >= t.variance - slack;
    holds += ok;
    const double gap = std::isnan(h) ? INFINITY : (t.variance - h) / std::max(t.s1, 1e-300);
    if (!ok && gap > worst) {
      worst = gap;
      worst_text = "H = " + to_text(h) + " < Var = " + to_text(t.variance) + " (shape " + t.shape +
                   ", d = " + to_text(d) + ", K = " + to_text(s.workers) + ", trial " + to_text(trial) + ")";
    }
  }
  const double fraction = double(holds) / double(std::max<std::size_t>(s.variance_trials, 1));
  rep.measured(check, "H >= Var in " + to_text(holds) + " of " + to_text(s.variance_trials) + " trials");
  const bool ok = promise.kind == bound_kind::always ? holds == s.variance_trials : fraction >= promise.fraction;
  rep.expect(ok, check,
             "H >= Var in " + to_text(holds) + " of " + to_text(s.variance_trials) + " trials (" + to_text(fraction) +
                 "); worst: " + worst_text,
             promise.kind == bound_kind::always
                 ? std::string("H >= Var in every trial")
                 : "H >= Var in at least " + to_text(promise.fraction) + " of the trials");
}

/// (b) The counters of a run against the cost model (docs/algorithm.md: Communication cost).
template <class T, class Space, class P>
void check_bytes(report& rep, const P& policy, const policy_settings& s, const result& r) {
  using M = typename policy_traits<P>::template monitor<T, Space>;
  constexpr std::string_view check = "bytes";
  const M m(policy, info_of(s, s.dim));
  const std::uint64_t k = s.workers, d = s.dim, state = m.state_bytes();
  const std::size_t want_state = s.state_bytes.value_or(4 * m.state_size());
  rep.expect(state == want_state, check,
             "state_bytes() = " + to_text(state) + " for a state of " + to_text(m.state_size()) + " values",
             "state_bytes() = " + to_text(want_state) +
                 (s.state_bytes ? " (declared in the settings)" : " (4 bytes per value: the cost model's float)"));
  const std::uint64_t sync_bytes = r.syncs * 2 * k * 4 * d;
  const std::uint64_t adaptive = policy_traits<P>::is_adaptive(policy) ? 4 * k * r.syncs : 0;
  const std::uint64_t monitor_bytes = r.checks * k * state + adaptive;
  rep.expect(r.sync_bytes == sync_bytes, check, "sync_bytes = " + to_text(r.sync_bytes),
             "syncs · 2·K·4·d = " + to_text(r.syncs) + " · " + to_text(2 * k * 4 * d) + " = " + to_text(sync_bytes));
  rep.expect(
      r.monitor_bytes == monitor_bytes, check, "monitor_bytes = " + to_text(r.monitor_bytes),
      "checks · K · state_bytes" + std::string(adaptive ? " + syncs · 4·K" : "") + " = " + to_text(monitor_bytes));
  rep.expect(r.sync_log.size() == r.syncs && r.syncs <= r.steps && r.checks <= r.steps && r.steps == s.steps, check,
             "steps " + to_text(r.steps) + ", syncs " + to_text(r.syncs) + ", sync log " + to_text(r.sync_log.size()) +
                 ", checks " + to_text(r.checks),
             to_text(s.steps) + " steps, one sync record per sync, at most one sync and one check per step");
}

/// (e) Convergence on the built-in problem: the final averaged model must be much closer to
/// the optimum than the average of workers that never sync.
inline void check_convergence(report& rep, const problem& p, const result& r, std::size_t steps, double ratio,
                              bool weighted, combine_rule rule, bool use_global) {
  constexpr std::string_view check = "convergence";
  const std::vector<double> best = p.optimum(weighted, rule);
  const double alone = problem::relative_error(p.never_synced(steps, weighted, rule), best);
  if (!(alone > 1e-9)) {  // one worker: nothing to communicate, nothing to show
    rep.note("convergence skipped: workers that never sync already solve this problem (K = " + to_text(p.workers) +
             ")");
    return;
  }
  const std::vector<double>& model = use_global ? r.global_model : r.model;
  const double err = model.size() == best.size() ? problem::relative_error(model, best) : INFINITY;
  rep.measured(check, "final error " + approx(err) + " = " + approx(err / alone) + " × the error without syncs (" +
                          approx(alone) + "), " + to_text(r.syncs) + " syncs, " + to_text(r.total_bytes()) + " bytes");
  rep.expect(err <= ratio * alone, check,
             "relative error " + to_text(err) + " of the final " + (use_global ? "global" : "averaged") +
                 " model after " + to_text(r.syncs) + " syncs",
             "at most " + to_text(ratio) + " × " + to_text(alone) + ", the error of workers that never sync");
}

/// (d) Checkpoints: steps/2 saved and resumed for the rest equal the unbroken run `full`.
template <class T, class Space, class P, class A>
void check_checkpoint(report& rep, const problem& p, const P& policy, const A& agg, options opt, const result& full,
                      const std::string& dir) {
  constexpr std::string_view check = "checkpoint";
  if constexpr (!std::is_same_v<Space, host_space>) {
    rep.note("checkpoint skipped: checkpoints need host parameters (docs/gpu.md)");
  } else {
    const std::string path = scratch_path(dir, policy_traits<P>::name);
    const std::size_t total = opt.max_steps;
    opt.checkpoint_path = path;
    opt.max_steps = total / 2;
    try {
      run_cluster<T, Space>(p, policy, agg, opt);
      opt.max_steps = total;
      opt.resume = true;
      const result resumed = run_cluster<T, Space>(p, policy, agg, opt);
      compare_runs(rep, check, "(" + to_text(total / 2) + " steps saved, resumed to " + to_text(total) + ")", resumed,
                   full);
    } catch (const std::exception& e) {
      rep.fail(check, threw(e), "a run saved at half and resumed");
    }
    remove_scratch(path);
  }
}

/// (f) Determinism: a second run, and the run over fda::simulated_network (every worker's
/// result), equal the first bit for bit.
template <class T, class Space, class P, class A>
void check_determinism(report& rep, const problem& p, const P& policy, const A& agg, const options& opt,
                       const result& first) {
  guarded(rep, "determinism", [&] {
    compare_runs(rep, "determinism", "(a second run)", run_cluster<T, Space>(p, policy, agg, opt), first);
  });
  guarded(rep, "simulated_network", [&] {
    const std::vector<result> over = run_simulated<T, Space>(p, policy, agg, opt);
    for (std::size_t r = 0; r < over.size(); ++r)
      if (!compare_runs(rep, "simulated_network", "(worker " + to_text(r) + "'s result)", over[r], first)) break;
  });
}

}  // namespace detail

/// Checks a sync policy against the protocol and the promises of fda's policies, on T
/// parameters in memory space Space (host memory, or fda::device_space with
/// <fda/thrust.hpp>), and returns what it found (report::passed()):
///   protocol          sync_policy<P, T, Space>; state_size, state_bytes, field_name stable;
///                     local_state, checks_at, decide, theta identical on repeated calls and
///                     across two monitors made alike
///   bytes             state_bytes() = s.state_bytes (default 4 per value); after a run,
///                     sync_bytes = syncs·2·K·4·d and monitor_bytes = checks·K·state_bytes
///                     (+ 4·K per sync with an adaptive Θ)
///   variance_bound    H ≥ Var on random drift sets, as s.bounds_variance promises
///   checkpoint        steps/2 saved + resumed = the unbroken run, bit for bit (host only)
///   convergence       on the built-in problem, error ≤ s.convergence_ratio × the error of
///                     workers that never sync
///   determinism       a second run is bit-identical
///   simulated_network the run over fda::simulated_network is bit-identical to the plain one
template <class T = float, class Space = host_space, class Policy>
report check_policy(const Policy& policy, const policy_settings& s = {}) {
  report rep(detail::subject_of<T, Space>(policy_traits<Policy>::name, s.label));
  if constexpr (!sync_policy<Policy, T, Space>) {
    rep.fail("protocol", "a type that does not model fda::sync_policy<P, T, Space>",
             "a sync policy (fda::train's static_assert names what is missing)");
  } else {
    detail::guarded(rep, "protocol", [&] { detail::check_protocol<T, Space>(rep, policy, s); });
    detail::guarded(rep, "variance_bound", [&] { detail::check_variance_bound<T, Space>(rep, policy, s); });
    const problem p(s.workers, s.dim, s.seed);
    const options opt = detail::options_of(s);
    result r;
    try {
      r = detail::run_cluster<T, Space>(p, policy, mean{}, opt);
    } catch (const std::exception& e) {
      rep.fail("run", detail::threw(e), "a run of the built-in problem");
      return rep;
    }
    detail::guarded(rep, "bytes", [&] { detail::check_bytes<T, Space>(rep, policy, s, r); });
    detail::check_convergence(rep, p, r, s.steps, s.convergence_ratio, false, {}, false);
    if (s.checkpoint)
      detail::check_checkpoint<T, Space>(rep, p, policy, mean{}, opt, r, s.scratch_dir);
    else
      rep.note("checkpoint skipped: the settings say so");
    detail::check_determinism<T, Space>(rep, p, policy, mean{}, opt, r);
  }
  return rep;
}

}  // namespace fda::testing
