// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The conformance suite's plumbing (<fda/testing.hpp>): comparing two runs field by field,
/// running the built-in problem on the in-process cluster (plain or behind
/// fda::simulated_network), and scratch checkpoint paths. Nothing here is for users to call.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../comm/local_cluster.hpp"
#include "../comm/simulated_network.hpp"
#include "../options.hpp"
#include "../train.hpp"
#include "problem.hpp"
#include "report.hpp"

namespace fda::testing::detail {

/// A number with 3 significant digits, for measurements (to_text gives every digit).
inline std::string approx(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", x);
  return buf;
}

/// Equal bit for bit, NaN equal to NaN (a schedule has no estimate, no Θ).
inline bool same(double a, double b) {
  return a == b ? std::signbit(a) == std::signbit(b) : std::isnan(a) && std::isnan(b);
}

/// Equal within `tolerance`, relative to the larger magnitude (0: bit for bit).
inline bool close(double a, double b, double tolerance) {
  if (tolerance == 0.0 || same(a, b)) return same(a, b);
  return std::fabs(a - b) <= tolerance * std::max({std::fabs(a), std::fabs(b), 1e-300});
}

/// Compares one number; records a failure naming the field.
template <class V>
bool compare_field(report& rep, std::string_view check, const std::string& where, const char* field, V got, V want,
                   double tolerance = 0.0) {
  rep.ran_check(check);
  bool ok;
  if constexpr (std::is_floating_point_v<V>)
    ok = close(double(got), double(want), tolerance);
  else
    ok = got == want;
  if (!ok)
    rep.fail(check, std::string(field) + " = " + to_text(got), std::string(field) + " = " + to_text(want), where);
  return ok;
}

/// Compares two vectors: element by element, bit for bit (tolerance 0); else as a whole,
/// ||got − want|| ≤ tolerance · ||want|| (an element near 0 may differ more, relatively).
/// Records the first element that differs, or the relative distance.
inline bool compare_vectors(report& rep, std::string_view check, const std::string& where, const char* field,
                            const std::vector<double>& got, const std::vector<double>& want, double tolerance = 0.0) {
  rep.ran_check(check);
  if (!compare_field(rep, check, where, (std::string(field) + ".size()").c_str(), got.size(), want.size()))
    return false;
  if (tolerance > 0.0) {
    double diff = 0.0, norm = 0.0;
    for (std::size_t i = 0; i < got.size(); ++i)
      diff += (got[i] - want[i]) * (got[i] - want[i]), norm += want[i] * want[i];
    const double distance = std::sqrt(diff / std::max(norm, 1e-300));
    return rep.expect(distance <= tolerance, check, std::string(field) + " at relative distance " + approx(distance),
                      std::string(field) + " within " + approx(tolerance), where);
  }
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!same(got[i], want[i])) {
      std::size_t count = 0;
      for (std::size_t j = i; j < got.size(); ++j) count += !same(got[j], want[j]);
      rep.fail(check, std::string(field) + "[" + to_text(i) + "] = " + to_text(got[i]),
               std::string(field) + "[" + to_text(i) + "] = " + to_text(want[i]),
               where + " (" + to_text(count) + " of " + to_text(got.size()) + " elements differ)");
      return false;
    }
  return true;
}

/// Compares everything two runs of the same job must agree on: counters, cost-model bytes,
/// the sync log, Θ and both final models, bit for bit (or within a relative `tolerance`,
/// counters and sync steps always exactly). Not compared: wall time, and what only a transport reports
/// (per-rank bytes, simulated network time). Returns true when all agree.
inline bool compare_runs(report& rep, std::string_view check, const std::string& where, const result& got,
                         const result& want, double tolerance = 0.0) {
  const std::size_t before = rep.failures().size();
  rep.ran_check(check);
  compare_field(rep, check, where, "steps", got.steps, want.steps);
  compare_field(rep, check, where, "syncs", got.syncs, want.syncs);
  compare_field(rep, check, where, "checks", got.checks, want.checks);
  compare_field(rep, check, where, "monitor_bytes", got.monitor_bytes, want.monitor_bytes);
  compare_field(rep, check, where, "sync_bytes", got.sync_bytes, want.sync_bytes);
  compare_field(rep, check, where, "final_theta", got.final_theta, want.final_theta, tolerance);
  compare_field(rep, check, where, "faults.size()", got.faults.size(), want.faults.size());
  if (compare_field(rep, check, where, "sync_log.size()", got.sync_log.size(), want.sync_log.size()))
    for (std::size_t i = 0; i < got.sync_log.size(); ++i) {
      const auto &a = got.sync_log[i], &b = want.sync_log[i];
      const std::string at = where + " (sync " + to_text(i) + ")";
      // (with a tolerance, the estimate is not compared: H = S1 − ... may cancel to near 0)
      if (!(compare_field(rep, check, at, "sync_log.step", a.step, b.step) &&
            (tolerance > 0.0 || compare_field(rep, check, at, "sync_log.estimate", a.estimate, b.estimate)) &&
            compare_field(rep, check, at, "sync_log.variance", a.variance, b.variance, tolerance) &&
            compare_field(rep, check, at, "sync_log.theta", a.theta, b.theta, tolerance)))
        break;
    }
  compare_vectors(rep, check, where, "model", got.model, want.model, tolerance);
  compare_vectors(rep, check, where, "global_model", got.global_model, want.global_model, tolerance);
  return rep.failures().size() == before;
}

/// A file name for a scratch checkpoint in `dir` (the system's temporary directory when
/// empty), unique to this call.
inline std::string scratch_path(const std::string& dir, std::string_view what) {
  static std::atomic<std::uint64_t> counter{0};  // (checks may run on several threads at once)
  const auto base = dir.empty() ? std::filesystem::temp_directory_path() : std::filesystem::path(dir);
  const std::uint64_t salt = std::random_device{}() ^
                             std::uint64_t(std::hash<std::thread::id>{}(std::this_thread::get_id())) ^
                             std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  return (base / ("fda_testing_" + std::string(what) + "_" + to_text(salt) + "_" + to_text(++counter) + ".ckpt"))
      .string();
}

/// Removes a scratch checkpoint and its temporary sibling, ignoring errors.
inline void remove_scratch(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  std::filesystem::remove(path + ".tmp", ec);
}

/// The built-in problem trained on an in-process cluster of its K workers.
template <class T, class Space, class Policy, class Aggregator>
result run_cluster(const problem& p, const Policy& policy, const Aggregator& agg, const options& opt) {
  local_cluster cluster(p.workers);
  return fda::train(
      cluster, [&](std::size_t rank) { return problem_worker<T, Space>(p, rank); }, policy, agg, opt);
}

/// The same run with every worker's transport wrapped in fda::simulated_network: every
/// worker's result.
template <class T, class Space, class Policy, class Aggregator>
std::vector<result> run_simulated(const problem& p, const Policy& policy, const Aggregator& agg, const options& opt) {
  local_cluster cluster(p.workers);
  std::vector<result> results(p.workers);
  cluster.run([&](cluster_comm& c) {
    simulated_network net(c, {.bandwidth = 1e9, .latency = 0.02});
    problem_worker<T, Space> w(p, c.rank());
    results[c.rank()] = fda::train(net, w, policy, agg, opt);
  });
  return results;
}

/// The message of an exception, for a report.
inline std::string threw(const std::exception& e) { return std::string("an exception: ") + e.what(); }

}  // namespace fda::testing::detail
