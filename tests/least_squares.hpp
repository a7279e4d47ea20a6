#pragma once
// A synthetic convex problem with a known optimum, for end-to-end tests of fda::train:
// worker k holds rows (A_k, b_k) of one least-squares problem min_x Σ_k ||A_k x - b_k||²
// and takes full-batch gradient steps on its own rows.
#include <cmath>
#include <random>
#include <vector>

namespace fda_test {

struct least_squares {
  std::size_t dim, workers, rows;  // rows per worker
  std::vector<double> a, b;        // all rows, worker-major
  std::vector<double> optimum;     // the global least-squares solution

  least_squares(std::size_t d, std::size_t k, std::size_t n, double noise, std::uint64_t seed,
                double skew = 0.0)
      : dim(d), workers(k), rows(n), a(k * n * d), b(k * n) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g;
    std::vector<double> truth(d);
    for (auto& t : truth) t = g(rng);
    for (std::size_t r = 0; r < k * n; ++r) {
      const double shift = skew * double(r / n);  // non-IID: worker-dependent feature shift
      double dot = 0;
      for (std::size_t j = 0; j < d; ++j) {
        a[r * d + j] = g(rng) + (j == 0 ? shift : 0.0);
        dot += a[r * d + j] * truth[j];
      }
      b[r] = dot + noise * g(rng);
    }
    optimum = solve_normal_equations();
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
  std::vector<double> solve_normal_equations() const {
    const std::size_t d = dim;
    std::vector<double> m(d * (d + 1), 0.0);  // [AᵀA | Aᵀb]
    for (std::size_t r = 0; r < workers * rows; ++r)
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

/// One worker: gradient descent on its own rows.
struct ls_worker {
  const least_squares* problem;
  std::size_t rank;
  double lr;
  std::vector<double> x = std::vector<double>(problem->dim, 0.0);
  std::vector<double> grad = std::vector<double>(problem->dim, 0.0);

  std::vector<double>& params() { return x; }
  void step() {
    problem->gradient(rank, x, grad);
    for (std::size_t j = 0; j < x.size(); ++j) x[j] -= lr * grad[j];
  }
  std::size_t samples() const { return problem->rows; }
};

}  // namespace fda_test
