// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda::testing::check_communicator and check_train_on: the conformance checks of a
/// transport (<fda/testing.hpp>). Both are SPMD: every worker of the run calls them with its
/// own communicator, and every worker gets the same report (the ranks' findings merged).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../aggregate.hpp"
#include "../checkpoint.hpp"
#include "../comm/communicator.hpp"
#include "../comm/train.hpp"
#include "../policy.hpp"
#include "compare.hpp"
#include "problem.hpp"
#include "report.hpp"

namespace fda::testing {

/// How check_communicator and check_train_on exercise a transport.
struct communicator_settings {
  std::string label = "communicator";  ///< names the transport in the report
  /// Reductions must equal the rank-ordered references bit for bit (every fda transport's
  /// default); false: within `tolerance` (MPI's native reductions).
  bool bitwise = true;
  double tolerance = 1e-5;       ///< relative, when not bitwise
  std::size_t dim = 1000;        ///< elements of the averaged and broadcast models
  std::size_t train_dim = 24;    ///< d of check_train_on's problem
  std::size_t train_steps = 60;  ///< local steps of each check_train_on run
  std::uint64_t seed = 1;        ///< of every value contributed
  bool checkpoint = true;        ///< check_train_on also saves at half and resumes over the transport
  std::string scratch_dir = {};  ///< where checkpoints go (rank 0 writes them); empty: the temporary directory
};

namespace detail {

/// What rank r contributes at index i (salt: which collective): a nonzero value whose
/// magnitude spans 2^-20 to 2^20, so that adding in another order rounds differently.
inline double contribution(std::uint64_t seed, std::uint64_t salt, std::size_t r, std::size_t i) {
  std::uint64_t state = seed * 0x9e3779b97f4a7c15ULL ^ salt * 0xc2b2ae3d27d4eb4fULL ^ (std::uint64_t(r) << 40) ^ i;
  const double u = uniform(state), e = double(next_random(state) % 41) - 20.0;
  return (2.0 * u - 1.0) * std::ldexp(1.0, int(e)) + (u > 0.5 ? 1e-3 : -1e-3);
}

/// The bytes rank r contributes (salt: which collective): varying lengths, binary, NULs included.
inline std::string contributed_bytes(std::uint64_t seed, std::uint64_t salt, std::size_t r) {
  std::uint64_t state = seed ^ (salt << 20) ^ (std::uint64_t(r) << 44);
  std::string s(salt == 3 ? 1000 : (r * 37 + 5) % 200, '\0');
  for (auto& c : s) c = char(next_random(state) & 0xff);
  return s;
}

/// The buffers the checks write through the transport, one per replica of the run's shared
/// state (the transport's replica when it shares one, as fda::train's run state is).
struct comm_scratch {
  comm_scratch(std::size_t d, std::size_t k) : out_float(d), out_double(d), arrived(k, 0) {}
  std::vector<float> out_float;    ///< average and broadcast outputs
  std::vector<double> out_double;  ///< the same, for double parameters
  std::size_t serial_runs = 0;     ///< serial()'s f calls on this replica
  std::vector<int> arrived;        ///< barrier probe (shared replicas only)
};

template <class T>
std::span<T> out_of(comm_scratch& s) {
  if constexpr (std::is_same_v<T, float>)
    return s.out_float;
  else
    return s.out_double;
}

/// This worker's replica of S: the transport's shared one, or its own.
template <class S, class Comm, class... Args>
S& replica_or_own(Comm& comm, std::optional<S>& own, const Args&... args) {
  if constexpr (communicator_traits<Comm>::template shares_replica<S, Args...>) {
    return comm.template replica<S>(args...);
  } else {
    own.emplace(args...);
    return *own;
  }
}

/// Compares got[i] with the reference want[i]: bit for bit (tolerance 0), or within
/// tolerance · scale[i] (scale: Σ_r |a term of element i|, what rounding in another order
/// can move it by). Records the first that differs.
inline void compare_elements(report& rep, std::string_view check, const std::string& where, std::span<const double> got,
                             std::span<const double> want, double tolerance, std::span<const double> scale = {}) {
  if (tolerance == 0.0 || scale.empty()) {
    compare_vectors(rep, check, where, "value", std::vector<double>(got.begin(), got.end()),
                    std::vector<double>(want.begin(), want.end()), tolerance);
    return;
  }
  rep.ran_check(check);
  for (std::size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= tolerance * scale[i])) {
      rep.fail(check, "value[" + to_text(i) + "] = " + to_text(got[i]),
               "value[" + to_text(i) + "] = " + to_text(want[i]) + " ± " + approx(tolerance * scale[i]), where);
      return;
    }
}

/// all_reduce_sum over 1, 7 and dim values: the rank-ordered sum 0 + v_0 + v_1 + ... + v_{K-1}.
template <class Comm>
void check_all_reduce(report& rep, Comm& comm, const communicator_settings& s) {
  const std::size_t k = comm.size(), me = comm.rank();
  for (const std::size_t n : {std::size_t(1), std::size_t(7), s.dim}) {
    std::vector<double> v(n), want(n, 0.0), scale(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) v[i] = contribution(s.seed, n, me, i);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t r = 0; r < k; ++r)
        want[i] += contribution(s.seed, n, r, i), scale[i] += std::fabs(contribution(s.seed, n, r, i));
    comm.all_reduce_sum(std::span<double>(v));
    compare_elements(rep, "all_reduce_sum", "(" + to_text(n) + " values, against the rank-ordered sum)", v, want,
                     s.bitwise ? 0.0 : s.tolerance, scale);
  }
}

