// SPDX-License-Identifier: Apache-2.0
// Linked through fda::benchmark (Google Benchmark): a policy's check registered, its row
// declared with the cost model's bytes, and the plain-read baseline summing what it reads.
#include <fda/benchmark.hpp>

#include <vector>

int consumer_benchmark() {
  fda::register_policy_benchmark(fda::linear_fda{.theta = 1.0}, {.dim = 100, .workers = 4});
  const auto rows = fda::benchmark_results();
  const std::vector<float> x(100, 0.5f);
  const bool ok = rows.size() == 1 && rows[0].cost_model_bytes == 32 && fda::plain_read<1, float>({x.data()}, x.size()) == 50.0f;
  return ok ? 0 : 1;
}
