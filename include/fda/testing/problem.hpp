// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The conformance suite's built-in problem (<fda/testing.hpp>): a heterogeneous least-squares
/// problem whose workers cannot solve it without communicating, its worker (parameters in
/// any memory space), and fda::testing::never_sync, the policy that never communicates.
///
/// Worker k minimizes f_k(x) = (c_k / 2) ||x − t_k||² (its rows' least squares, with an
/// isotropic design of curvature c_k): its own optimum is t_k. The workers' curvatures
/// differ (0.4 to 2.4) and so do their optima (a common truth, plus spread, plus a shift
/// that grows with log c_k), so the global optimum, argmin Σ_k ω_k f_k = Σ ω_k c_k t_k /
/// Σ ω_k c_k (ω_k = 1, or the sample count n_k for a sample-weighted mean), is far from
/// the mean of the local optima, where workers that never sync end.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "../aggregate/combine_rule.hpp"
#include "../checkpoint.hpp"
#include "../kernels.hpp"
#include "../params.hpp"
#include "../policy/policy.hpp"
#include "../policy/schedule.hpp"
#include "../space.hpp"

namespace fda::testing {

namespace detail {

/// splitmix64: the same numbers on every platform (std::normal_distribution is not).
inline std::uint64_t next_random(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
/// Uniform in (0, 1).
inline double uniform(std::uint64_t& state) { return (double(next_random(state) >> 11) + 0.5) * 0x1p-53; }
/// Standard normal (Box–Muller).
inline double gaussian(std::uint64_t& state) {
  const double a = uniform(state), b = uniform(state);
  return std::sqrt(-2.0 * std::log(a)) * std::cos(6.283185307179586 * b);
}

/// The rule's value over `v` by brute force, written out independently of fda::combine_rule:
/// the weighted mean (in rank order, in double), the median, or the trimmed mean.
inline double brute_combine(std::vector<double> v, std::span<const double> weights, combine_rule rule) {
  if (rule.is_mean()) {
    double num = 0.0, den = 0.0;
    for (std::size_t k = 0; k < v.size(); ++k) num += weights[k] * v[k], den += weights[k];
    return num / den;
  }
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size();
  if (rule.trim >= 0.5) return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
  const auto drop = std::size_t(rule.trim * double(m));
  double s = 0.0;
  for (std::size_t i = drop; i < m - drop; ++i) s += v[i];
  return s / double(m - 2 * drop);
}

}  // namespace detail

/// The built-in heterogeneous least-squares problem (see the header comment).
struct problem {
  std::size_t workers;                      ///< K
  std::size_t dim;                          ///< d
  std::vector<double> curvature;            ///< c_k, in [0.4, 2.4]
  std::vector<double> samples;              ///< n_k, each worker's sample count (they differ)
  std::vector<std::vector<double>> target;  ///< t_k, worker k's own optimum
  double lr = 0.4;                          ///< local rate at step 0
  double decay = 0.2;                       ///< the rate at step t is lr / (1 + decay · t)

  /// K workers, d parameters, drawn from `seed` (the same on every platform).
  problem(std::size_t k, std::size_t d, std::uint64_t seed = 1)
      : workers(k), dim(d), curvature(k), samples(k), target(k, std::vector<double>(d)) {
    std::uint64_t rng = seed ^ 0xfda7e57ULL;
    std::vector<double> truth(d), shift(d);
    for (auto& x : truth) x = detail::gaussian(rng);
    for (auto& x : shift) x = detail::gaussian(rng);
    for (std::size_t r = 0; r < k; ++r) {
      const std::size_t order = (r * 5 + 2) % k;  // curvature not monotone in the rank
      curvature[r] = 0.4 * std::pow(6.0, k > 1 ? double(order) / double(k - 1) : 0.5);
      samples[r] = double(20 + 15 * ((r * 3) % k));
      for (std::size_t i = 0; i < d; ++i)
        target[r][i] = truth[i] + 0.7 * detail::gaussian(rng) + 0.8 * std::log(curvature[r]) * shift[i];
    }
  }

  /// Worker k's local rate at its step t (counted from 0), times its curvature.
  double contraction(std::size_t k, std::uint64_t t) const { return lr / (1.0 + decay * double(t)) * curvature[k]; }

  /// The weights of a mean: the sample counts when `weighted`, else 1 each.
  std::vector<double> weights(bool weighted) const { return weighted ? samples : std::vector<double>(workers, 1.0); }

  /// The workers' values combined by `rule` (brute force, in double), per parameter.
  std::vector<double> combine(const std::vector<std::vector<double>>& xs, bool weighted, combine_rule rule = {}) const {
    const std::vector<double> w = weights(weighted);
    std::vector<double> out(dim), column(workers);
    for (std::size_t i = 0; i < dim; ++i) {
      for (std::size_t k = 0; k < workers; ++k) column[k] = xs[k][i];
      out[i] = detail::brute_combine(column, w, rule);
    }
    return out;
  }