/// One average case: weights per rank, a rule, and a rank whose parameters are poisoned.
struct average_case {
  const char* name;
  std::vector<double> weights;
  combine_rule rule;
  std::size_t poisoned = std::size_t(-1);  ///< this rank's element 1 is `poison`
  double poison = 0.0;
};

/// The cases: unequal weights; equal weights; a rank of weight 0 holding NaN (it must be
/// left out: finite, not a contributor); a contributor holding +Inf (not finite); the
/// median and a trimmed mean (the weight-0 rank does not vote).
inline std::vector<average_case> average_cases(std::size_t k) {
  std::vector<double> unequal(k), equal(k, 1.0), left_out(k, 1.0);
  for (std::size_t r = 0; r < k; ++r) unequal[r] = 1.0 + double(r % 3) + 0.25 * double(r);
  if (k > 1) left_out[k - 1] = 0.0;
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  std::vector<average_case> cases{
      {"unequal weights", unequal, {}},
      {"equal weights", equal, {}},
      {"a worker of weight 0 holding NaN", left_out, {}, k > 1 ? k - 1 : std::size_t(-1), nan},
      {"a contributor holding +Inf", unequal, {}, 0, inf},
      {"the median", left_out, {0.5}, k > 1 ? k - 1 : std::size_t(-1), nan},
      {"a trimmed mean", unequal, {0.25}}};
  return cases;
}

/// Rank r's parameters, in two segments (a model of two tensors).
template <class T>
std::vector<std::vector<T>> params_of(const communicator_settings& s, std::size_t r, std::uint64_t salt) {
  std::vector<std::vector<T>> tensors(2);
  for (std::size_t i = 0; i < s.dim; ++i) tensors[i < s.dim / 3 ? 0 : 1].push_back(T(contribution(s.seed, salt, r, i)));
  return tensors;
}

/// Rank r's parameters for an average case: element 1 poisoned on the case's rank.
template <class T>
std::vector<std::vector<T>> case_params(const communicator_settings& s, const average_case& c, std::size_t r,
                                        std::uint64_t salt) {
  std::vector<std::vector<T>> tensors = params_of<T>(s, r, salt);
  if (r == c.poisoned) (tensors[0].size() > 1 ? tensors[0][1] : tensors[1][1]) = T(c.poison);
  return tensors;
}

/// Flattens a model of several tensors into doubles.
template <class T>
std::vector<double> flat(const std::vector<std::vector<T>>& tensors) {
  std::vector<double> v;
  for (const auto& t : tensors) v.insert(v.end(), t.begin(), t.end());
  return v;
}

