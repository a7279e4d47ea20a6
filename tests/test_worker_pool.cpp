// SPDX-License-Identifier: Apache-2.0
// fda::local_cluster as a worker pool (cluster_options::threads < K): K workers as fibers on
// a few OS threads, bit-identical to one thread per worker.
#include <fda/fda.hpp>
#include <fda/testing.hpp>

#include <catch2/catch.hpp>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "drifting_worker.hpp"
#include "same_run.hpp"

using fda_test::drifting_worker;

namespace {

template <class Policy, class Aggregator>
void check_pool_equals_threads(Policy policy, Aggregator agg, std::size_t k, std::size_t threads, std::size_t d) {
  const fda::options opt{.max_epochs = 3, .steps_per_epoch = 10, .seed = 3};
  auto make = [&](std::size_t r) { return drifting_worker(r, d, 2); };
  fda::local_cluster pool(k, {.threads = threads});
  REQUIRE(pool.threads() == threads);
  const fda::result a = fda::train(pool, make, policy, agg, opt);
  fda::local_cluster one_each(k);
  REQUIRE(one_each.threads() == k);
  const fda::result b = fda::train(one_each, make, policy, agg, opt);
  INFO(Policy::name << ", K = " << k << " on " << threads << " threads");
  fda_test::require_same_run(a, b);
  CHECK(a.syncs > 0);
}

}  // namespace

TEST_CASE("worker pool: fda::train on T threads equals one thread per worker bit for bit") {
  check_pool_equals_threads(fda::linear_fda{.theta = 0.02}, fda::mean{}, 13, 2, 301);
  check_pool_equals_threads(fda::sketch_fda{.theta = 0.02}, fda::fedadam{}, 16, 3, 301);
  check_pool_equals_threads(fda::naive_fda{.theta = 0.02}, fda::trimmed_mean{.trim = 0.25}, 9, 1, 101);
  check_pool_equals_threads(fda::linear_fda{}, fda::weighted_mean{}, 64, 2, 257);  // adaptive Θ
  check_pool_equals_threads(fda::periodic{.every = 5}, fda::mean{}, 100, 2, 50);
}

TEST_CASE("worker pool: the conformance suite passes on K workers over T threads") {
  for (const auto& [k, t] : {std::pair<std::size_t, std::size_t>{7, 2}, {12, 3}}) {
    fda::local_cluster pool(k, {.threads = t});
    std::vector<fda::testing::report> reports(k);
    pool.run([&](fda::cluster_comm& comm) {
      const fda::testing::communicator_settings s{.label = "worker pool"};
      fda::testing::report r = fda::testing::check_communicator(comm, s);
      r.merge(fda::testing::check_train_on(comm, s));
      reports[comm.rank()] = r;
    });
    for (const auto& r : reports) {
      INFO("K = " << k << ", T = " << t << "\n" << r.summary());
      CHECK(r.passed());
      CHECK(r.ran("barrier"));
    }
  }
}

TEST_CASE("worker pool: a worker's error ends the run, and every worker's stack unwinds") {
  static std::atomic<int> alive{0};
  struct counted : drifting_worker {
    bool throws;
    counted(std::size_t r, bool t) : drifting_worker(r, 20), throws(t) { ++alive; }
    counted(const counted& o) : drifting_worker(o), throws(o.throws) { ++alive; }
    ~counted() { --alive; }
    void step() {
      drifting_worker::step();
      if (throws && t == 7) throw std::runtime_error("worker 5 failed on purpose");
    }
  };
  fda::local_cluster pool(11, {.threads = 2});
  CHECK_THROWS_WITH(fda::train(pool, [](std::size_t r) { return counted(r, r == 5); }, fda::periodic{.every = 3},
                               fda::mean{}, {.max_steps = 50}),
                    "worker 5 failed on purpose");
  CHECK(alive == 0);
  // The pool runs again after an error.
  const auto again = fda::train(pool, [](std::size_t r) { return counted(r, false); }, fda::periodic{.every = 3},
                                fda::mean{}, {.max_steps = 9});
  CHECK(again.syncs == 3);
  CHECK(alive == 0);
}

TEST_CASE("worker pool: a worker that leaves while the others of its thread wait is an error, not a hang") {
  fda::local_cluster pool(4, {.threads = 1});
  CHECK_THROWS_WITH(pool.run([](fda::cluster_comm& comm) {
    if (comm.rank() != 2) comm.barrier();
  }),
                    Catch::Contains("a worker returned while others of its thread wait at a barrier"));
}

TEST_CASE("worker pool: settings") {
  CHECK(fda::local_cluster(4, {.threads = 9}).threads() == 4);  // never more threads than workers
  CHECK(fda::local_cluster(4, {.threads = 0}).threads() == 4);
  CHECK_THROWS_WITH(fda::local_cluster(4, {.threads = 2, .stack_bytes = 100}),
                    Catch::Contains("stack_bytes = 100 is too small"));
}

TEST_CASE("worker pool: 1024 workers on 2 threads") {
  const std::size_t k = 1024;
  fda::local_cluster pool(k, {.threads = 2});
  const auto r = fda::train(pool, [](std::size_t rank) { return drifting_worker(rank, 64); },
                            fda::linear_fda{.theta = 0.02}, fda::mean{}, {.max_steps = 12});
  CHECK(r.steps == 12);
  CHECK(r.syncs > 0);
  CHECK(r.model.size() == 64);
  CHECK(fda::all_finite(r.model));
  // Against the same run with one thread per worker for the first steps (1024 OS threads).
  fda::local_cluster one_each(k);
  const auto b = fda::train(one_each, [](std::size_t rank) { return drifting_worker(rank, 64); },
                            fda::linear_fda{.theta = 0.02}, fda::mean{}, {.max_steps = 12});
  CHECK(r.syncs == b.syncs);
  CHECK(r.model == b.model);
}
