// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda::testing::check_aggregator: the conformance checks of an aggregator (<fda/testing.hpp>).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "../aggregate/aggregator.hpp"
#include "../checkpoint.hpp"
#include "../policy/periodic.hpp"
#include "compare.hpp"
#include "policy.hpp"
#include "problem.hpp"
#include "report.hpp"

namespace fda::testing {

/// How check_aggregator exercises an aggregator: the size of its runs.
struct aggregator_settings {
  std::string label = {};           ///< names the subject in the report; empty: describe() or the name
  std::size_t workers = 4;          ///< K of every run
  std::size_t dim = 16;             ///< d of the built-in problem and of the apply() trials
  std::size_t steps = 200;          ///< local steps of a run (the checkpoint check saves at half)
  std::size_t sync_every = 2;       ///< the runs sync with fda::periodic{.every = sync_every}
  std::size_t apply_trials = 6;     ///< (x, avg) pairs that apply() is fed
  std::uint64_t seed = 1;           ///< of the problem, the runs and the trials
  double convergence_ratio = 0.25;  ///< the final error must be ≤ this × the error without syncs
  bool checkpoint = true;           ///< run the checkpoint check
  std::string scratch_dir = {};     ///< where checkpoints go; empty: the temporary directory
};

namespace detail {

/// A random model near `around` (or N(0, 1) when empty), rounded to T.
template <class T>
std::vector<T> random_model(std::size_t d, std::uint64_t& rng, const std::vector<T>& around = {}) {
  std::vector<T> v(d);
  for (std::size_t i = 0; i < d; ++i) v[i] = T((around.empty() ? 0.0 : double(around[i])) + gaussian(rng));
  return v;
}

/// The server state's state_fields as checkpoint bytes (empty when it has none).
template <class A, class S>
std::string state_bytes_of(S& state) {
  checkpoint_writer out;
  aggregator_traits<A>::state_fields(state, out);
  return out.take();
}

/// apply() through a vector and through a param_view, on two states made alike: x bit for
/// bit the same, the states' saved bytes too; a state that says replaces_model sets x = avg
/// exactly; state_fields saved and loaded into a fresh state continue bit for bit.
template <class T, class A>
void check_apply(report& rep, const A& agg, const aggregator_settings& s) {
  using S = typename A::template state<T>;
  const std::size_t d = s.dim;
  const bool replaces = aggregator_traits<A>::template replaces_model<T>(agg);
  S a(agg, d), b(agg, d);
  std::uint64_t rng = s.seed * 31337 + 5;
  std::vector<T> xa = random_model<T>(d, rng), xb = xa;
  for (std::size_t t = 0; t < s.apply_trials; ++t) {
    const std::vector<T> avg = random_model<T>(d, rng, xa);
    a.apply(xa, avg);
    param_view<T> pb = fda::view(xb);
    b.apply(pb, avg);
    std::vector<double> da(xa.begin(), xa.end()), db(xb.begin(), xb.end()), dv(avg.begin(), avg.end());
    if (!compare_vectors(rep, "apply", "(apply " + to_text(t) + ", a second state, through a param_view)", "x", db, da))
      break;
    if (replaces && !compare_vectors(rep, "replaces_model", "(apply " + to_text(t) + ": x against avg)", "x", da, dv))
      break;
    rep.expect(state_bytes_of<A>(a) == state_bytes_of<A>(b), "apply", "two states made alike hold different state",
               "the same state after the same applies", "(apply " + to_text(t) + ")");
  }
  if (replaces) rep.ran_check("replaces_model");
  if constexpr (!aggregator_traits<A>::template has_state_fields<S, checkpoint_writer&>) {
    rep.note("state_fields skipped: the server state has none (a server with memory restarts on resume)");
  } else {
    const std::string saved = state_bytes_of<A>(a);
    S c(agg, d);
    checkpoint_reader in(saved, "the server state");
    aggregator_traits<A>::state_fields(c, in);
    in.finish();
    std::vector<T> xc = xa;
    const std::vector<T> avg = random_model<T>(d, rng, xa);
    a.apply(xa, avg);
    c.apply(xc, avg);
    compare_vectors(rep, "state_fields", "(a state loaded from the saved one, then one apply)", "x",
                    std::vector<double>(xc.begin(), xc.end()), std::vector<double>(xa.begin(), xa.end()));
    rep.expect(state_bytes_of<A>(c) == state_bytes_of<A>(a), "state_fields", "different state after one more apply",
               "the same state as the one saved");
  }
}

/// Workers that never sync: the run's final average must be the brute-force combination
/// of their models (weighted by samples when the aggregator says so, or its order
/// statistic), each element within a few roundings of T relative to Σ ω_k |x_k| / Σ ω_k
/// (the size of the terms: a sum that cancels is exact only to that).
template <class T, class A>
void check_weighting(report& rep, const A& agg, const problem& p, std::size_t steps) {
  constexpr std::string_view check = "weighting";
  const bool weighted = weights_by_samples(agg);
  const combine_rule rule = combine_rule_of(agg);
  const result r = run_cluster<T, host_space>(p, never_sync{}, agg, {.max_steps = steps});
  std::vector<std::vector<double>> xs, magnitudes;
  for (std::size_t k = 0; k < p.workers; ++k) {
    problem_worker<T> w(p, k);
    for (std::size_t t = 0; t < steps; ++t) w.step();
    xs.emplace_back(w.params().begin(), w.params().end());
    magnitudes.push_back(xs.back());
    for (auto& m : magnitudes.back()) m = std::fabs(m);
  }
  const std::vector<double> want = p.combine(xs, weighted, rule), scale = p.combine(magnitudes, weighted);
  rep.measured(check, std::string(rule.is_mean() ? (weighted ? "the mean weighted by samples" : "the plain mean")
                                                 : "an order statistic (trim " + to_text(rule.trim) + ")"));
  rep.ran_check(check);
  if (!rep.expect(r.model.size() == want.size(), check, "a model of " + to_text(r.model.size()) + " parameters",
                  to_text(want.size()) + " parameters"))
    return;
  const double eps = 4 * std::numeric_limits<T>::epsilon();
  for (std::size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(r.model[i] - want[i]) <= eps * std::max(std::fabs(want[i]), scale[i]))) {
      rep.fail(check, "model[" + to_text(i) + "] = " + to_text(r.model[i]),
               "model[" + to_text(i) + "] = " + to_text(want[i]) + " ± " + approx(eps * scale[i]),
               std::string("(workers that never synced, against a brute force, ") +
                   (weighted ? "weighted by samples)" : "unweighted)"));
      return;
    }
}

/// The subject of an aggregator's report: the label, else describe(), with the parameter type.
template <class T, class A>
std::string aggregator_subject(const A& agg, const std::string& label) {
  return subject_of<T, host_space>(aggregator_traits<A>::describe(agg), label);
}

}  // namespace detail

