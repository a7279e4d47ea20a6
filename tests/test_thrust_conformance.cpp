// SPDX-License-Identifier: Apache-2.0
// The conformance suite's check_policy with the workers' parameters in device memory
// (thrust::device_vector), on Thrust's OpenMP back end: every policy that runs on device
// parameters passes the same checks as on the host (the checkpoint check excepted:
// checkpoints need host parameters), and the runs equal the host runs up to the kernels'
// rounding. Built like test_thrust_train (tests/CMakeLists.txt: fda::thrust_omp).
#include <catch2/catch.hpp>
#include <cmath>
#include <fda/fda.hpp>
#include <fda/testing.hpp>
#include <fda/thrust.hpp>

namespace {

using fda::testing::always;
using fda::testing::report;
using fda::testing::with_high_probability;

void require_passed(const report& r) {
  INFO(r.summary());
  CHECK(r.passed());
  CHECK(r.ran("variance_bound") == (r.summary().find("variance_bound skipped") == std::string::npos));
}

template <class T>
report on_device(const auto& policy, fda::testing::policy_settings s = {}) {
  return fda::testing::check_policy<T, fda::device_space>(policy, s);
}

template <class T>
void check_device_policies() {
  require_passed(on_device<T>(fda::synchronous{}));
  require_passed(on_device<T>(fda::periodic{.every = 10}));
  require_passed(on_device<T>(fda::fedavg{.local_epochs = 1}));
  require_passed(on_device<T>(fda::naive_fda{.theta = 0.5}, {.bounds_variance = always}));
  require_passed(on_device<T>(fda::naive_fda{}, {.bounds_variance = always, .label = "naive_fda adaptive"}));
  require_passed(on_device<T>(fda::linear_fda{.theta = 0.5}, {.bounds_variance = always}));
  require_passed(on_device<T>(fda::linear_fda{}, {.bounds_variance = always, .label = "linear_fda adaptive"}));
  require_passed(on_device<T>(fda::sketch_fda{.theta = 0.5}, {.bounds_variance = with_high_probability(0.9)}));
  require_passed(
      on_device<T>(fda::sketch_fda{}, {.bounds_variance = with_high_probability(0.9), .label = "sketch_fda adaptive"}));
  require_passed(on_device<T>(fda::sketch_fda{.theta = 0.5, .sketch = fda::sketch_kind::tiled},
                              {.bounds_variance = with_high_probability(0.9), .label = "sketch_fda tiled"}));
  require_passed(on_device<T>(fda::max_drift{.theta = 0.5}, {.state_bytes = 1}));
  require_passed(on_device<T>(fda::max_drift{}, {.state_bytes = 1, .label = "max_drift adaptive"}));
}

}  // namespace

TEMPLATE_TEST_CASE("check_policy with device parameters: every policy that supports them conforms",
                   "[conformance][thrust]", float, double) {
  check_device_policies<TestType>();
}

TEST_CASE("check_policy with device parameters: checkpoints are skipped, with a note", "[conformance][thrust]") {
  const report r = on_device<float>(fda::linear_fda{.theta = 0.5});
  CHECK_FALSE(r.ran("checkpoint"));
  REQUIRE_FALSE(r.notes().empty());
  CHECK(r.summary().find("checkpoint skipped: checkpoints need host parameters") != std::string::npos);
}

TEST_CASE("check_policy with device parameters: the negative controls fail", "[conformance][thrust]") {
  // exact_variance reads host memory: it is no sync policy for device parameters.
  const report exact = on_device<float>(fda::exact_variance{});
  INFO(exact.summary());
  CHECK(exact.failed("protocol"));
  const report never = on_device<float>(fda::testing::never_sync{});
  INFO(never.summary());
  CHECK(never.failed("convergence"));
  CHECK(never.failures().size() == 1);
}

TEST_CASE("the built-in problem trains alike with host and device parameters", "[conformance][thrust]") {
  const fda::testing::problem p(4, 16, 1);
  auto run = [&](auto worker_of) {
    fda::local_cluster cluster(p.workers);
    return fda::train(cluster, worker_of, fda::linear_fda{.theta = 0.5}, fda::mean{},
                      {.max_steps = 100, .steps_per_epoch = 5, .seed = 1});
  };
  const fda::result host = run([&](std::size_t r) { return fda::testing::problem_worker<float>(p, r); });
  const fda::result device =
      run([&](std::size_t r) { return fda::testing::problem_worker<float, fda::device_space>(p, r); });
  REQUIRE(host.syncs > 2);
  REQUIRE(device.sync_log.size() == host.sync_log.size());
  for (std::size_t i = 0; i < host.sync_log.size(); ++i) CHECK(device.sync_log[i].step == host.sync_log[i].step);
  // Element-wise steps are the host's formula per element; the reductions agree to ~1e-16.
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < host.model.size(); ++i) {
    diff += (device.model[i] - host.model[i]) * (device.model[i] - host.model[i]);
    norm += host.model[i] * host.model[i];
  }
  CHECK(std::sqrt(diff / norm) < 1e-6);
}