/// The reference of an average case, in double: the value each element must have (the
/// rank-ordered weighted mean, coefficients w_r / Σ w, rounded once to T; or the order
/// statistic of the ranks of non-zero weight), and the stats.
template <class T>
std::pair<std::vector<double>, average_stats> average_reference(const communicator_settings& s, const average_case& c,
                                                                std::size_t k, std::uint64_t salt) {
  std::vector<std::vector<double>> xs;
  for (std::size_t r = 0; r < k; ++r) xs.push_back(flat(case_params<T>(s, c, r, salt)));
  double total = 0.0;
  for (double w : c.weights) total += w;
  std::vector<double> want(s.dim), voters;
  average_stats stats{true, 0.0, 0};
  for (double w : c.weights) stats.contributors += w != 0.0;
  for (std::size_t i = 0; i < s.dim; ++i) {
    double acc = 0.0;
    voters.clear();
    for (std::size_t r = 0; r < k; ++r)
      if (c.weights[r] != 0.0) acc += c.weights[r] / total * xs[r][i], voters.push_back(xs[r][i]);
    if (!c.rule.is_mean()) acc = brute_combine(voters, std::vector<double>(voters.size(), 1.0), c.rule);
    want[i] = double(T(acc));
    stats.finite = stats.finite && std::isfinite(want[i]);
    for (std::size_t r = 0; r < k; ++r)
      if (c.weights[r] != 0.0) stats.spread += (xs[r][i] - want[i]) * (xs[r][i] - want[i]);
  }
  return {want, stats};
}

/// One average case over the transport, against its reference: the average (when finite),
/// finite, spread (to 1e-9: the transport sums it in lanes) and contributors.
template <class T, class Comm>
void check_average_case(report& rep, Comm& comm, comm_scratch& scratch, const communicator_settings& s,
                        const average_case& c, std::uint64_t salt) {
  const std::vector<std::vector<T>> mine = case_params<T>(s, c, comm.rank(), salt);
  const std::span<T> out = out_of<T>(scratch);
  const average_stats got = comm.average(fda::view(mine), c.weights[comm.rank()], out, c.rule);
  const auto [want, stats] = average_reference<T>(s, c, comm.size(), salt);
  const std::string where = std::string("(") + (std::is_same_v<T, float> ? "float" : "double") + ", " + c.name + ")";
  if (stats.finite)
    compare_elements(rep, "average", where, std::vector<double>(out.begin(), out.end()), want,
                     s.bitwise ? 0.0 : s.tolerance);
  rep.expect(got.finite == stats.finite, "average_stats", "finite = " + to_text(got.finite),
             "finite = " + to_text(stats.finite), where);
  rep.expect(got.contributors == stats.contributors, "average_stats", "contributors = " + to_text(got.contributors),
             "contributors = " + to_text(stats.contributors), where);
  if (stats.finite)
    rep.expect(close(got.spread, stats.spread, std::max(1e-9, s.bitwise ? 0.0 : s.tolerance)), "average_stats",
               "spread = " + to_text(got.spread), "spread = " + to_text(stats.spread) + " (to 1e-9)", where);
  comm.barrier();  // the buffer may be shared: nobody writes it again until all have read it
}

/// broadcast: every worker's out equals rank 0's parameters, bit for bit.
template <class T, class Comm>
void check_broadcast(report& rep, Comm& comm, comm_scratch& scratch, const communicator_settings& s) {
  const std::vector<std::vector<T>> mine = params_of<T>(s, comm.rank(), 77);
  const std::span<T> out = out_of<T>(scratch);
  comm.broadcast(fda::view(mine), out);
  compare_elements(rep, "broadcast", std::is_same_v<T, float> ? "(float)" : "(double)",
                   std::vector<double>(out.begin(), out.end()), flat(params_of<T>(s, 0, 77)), 0.0);
  comm.barrier();
}