/// Checks an aggregator for T parameters (host memory) and returns what it found:
///   protocol        fda::aggregator<A>
///   apply           apply() deterministic: two states made alike, fed the same (x, avg)
///                   through a vector and a param_view, give the same x and state bit for bit
///   replaces_model  a state that says so sets x = avg bit for bit
///   state_fields    the state saved with checkpoint_writer and loaded into a fresh state
///                   continues bit for bit (when it has state_fields)
///   weighting       the trainer's average of workers that never sync equals a brute-force
///                   mean weighted by samples (weighted aggregators), the plain mean, or the
///                   order statistic (robust ones), each element within one rounding of T
///   checkpoint      a run with it (periodic syncs) saved at half and resumed = unbroken
///   convergence     on the built-in problem, the server's global model is within
///                   s.convergence_ratio × the error of workers that never sync
///   determinism     a second run is bit-identical
template <class T = float, class Aggregator>
report check_aggregator(const Aggregator& agg, const aggregator_settings& s = {}) {
  if constexpr (!aggregator<Aggregator>) {
    report rep(s.label.empty() ? std::string(aggregator_traits<Aggregator>::name) : s.label);
    rep.fail("protocol", "a type that does not model fda::aggregator",
             "an aggregator: state<T>(config, dim) with apply(x, avg), for float and double");
    return rep;
  } else {
    report rep(detail::aggregator_subject<T>(agg, s.label));
    rep.ran_check("protocol");
    if (!aggregator_traits<Aggregator>::has_describe || !aggregator_traits<Aggregator>::has_name)
      rep.note("the aggregator lacks name or describe(): a checkpoint cannot tell it from another");
    detail::guarded(rep, "apply", [&] { detail::check_apply<T>(rep, agg, s); });
    const problem p(s.workers, s.dim, s.seed);
    detail::guarded(rep, "weighting", [&] { detail::check_weighting<T>(rep, agg, p, 4 * s.sync_every); });
    const periodic policy{.every = s.sync_every};
    const options opt{.max_steps = s.steps, .seed = s.seed};
    result r;
    try {
      r = detail::run_cluster<T, host_space>(p, policy, agg, opt);
    } catch (const std::exception& e) {
      rep.fail("run", detail::threw(e), "a run of the built-in problem");
      return rep;
    }
    detail::check_convergence(rep, p, r, s.steps, s.convergence_ratio, weights_by_samples(agg), combine_rule_of(agg),
                              true);
    if (s.checkpoint) detail::check_checkpoint<T, host_space>(rep, p, policy, agg, opt, r, s.scratch_dir);
    detail::guarded(rep, "determinism", [&] {
      detail::compare_runs(rep, "determinism", "(a second run)",
                           detail::run_cluster<T, host_space>(p, policy, agg, opt), r);
    });
    return rep;
  }
}

}  // namespace fda::testing
