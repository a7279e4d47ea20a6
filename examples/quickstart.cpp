// SPDX-License-Identifier: Apache-2.0
// Quickstart: 8 workers fit one linear model, each on its own data. Federated Dynamic
// Averaging lets them train locally and synchronize only when their models drift apart.
#include <fda/fda.hpp>

#include <cmath>
#include <cstdio>
#include <random>

constexpr std::size_t dim = 50, rows = 500, batch = 10, workers = 8;

/// The model every worker learns: y = truth · a + noise.
const std::vector<double> truth = [] {
  std::mt19937 rng(7);
  std::normal_distribution<double> g;
  std::vector<double> t(dim);
  for (auto& x : t) x = g(rng);
  return t;
}();

/// A worker: its own rows (a, y), and SGD on the squared error, one mini-batch a step.
struct worker {
  std::mt19937 rng;
  std::vector<double> a = std::vector<double>(rows * dim), y = std::vector<double>(rows);
  std::vector<double> w = std::vector<double>(dim, 0.0);  // the parameters fda watches

  explicit worker(std::size_t rank) : rng(unsigned(rank)) {
    std::normal_distribution<double> g;
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t j = 0; j < dim; ++j) a[r * dim + j] = g(rng), y[r] += truth[j] * a[r * dim + j];
      y[r] += 0.1 * g(rng);
    }
  }
  std::vector<double>& params() { return w; }
  void step() {
    std::uniform_int_distribution<std::size_t> pick(0, rows - 1);
    std::vector<double> grad(dim, 0.0);
    for (std::size_t b = 0; b < batch; ++b) {
      const std::size_t r = pick(rng);
      const double* row = &a[r * dim];
      double err = -y[r];
      for (std::size_t j = 0; j < dim; ++j) err += w[j] * row[j];
      for (std::size_t j = 0; j < dim; ++j) grad[j] += err * row[j] / batch;
    }
    for (std::size_t j = 0; j < dim; ++j) w[j] -= 0.01 * grad[j];
  }
};

int main() {
  fda::local_cluster cluster(workers);
  const fda::result r = fda::train(
      cluster, [](std::size_t rank) { return worker(rank); },  // one worker per thread
      fda::linear_fda{.theta = 0.5},                          // sync when the variance > 0.5
      fda::mean{},                                             // a sync averages the models
      {.max_epochs = 20, .steps_per_epoch = rows / batch},
      fda::progress_bar{"linear_fda"});                        // callbacks: any number

  double err = 0;
  for (std::size_t j = 0; j < dim; ++j) err += (r.model[j] - truth[j]) * (r.model[j] - truth[j]);
  const double synchronous_bytes = double(r.steps) * 2 * workers * 4 * dim;
  std::printf("%zu steps, %zu syncs, %.3g bytes sent (synchronous averaging: %.3g, %.0fx more)\n",
              r.steps, r.syncs, double(r.total_bytes()), synchronous_bytes,
              synchronous_bytes / double(r.total_bytes()));
  std::printf("distance to the true model: %.4f\n", std::sqrt(err));
}