/// serial: f runs once per replica and its writes are seen by every worker when it returns;
/// root_says: f runs on rank 0 only and every worker gets its value.
template <class Comm>
void check_serial_and_root(report& rep, Comm& comm, comm_scratch& scratch) {
  comm.barrier();
  const std::size_t before = scratch.serial_runs;
  comm.barrier();
  comm.serial([&] { ++scratch.serial_runs; });
  rep.expect(scratch.serial_runs == before + 1, "serial", "f ran " + to_text(scratch.serial_runs - before) + " time(s)",
             "once per replica, seen by every worker when serial() returns");
  comm.barrier();
  for (const bool answer : {true, false}) {
    bool ran_here = false;
    const std::size_t me = comm.rank();
    const bool got = comm.root_says([&] {
      ran_here = true;
      return me == 0 ? answer : !answer;
    });
    rep.expect(got == answer, "root_says", "the value " + to_text(got), "rank 0's value " + to_text(answer));
    rep.expect(ran_here == (me == 0), "root_says", ran_here ? "f ran on this rank" : "f did not run on this rank",
               me == 0 ? "f runs on rank 0" : "f runs on rank 0 only");
  }
}

/// gather_bytes, scatter_bytes, broadcast_bytes with binary strings of varying lengths.
template <class Comm>
void check_byte_collectives(report& rep, Comm& comm, const communicator_settings& s) {
  const std::size_t k = comm.size(), me = comm.rank();
  const std::vector<std::string> all = comm.gather_bytes(contributed_bytes(s.seed, 1, me));
  rep.ran_check("gather_bytes");
  if (me == 0) {
    bool ok = all.size() == k;
    for (std::size_t r = 0; ok && r < k; ++r) ok = all[r] == contributed_bytes(s.seed, 1, r);
    rep.expect(ok, "gather_bytes", to_text(all.size()) + " strings, not all as sent",
               "every rank's string on rank 0, in rank order");
  }
  std::vector<std::string> parts;
  if (me == 0)
    for (std::size_t r = 0; r < k; ++r) parts.push_back(contributed_bytes(s.seed, 2, r));
  const std::string mine = comm.scatter_bytes(parts);
  rep.expect(mine == contributed_bytes(s.seed, 2, me), "scatter_bytes", to_text(mine.size()) + " bytes, not rank 0's",
             "element " + to_text(me) + " of rank 0's strings");
  std::string b = me == 0 ? contributed_bytes(s.seed, 3, 0) : "not yet rank 0's";
  comm.broadcast_bytes(b);
  rep.expect(b == contributed_bytes(s.seed, 3, 0), "broadcast_bytes", to_text(b.size()) + " bytes, not rank 0's",
             "rank 0's 1000 bytes");
}

/// barrier: on a transport whose workers share a replica (all of them, or those of one
/// process), every write before it is seen after it: the workers that wrote into this
/// replica before the first barrier are all seen after it, as many as after a second one.
template <class Comm>
void check_barrier(report& rep, Comm& comm, comm_scratch& scratch) {
  comm.serial([&] { std::fill(scratch.arrived.begin(), scratch.arrived.end(), 0); });
  scratch.arrived[comm.rank()] = 1;  // (each worker writes its own element)
  auto arrived = [&] { return std::size_t(std::count(scratch.arrived.begin(), scratch.arrived.end(), 1)); };
  comm.barrier();
  const std::size_t seen = arrived();
  comm.barrier();
  const std::size_t sharing = arrived();
  rep.expect(seen == sharing, "barrier", to_text(seen) + " workers had arrived",
             "all " + to_text(sharing) + " workers of this replica arrived before any leaves");
  comm.barrier();
}

/// A report as bytes (checkpoint_writer's tagged format), to send between ranks.
inline std::string pack(const report& r) {
  checkpoint_writer out;
  auto strings = [&](const std::vector<std::string>& v) {
    out(std::uint64_t(v.size()));
    for (const auto& x : v) out(x);
  };
  strings(r.checks());
  out(std::uint64_t(r.failures().size()));
  for (const auto& f : r.failures()) out(f.check), out(f.measured), out(f.expected), out(f.where);
  strings(r.notes());
  strings(r.measurements());
  return out.take();
}