  /// What synchronous training converges to: for the mean, argmin Σ_k ω_k f_k =
  /// Σ ω_k c_k t_k / Σ ω_k c_k; for an order statistic (robust rules), the fixed point of
  /// x ← rule_k(x − r c_k (x − t_k)), found by iterating it in double.
  std::vector<double> optimum(bool weighted, combine_rule rule = {}) const {
    const std::vector<double> w = weights(weighted);
    std::vector<double> x(dim, 0.0);
    if (rule.is_mean()) {
      double den = 0.0;
      for (std::size_t k = 0; k < workers; ++k) den += w[k] * curvature[k];
      for (std::size_t k = 0; k < workers; ++k)
        for (std::size_t i = 0; i < dim; ++i) x[i] += w[k] * curvature[k] * target[k][i] / den;
      return x;
    }
    std::vector<std::vector<double>> moved(workers, x);
    for (int it = 0; it < 100000; ++it) {
      for (std::size_t k = 0; k < workers; ++k)
        for (std::size_t i = 0; i < dim; ++i) moved[k][i] = x[i] - 0.05 * curvature[k] * (x[i] - target[k][i]);
      const std::vector<double> next = combine(moved, weighted, rule);
      double change = 0.0;
      for (std::size_t i = 0; i < dim; ++i)
        change = std::max(change, std::fabs(next[i] - x[i]) / (1.0 + std::fabs(x[i])));
      x = next;
      if (change <= 1e-15) break;
    }
    return x;
  }

  /// The combined model of workers that never sync, after `steps` steps from 0.
  std::vector<double> never_synced(std::size_t steps, bool weighted, combine_rule rule = {}) const {
    std::vector<std::vector<double>> xs(workers, std::vector<double>(dim));
    for (std::size_t k = 0; k < workers; ++k) {
      double left = 1.0;  // Π_t (1 − r_t c_k): what is left of the distance to t_k
      for (std::size_t t = 0; t < steps; ++t) left *= 1.0 - contraction(k, t);
      for (std::size_t i = 0; i < dim; ++i) xs[k][i] = target[k][i] * (1.0 - left);
    }
    return combine(xs, weighted, rule);
  }

  /// ||x − x*|| / ||x*||, x* an optimum(...).
  static double relative_error(std::span<const double> x, std::span<const double> optimum) {
    double num = 0.0, den = 0.0;
    for (std::size_t i = 0; i < optimum.size(); ++i) {
      num += (x[i] - optimum[i]) * (x[i] - optimum[i]);
      den += optimum[i] * optimum[i];
    }
    return std::sqrt(num / den);
  }
};

/// Worker `rank` of a problem: parameters x of type T in memory space Space (host memory,
/// or fda::device_space with <fda/thrust.hpp>), starting at 0; a step is one gradient step
/// x ← x − r_t c_k (x − t_k), done with fda::scale and fda::axpy where x lives. It saves
/// its step counter in checkpoints, so a resumed run is bit-identical to an unbroken one.
template <class T = float, class Space = host_space>
class problem_worker {
 public:
  /// The parameters' container: space_traits<Space>::vector<T>.
  using vector = typename space_traits<Space>::template vector<T>;

  /// Worker `rank` of `p` (kept by reference: it must outlive the worker).
  problem_worker(const problem& p, std::size_t rank)
      : problem_(&p), rank_(rank), x_(p.dim), target_(in_space(p.target[rank])) {}

  /// The parameters.
  vector& params() { return x_; }
  /// One gradient step on f_k.
  void step() {
    const double rate = problem_->contraction(rank_, steps_++);
    fda::scale(1.0 - rate, x_);
    fda::axpy(rate, target_, x_);
  }
  /// n_k, for sample-weighted means.
  double samples() const { return problem_->samples[rank_]; }
  /// Saves the step counter (the rate depends on it).
  void save(checkpoint_writer& out) const { out(steps_); }
  /// Restores the step counter.
  void load(checkpoint_reader& in) { in(steps_); }

 private:
  static vector in_space(const std::vector<double>& v) {
    const std::vector<T> rounded(v.begin(), v.end());
    return vector(rounded.begin(), rounded.end());
  }
  const problem* problem_;
  std::size_t rank_;
  std::uint64_t steps_ = 0;
  vector x_, target_;
};

/// The negative control: a policy that never syncs and sends nothing. check_policy must
/// fail it on convergence (workers that never communicate do not solve the problem).
struct never_sync {
  static constexpr std::string_view name = "never_sync";  ///< the policy's name in logs and errors

  /// Its monitor for T parameters in any memory space: a schedule whose rounds never end
  /// (no state, no check, no sync).
  template <class T, class Space = host_space>
  struct monitor : fda::detail::schedule_monitor {
    /// Validates `info` as every schedule does.
    monitor(const never_sync&, const run_info& info)
        : schedule_monitor(name.data(), info, std::numeric_limits<std::size_t>::max()) {}
  };
};

}  // namespace fda::testing
