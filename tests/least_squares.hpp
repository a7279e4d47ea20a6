// SPDX-License-Identifier: Apache-2.0
#pragma once
// A synthetic convex problem with a known optimum, for end-to-end tests of fda::train:
// worker k holds rows (A_k, b_k) of one least-squares problem min_x Σ_k ||A_k x - b_k||²
// and takes full-batch gradient steps on its own rows.
#include <algorithm>
#include <cmath>
#include <span>
#include <random>
#include <vector>

namespace fda_test {

struct least_squares {
  std::size_t dim, workers, rows;  // rows per worker
  std::vector<double> a, b;        // all rows, worker-major
  std::vector<double> optimum;     // the global least-squares solution

  /// skew: a worker-dependent shift of feature 0. spread > 0: each worker's rows follow its
  /// own truth (the common one plus spread · N(0, 1) per coordinate); curvature > 0: each
  /// worker scales feature j by exp(curvature · N(0, 1)). With both, the workers' own optima
  /// differ and the global optimum weighs them by curvature, so it is not the plain mean of
  /// the local optima: workers that never communicate end far from it (the extra draws come
  /// from a second generator, so spread = curvature = 0 gives the problem of old).
  least_squares(std::size_t d, std::size_t k, std::size_t n, double noise, std::uint64_t seed,
                double skew = 0.0, double spread = 0.0, double curvature = 0.0)
      : dim(d), workers(k), rows(n), a(k * n * d), b(k * n) {
    std::mt19937_64 rng(seed), own(seed ^ 0x5eed0fda);
    std::normal_distribution<double> g;
    std::vector<double> truth(d), worker_truth(d), scale(d, 1.0);
    for (auto& t : truth) t = g(rng);
    for (std::size_t r = 0; r < k * n; ++r) {
      if (r % n == 0) {  // a new worker
        for (std::size_t j = 0; j < d; ++j) {
          worker_truth[j] = truth[j] + (spread > 0 ? spread * g(own) : 0.0);
          if (curvature > 0) scale[j] = std::exp(curvature * g(own));
        }
      }
      const double shift = skew * double(r / n);  // non-IID: worker-dependent feature shift
      double dot = 0;
      for (std::size_t j = 0; j < d; ++j) {
        a[r * d + j] = scale[j] * g(rng) + (j == 0 ? shift : 0.0);
        dot += a[r * d + j] * worker_truth[j];
      }
      b[r] = dot + noise * g(rng);
    }
    optimum = solve_normal_equations();
  }

  /// The mean of the workers' own least-squares optima: where workers that never
  /// communicate end, averaged.
  std::vector<double> mean_of_local_optima() const {
    std::vector<double> mean(dim, 0.0);
    for (std::size_t k = 0; k < workers; ++k) {
      const auto x = solve_normal_equations(k * rows, (k + 1) * rows);
      for (std::size_t j = 0; j < dim; ++j) mean[j] += x[j] / double(workers);
    }
    return mean;
  }

  /// ∇ of (1/2n)||A_k x - b_k||² into grad.
  void gradient(std::size_t k, const std::vector<double>& x, std::vector<double>& grad) const {
    std::fill(grad.begin(), grad.end(), 0.0);
    for (std::size_t r = k * rows; r < (k + 1) * rows; ++r) {
      double res = -b[r];
      for (std::size_t j = 0; j < dim; ++j) res += a[r * dim + j] * x[j];
      for (std::size_t j = 0; j < dim; ++j) grad[j] += res * a[r * dim + j] / double(rows);
    }
  }

  double relative_error(std::span<const double> x) const {
    double num = 0, den = 0;
    for (std::size_t j = 0; j < dim; ++j) {
      num += (x[j] - optimum[j]) * (x[j] - optimum[j]);
      den += optimum[j] * optimum[j];
    }
    return std::sqrt(num / den);
  }

 private:
  /// The least-squares solution of rows [first, last) (all rows by default).
  std::vector<double> solve_normal_equations(std::size_t first = 0, std::size_t last = std::size_t(-1)) const {
    const std::size_t d = dim;
    std::vector<double> m(d * (d + 1), 0.0);  // [AᵀA | Aᵀb]
    for (std::size_t r = first; r < std::min(last, workers * rows); ++r)
      for (std::size_t i = 0; i < d; ++i) {
        for (std::size_t j = 0; j < d; ++j) m[i * (d + 1) + j] += a[r * d + i] * a[r * d + j];
        m[i * (d + 1) + d] += a[r * d + i] * b[r];
      }
    for (std::size_t c = 0; c < d; ++c)  // Gauss–Jordan; AᵀA is positive definite
      for (std::size_t i = 0; i < d; ++i) {
        if (i == c) continue;
        const double f = m[i * (d + 1) + c] / m[c * (d + 1) + c];
        for (std::size_t j = c; j <= d; ++j) m[i * (d + 1) + j] -= f * m[c * (d + 1) + j];
      }
    std::vector<double> x(d);
    for (std::size_t i = 0; i < d; ++i) x[i] = m[i * (d + 1) + d] / m[i * (d + 1) + i];
    return x;
  }
};

/// One worker: gradient descent on its own rows, at the rate lr / (1 + decay · t) at its
/// t-th step (decay 0: a constant rate). A decaying rate lets local GD between syncs reach
/// the global optimum despite heterogeneous workers (the bias of local steps shrinks with it).
struct ls_worker {
  const least_squares* problem;
  std::size_t rank;
  double lr;
  double decay = 0.0;
  std::vector<double> x = std::vector<double>(problem->dim, 0.0);
  std::vector<double> grad = std::vector<double>(problem->dim, 0.0);
  std::size_t t = 0;

  std::vector<double>& params() { return x; }
  void step() {
    problem->gradient(rank, x, grad);
    const double rate = decay > 0 ? lr / (1.0 + decay * double(t)) : lr;
    ++t;
    for (std::size_t j = 0; j < x.size(); ++j) x[j] -= rate * grad[j];
  }
  std::size_t samples() const { return problem->rows; }
};

}  // namespace fda_test
