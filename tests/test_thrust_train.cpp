// SPDX-License-Identifier: Apache-2.0
// fda::train with parameters in device memory, on Thrust's OpenMP back end: the same problem
// trained with host and with device parameters must sync at the same steps and end with the
// same model. Built like test_thrust (tests/CMakeLists.txt).
#include <fda/fda.hpp>
#include <fda/thrust.hpp>

#include <thrust/fill.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "support.hpp"

namespace {

/// A uniform value in [0, 1) from (stream, index): splitmix64 of their mix.
FDA_HOST_DEVICE inline double uniform(std::uint64_t stream, std::uint64_t i) {
  std::uint64_t z = stream * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL + 0x94d049bb133111ebULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return double((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

/// Least squares with a diagonal design: worker k's sample at step t for parameter i is
/// y = a_i w*_i + b_k,i + noise, a_i in [0.5, 1.5]; the biases b_k make the data non-IID.
/// One SGD step: w_i ← w_i − lr · a_i (a_i w_i − y). Every value is a hash of its indices,
/// so host and device compute the same numbers with the same operations.
struct sgd_op {
  float* w;
  std::uint64_t offset, k, t;
  double lr;
  FDA_HOST_DEVICE void operator()(std::size_t j) const {
    const std::uint64_t i = offset + j;
    const double a = 0.5 + uniform(1, i);
    const double w_star = 4.0 * uniform(2, i) - 2.0;
    const double y = a * w_star + 0.6 * (uniform(100 + k, i) - 0.5) + 0.2 * (uniform(1000 * (t + 1) + k, i) - 0.5);
    w[j] = float(double(w[j]) - lr * a * (a * double(w[j]) - y));
  }
};

/// A worker whose parameters are `sizes.size()` tensors (std::vector on the host,
/// thrust::device_vector on the device), each step's SGD done where they live.
template <bool Device>
struct ls_worker {
  using tensor = std::conditional_t<Device, thrust::device_vector<float>, std::vector<float>>;
  std::vector<tensor> tensors;
  std::uint64_t rank, t = 0;
  double lr;

  ls_worker(const std::vector<std::size_t>& sizes, std::uint64_t r, double rate) : rank(r), lr(rate) {
    for (std::size_t n : sizes) tensors.emplace_back(n, float(0.25 * double(r)));  // fda::train starts all from worker 0's
  }
  std::vector<tensor>& params() { return tensors; }
  void step() {
    ++t;
    std::uint64_t offset = 0;
    for (auto& x : tensors) {
      float* p;
      if constexpr (Device)
        p = thrust::raw_pointer_cast(x.data());
      else
        p = x.data();
      const sgd_op op{p, offset, rank, t, lr};
      if constexpr (Device)
        thrust::for_each(thrust::device, thrust::counting_iterator<std::size_t>(0),
                         thrust::counting_iterator<std::size_t>(x.size()), op);
      else
        for (std::size_t j = 0; j < x.size(); ++j) op(j);
      offset += x.size();
    }
  }
  double samples() const { return double(100 + 50 * rank); }
};

/// Records the averaged model's squared norm at every epoch end (the host copy on the device path).
struct epoch_norms {
  std::vector<double> norms;
  void on_epoch(const fda::epoch_info<float>& e) { norms.push_back(fda::sq_norm(e.averaged_model)); }
};

/// |got − want| / |want|; 0 when both are NaN (a forced sync has no estimate, a schedule no Θ).
double rel(double got, double want) {
  return want == got || (std::isnan(got) && std::isnan(want)) ? 0.0 : std::fabs(got - want) / std::max(std::fabs(want), 1e-300);
}

template <bool Device, class Policy, class Aggregator = fda::mean>
fda::result run(const std::vector<std::size_t>& sizes, Policy policy, epoch_norms& epochs, Aggregator agg = {}) {
  fda::local_cluster cluster(4);
  return fda::train(
      cluster, [&](std::size_t rank) { return ls_worker<Device>(sizes, rank, 0.05); }, policy, agg,
      {.max_steps = 160, .steps_per_epoch = 20, .seed = 11}, epochs);
}

/// Host and device runs of one problem: same syncs and decisions, same model.
template <class Policy, class Aggregator = fda::mean>
void compare(const std::vector<std::size_t>& sizes, Policy policy, Aggregator agg = {}) {
  epoch_norms he, de;
  const fda::result h = run<false>(sizes, policy, he, agg);
  const fda::result d = run<true>(sizes, policy, de, agg);
  INFO(Policy::name << ", " << sizes.size() << " tensor(s): " << h.syncs << " syncs on the host, " << d.syncs
                    << " on the device");
  REQUIRE(h.syncs >= 2);
  REQUIRE(h.syncs < h.steps);  // the policy decided: neither never nor always
  REQUIRE(d.sync_log.size() == h.sync_log.size());
  for (std::size_t i = 0; i < h.sync_log.size(); ++i) {
    CHECK(d.sync_log[i].step == h.sync_log[i].step);
    CHECK(rel(d.sync_log[i].estimate, h.sync_log[i].estimate) < 1e-6);
    CHECK(rel(d.sync_log[i].variance, h.sync_log[i].variance) < 1e-12);
    CHECK(rel(d.sync_log[i].theta, h.sync_log[i].theta) < 1e-12);
  }
  CHECK(d.steps == h.steps);
  CHECK(d.checks == h.checks);
  CHECK(d.total_bytes() == h.total_bytes());
  CHECK(rel(d.final_theta, h.final_theta) < 1e-12);
  // The average is summed in double in rank order on both paths, and the workers' steps are
  // the same operations: the models agree bit for bit.
  REQUIRE(d.model.size() == h.model.size());
  CHECK(d.model == h.model);
  REQUIRE(de.norms.size() == he.norms.size());
  for (std::size_t i = 0; i < he.norms.size(); ++i) CHECK(rel(de.norms[i], he.norms[i]) < 1e-12);
}

template <class T>
thrust::device_vector<T> to_device(const std::vector<T>& v) {
  return thrust::device_vector<T>(v.begin(), v.end());
}

}  // namespace

TEST_CASE("fda::train with device parameters: linear_fda and sketch_fda sync and end as with host parameters") {
  const std::vector<std::size_t> one{10'007}, two{6'000, 4'007};
  const double theta = 40.0;
  compare(one, fda::linear_fda{.theta = theta});
  compare(two, fda::linear_fda{.theta = theta});
  compare(one, fda::sketch_fda{.theta = theta});
  compare(two, fda::sketch_fda{.theta = theta});
  compare(one, fda::linear_fda{});  // adaptive Θ: fed by the variance of every sync
  compare(two, fda::naive_fda{.theta = theta});
  compare(one, fda::periodic{.every = 7}, fda::weighted_mean{});  // weights by samples()
}

TEMPLATE_TEST_CASE("local_cluster::average of device views is the host's average bit for bit", "", float, double) {
  const std::size_t k = 3, n = 9'001;
  std::vector<std::vector<TestType>> w;
  for (std::size_t r = 0; r < k; ++r) w.push_back(fda_test::mixed_magnitude<TestType>(n, 90 + r));
  std::vector<thrust::device_vector<TestType>> dw;
  for (const auto& x : w) dw.push_back(to_device(x));
  const double weights[] = {1.0, 0.0, 2.5};  // worker 1 left out
  // (fill_n, not dw[1][17] = ...: that goes through a null-pointer reference inside Thrust, which UBSan flags)
  thrust::fill_n(dw[1].begin() + 17, 1, std::numeric_limits<TestType>::quiet_NaN());  // ... so its NaN does not count
  std::vector<TestType> host_avg(n);
  thrust::device_vector<TestType> dev_avg(n);
  std::vector<fda::average_stats> hs(k), ds(k);
  fda::local_cluster cluster(k);
  cluster.run([&](fda::cluster_comm& comm) {
    const auto r = comm.rank();
    hs[r] = comm.average(fda::param_view<const TestType>(fda::view(w[r])), weights[r], std::span<TestType>(host_avg));
    ds[r] = comm.average(fda::param_view<const TestType, fda::device_space>(fda::view(dw[r])), weights[r],
                         fda::view(dev_avg));
  });
  std::vector<TestType> back(n);
  fda::copy(dev_avg, back);
  CHECK(back == host_avg);
  for (std::size_t r = 0; r < k; ++r) {
    CHECK(ds[r].finite);
    CHECK(rel(ds[r].spread, hs[r].spread) < 1e-13);
  }
  // A NaN in a voting worker makes the average non-finite, as on the host.
  thrust::fill_n(dw[0].begin() + 5, 1, std::numeric_limits<TestType>::quiet_NaN());
  cluster.run([&](fda::cluster_comm& comm) {
    ds[comm.rank()] = comm.average(fda::param_view<const TestType, fda::device_space>(fda::view(dw[comm.rank()])),
                                   weights[comm.rank()], fda::view(dev_avg));
  });
  for (std::size_t r = 0; r < k; ++r) CHECK_FALSE(ds[r].finite);
}

TEST_CASE("fda::train with device parameters refuses checkpoints and robust rules with a clear error") {
  const std::vector<std::size_t> sizes{1'000};
  auto message = [&](fda::options opt) {
    fda::local_cluster cluster(2);
    try {
      fda::train(cluster, [&](std::size_t rank) { return ls_worker<true>(sizes, rank, 0.05); },
                 fda::linear_fda{.theta = 1.0}, fda::mean{}, opt);
    } catch (const fda::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(message({.max_steps = 5, .checkpoint_path = "never_written.ckpt"}),
             Catch::Contains("checkpoints need host parameters"));
  CHECK_THAT(message({.max_steps = 5, .checkpoint_path = "never_written.ckpt", .resume = true}),
             Catch::Contains("checkpoints need host parameters"));

  // The cluster's device average takes the mean only (fda::train refuses robust aggregators
  // with device parameters at compile time).
  thrust::device_vector<float> w(10, 1.0f), avg(10);
  fda::local_cluster cluster(2);
  std::string error;
  try {
    cluster.run([&](fda::cluster_comm& comm) {
      comm.average(fda::param_view<const float, fda::device_space>(fda::view(w)), 1.0, fda::view(avg),
                   fda::coordinate_median{}.combine_rule());
    });
  } catch (const fda::invalid_argument& e) {
    error = e.what();
  }
  CHECK_THAT(error, Catch::Contains("robust aggregation") && Catch::Contains("docs/gpu.md"));
}