/// Adds what pack() wrote to `into`; failures seen by several ranks are kept once, with
/// their ranks listed (`seen`: failure text → ranks, in first-seen order).
inline void unpack(std::string_view bytes, std::size_t rank, report& into,
                   std::vector<std::pair<failure, std::vector<std::size_t>>>& seen) {
  checkpoint_reader in(bytes, "a rank's report");
  auto strings = [&](auto&& add) {
    const auto n = in.get<std::uint64_t>();
    for (std::uint64_t i = 0; i < n; ++i) add(in.get<std::string>());
  };
  strings([&](const std::string& c) { into.ran_check(c); });
  const auto failures = in.get<std::uint64_t>();
  for (std::uint64_t i = 0; i < failures; ++i) {
    failure f;
    in(f.check), in(f.measured), in(f.expected), in(f.where);
    auto same_failure = [&](const auto& e) {
      return e.first.check == f.check && e.first.measured == f.measured && e.first.expected == f.expected &&
             e.first.where == f.where;
    };
    const auto it = std::find_if(seen.begin(), seen.end(), same_failure);
    if (it == seen.end())
      seen.push_back({f, {rank}});
    else if (it->second.back() != rank)
      it->second.push_back(rank);
  }
  if (rank != 0) return;  // notes and measurements: rank 0's (every rank's are alike)
  strings([&](const std::string& n) { into.note(n); });
  strings([&](const std::string& m) {
    const auto colon = m.find(": ");
    into.measured(m.substr(0, colon), colon == std::string::npos ? std::string() : m.substr(colon + 2));
  });
}

/// Every rank's report merged on rank 0 and sent back, so that every worker returns the same
/// report. When the byte collectives cannot carry it, the rank's own report, with a failure.
template <class Comm>
report merged(Comm& comm, const report& mine) {
  const std::vector<std::string> parts = comm.gather_bytes(pack(mine));
  std::string all;
  try {
    if (comm.rank() == 0) {
      report out(mine.subject());
      std::vector<std::pair<failure, std::vector<std::size_t>>> seen;
      for (std::size_t r = 0; r < parts.size(); ++r) unpack(parts[r], r, out, seen);
      for (const auto& [f, ranks] : seen) {
        std::string where = f.where + (f.where.empty() ? "" : " ") + (ranks.size() > 1 ? "on ranks " : "on rank ");
        for (std::size_t i = 0; i < ranks.size(); ++i) where += (i ? ", " : "") + to_text(ranks[i]);
        out.fail(f.check, f.measured, f.expected, where);
      }
      all = pack(out);
    }
  } catch (const std::exception&) {
    all.clear();  // rank 0 could not read the others' reports: said below, on every rank
  }
  comm.broadcast_bytes(all);
  report out(mine.subject());
  std::vector<std::pair<failure, std::vector<std::size_t>>> seen;
  try {
    if (all.empty()) throw checkpoint_error("nothing merged");
    unpack(all, 0, out, seen);
    for (const auto& [f, ranks] : seen) out.fail(f.check, f.measured, f.expected, f.where);
  } catch (const std::exception& e) {
    out = mine;
    out.fail("report", std::string("the ranks' reports could not be merged (") + e.what() + ")",
             "gather_bytes and broadcast_bytes that carry them", "(this rank's findings only)");
  }
  return out;
}

}  // namespace detail

/// Checks a transport, SPMD: every worker of a run calls it with its own communicator (a
/// thread of fda::local_cluster, an MPI rank, ...), and each gets the same report, every
/// rank's findings merged (a failure lists the ranks that saw it). Each rank contributes
/// values derived from its rank, and checks the results against brute-force references:
///   all_reduce_sum   the rank-ordered sum 0 + v_0 + ... + v_{K-1}, bit for bit
///   average          the weighted mean, coefficients w_r / Σ w added in rank order in
///                    double and rounded once (or the median / trimmed mean of the ranks of
///                    non-zero weight), bit for bit; float and double; a model of two tensors
///   average_stats    finite (false when a contributor holds +Inf; true when only a rank of
///                    weight 0 holds NaN), spread (to 1e-9), contributors (weight 0 excluded)
///   broadcast        rank 0's parameters, bit for bit
///   serial           f runs once per replica, its writes seen when serial() returns
///   root_says        f runs on rank 0 only; every rank gets its value
///   gather_bytes, scatter_bytes, broadcast_bytes   binary strings of varying length
///   barrier          (shared replicas) every write before it is seen after it
/// With s.bitwise = false the reductions need only agree within s.tolerance (MPI's native
/// reductions). Bit-exact comparisons assume the reference and the transport round alike:
/// build without contracting a·b + c into FMAs (-ffp-contract=off), as fda's tests do.
/// Exceptions from the transport propagate (they may leave other ranks waiting).
template <communicator Comm>
report check_communicator(Comm& comm, const communicator_settings& s = {}) {
  report rep(s.label + " (K = " + to_text(comm.size()) + ")");
  std::optional<detail::comm_scratch> own;
  detail::comm_scratch& scratch = detail::replica_or_own(comm, own, s.dim, comm.size());
  detail::check_all_reduce(rep, comm, s);
  std::uint64_t salt = 100;
  for (const auto& c : detail::average_cases(comm.size())) {
    detail::check_average_case<float>(rep, comm, scratch, s, c, ++salt);
    detail::check_average_case<double>(rep, comm, scratch, s, c, ++salt);
  }
  detail::check_broadcast<float>(rep, comm, scratch, s);
  detail::check_broadcast<double>(rep, comm, scratch, s);
  detail::check_serial_and_root(rep, comm, scratch);
  detail::check_byte_collectives(rep, comm, s);
  detail::check_barrier(rep, comm, scratch);
  return detail::merged(comm, rep);
}

namespace detail {

/// A run's result as bytes: what compare_runs compares.
inline std::string pack_result(const result& r) {
  checkpoint_writer out;
  out(std::uint64_t(r.steps)), out(std::uint64_t(r.syncs)), out(std::uint64_t(r.checks));
  out(r.monitor_bytes), out(r.sync_bytes), out(r.final_theta), out(std::uint64_t(r.faults.size()));
  out(std::uint64_t(r.sync_log.size()));
  for (const auto& x : r.sync_log) out(std::uint64_t(x.step)), out(x.estimate), out(x.variance), out(x.theta);
  out(r.model), out(r.global_model);
  return out.take();
}

/// The result pack_result wrote (faults: as many empty records).
inline result unpack_result(std::string_view bytes) {
  checkpoint_reader in(bytes, "the reference run");
  result r;
  r.steps = in.get<std::uint64_t>(), r.syncs = in.get<std::uint64_t>(), r.checks = in.get<std::uint64_t>();
  in(r.monitor_bytes), in(r.sync_bytes), in(r.final_theta);
  r.faults.resize(in.get<std::uint64_t>());
  r.sync_log.resize(in.get<std::uint64_t>());
  for (auto& x : r.sync_log) x.step = in.get<std::uint64_t>(), in(x.estimate), in(x.variance), in(x.theta);
  in(r.model), in(r.global_model);
  in.finish();
  return r;
}

/// The same job on an in-process fda::local_cluster of comm.size() workers, run on rank 0
/// only and sent to every rank; nullopt (everywhere) when it threw, with a failure.
template <class T, class Comm, class Policy, class Aggregator>
std::optional<result> reference_run(report& rep, Comm& comm, const problem& p, const Policy& policy,
                                    const Aggregator& agg, const options& opt, const std::string& name) {
  std::string packed;
  const bool failed = comm.root_says([&] {
    try {
      packed = pack_result(run_cluster<T, host_space>(p, policy, agg, opt));
      return false;
    } catch (const std::exception& e) {
      packed = e.what();
      return true;
    }
  });
  comm.broadcast_bytes(packed);
  if (failed) {
    rep.fail("train", "the in-process reference run threw: " + packed, "a reference run", "(" + name + ")");
    return std::nullopt;
  }
  return unpack_result(packed);
}

/// This worker's fda::train of the job over comm; an error raised on every worker alike
/// becomes a failure (nullopt), any other propagates.
template <class T, class Comm, class Policy, class Aggregator>
std::optional<result> train_over(report& rep, Comm& comm, const problem& p, const Policy& policy, const Aggregator& agg,
                                 const options& opt, const std::string& name) {
  problem_worker<T> w(p, comm.rank());
  try {
    return fda::train(comm, w, policy, agg, opt);
  } catch (const std::exception& e) {
    if (!is_raised_everywhere(e)) throw;
    rep.fail("train", threw(e), "a run over the transport", "(" + name + ")");
    return std::nullopt;
  }
}

/// One job over the transport against the in-process reference; returns the reference.
template <class T, class Comm, class Policy, class Aggregator>
std::optional<result> check_job(report& rep, Comm& comm, const communicator_settings& s, const Policy& policy,
                                const Aggregator& agg, const options& opt) {
  const problem p(comm.size(), s.train_dim, s.seed);
  const std::string name = std::string(policy_traits<Policy>::name) + " with " + describe_aggregator(agg);
  const std::optional<result> mine = train_over<T>(rep, comm, p, policy, agg, opt, name);
  const std::optional<result> want = reference_run<T>(rep, comm, p, policy, agg, opt, name);
  if (want)
    rep.measured("train", name + ": " + to_text(want->syncs) + " syncs, " + to_text(want->checks) + " checks in " +
                              to_text(want->steps) + " steps");
  if (mine && want)
    compare_runs(rep, "train", "(" + name + ", against the in-process cluster)", *mine, *want,
                 s.bitwise ? 0.0 : s.tolerance);
  return want;
}

/// The first job saved at half over the transport (rank 0 writes the file; the path is
/// rank 0's, broadcast) and resumed over it: equal to the unbroken reference.
template <class T, class Comm, class Policy, class Aggregator>
void check_resume(report& rep, Comm& comm, const communicator_settings& s, const Policy& policy, const Aggregator& agg,
                  options opt, const result& want) {
  std::string path = comm.rank() == 0 ? scratch_path(s.scratch_dir, "transport") : std::string();
  comm.broadcast_bytes(path);
  const problem p(comm.size(), s.train_dim, s.seed);
  const std::size_t total = opt.max_steps;
  opt.checkpoint_path = path;
  opt.max_steps = total / 2;
  const std::string name = "checkpoint at step " + to_text(total / 2) + ", resumed";
  if (train_over<T>(rep, comm, p, policy, agg, opt, name)) {
    opt.max_steps = total;
    opt.resume = true;
    if (const auto resumed = train_over<T>(rep, comm, p, policy, agg, opt, name))
      compare_runs(rep, "train_checkpoint", "(" + name + ", against the unbroken in-process run)", *resumed, want,
                   s.bitwise ? 0.0 : s.tolerance);
  }
  comm.barrier();
  if (comm.rank() == 0) remove_scratch(path);
}

}  // namespace detail

/// Checks that fda::train over the transport gives what it gives on the in-process cluster,
/// SPMD like check_communicator (every worker calls it; all get the same report). Four short
/// jobs on the built-in problem with K = comm.size() workers (T parameters) — linear_fda
/// (fixed Θ) with weighted_mean, sketch_fda (adaptive Θ) with fedadam, naive_fda with
/// trimmed_mean, max_drift (adaptive Θ: one more all-reduce per sync) with mean — each
/// trained over comm and, on rank 0 only, on an fda::local_cluster of the same K; the
/// reference is sent to every rank, which compares its own result with it:
///   train             counters, cost-model bytes, sync log, Θ and both models, bit for bit
///                     (within s.tolerance when s.bitwise is false)
///   train_checkpoint  the first job saved at half and resumed over comm (checkpoints use
///                     gather_bytes, scatter_bytes, broadcast_bytes) equals the unbroken run
template <class T = float, communicator Comm>
report check_train_on(Comm& comm, const communicator_settings& s = {}) {
  report rep(s.label + " (K = " + to_text(comm.size()) + "), fda::train");
  const options opt{.max_steps = s.train_steps, .steps_per_epoch = 5, .seed = s.seed};
  const linear_fda first{.theta = 0.5};
  const std::optional<result> reference = detail::check_job<T>(rep, comm, s, first, weighted_mean{}, opt);
  detail::check_job<T>(rep, comm, s, sketch_fda{}, fedadam{.lr = 0.1}, opt);
  detail::check_job<T>(rep, comm, s, naive_fda{.theta = 0.5}, trimmed_mean{.trim = 0.25}, opt);
  detail::check_job<T>(rep, comm, s, max_drift{}, mean{}, opt);
  if (s.checkpoint && reference)
    detail::check_resume<T>(rep, comm, s, first, weighted_mean{}, opt, *reference);
  else
    rep.note("train_checkpoint skipped: " + std::string(s.checkpoint ? "no reference run" : "the settings say so"));
  return detail::merged(comm, rep);
}

}  // namespace fda::testing
