// SPDX-License-Identifier: Apache-2.0
// Several workers per MPI rank (fda::mpi_cluster), run under mpirun with 1 and 2 ranks of
// N = 4 worker threads: every run must equal the in-process cluster of K = ranks · N
// workers bit for bit.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <fda/aggregate.hpp>
#include <fda/mpi.hpp>
#include <fda/policy.hpp>
#include <fda/testing.hpp>
#include <fda/train.hpp>

#include "drifting_worker.hpp"
#include "same_run.hpp"

namespace {

boost::mpi::communicator& world() {
  static boost::mpi::communicator w;
  return w;
}
constexpr std::size_t per_rank = 4;
std::size_t workers() { return std::size_t(world().size()) * per_rank; }

using fda_test::drifting_worker;

template <class Policy, class Aggregator>
void check_equals_flat(Policy policy, Aggregator agg, std::size_t d, std::size_t pieces) {
  const fda::options opt{.max_epochs = 3, .steps_per_epoch = 20, .seed = 5};
  auto make = [&](std::size_t r) { return drifting_worker(r, d, pieces); };
  fda::mpi_cluster hierarchy(world(), per_rank);
  const fda::result a = fda::train(hierarchy, make, policy, agg, opt);
  fda::local_cluster flat(workers());
  const fda::result b = fda::train(flat, make, policy, agg, opt);

  INFO(Policy::name << ", d = " << d << ", pieces = " << pieces << ", K = " << workers());
  fda_test::require_same_run(a, b);
  CHECK(a.syncs > 0);
  REQUIRE(a.bytes_sent_per_rank.size() == std::size_t(world().size()));  // one entry per MPI rank
  if (world().size() > 1)
    for (auto bytes : a.bytes_sent_per_rank) CHECK(bytes > 0);
}

}  // namespace

TEST_CASE("mpi_cluster: fda::train equals the in-process cluster of K = ranks x N workers bit for bit") {
  check_equals_flat(fda::linear_fda{.theta = 0.02}, fda::mean{}, 1001, 1);
  check_equals_flat(fda::sketch_fda{.theta = 0.02}, fda::mean{}, 1001, 3);
  check_equals_flat(fda::naive_fda{.theta = 0.02}, fda::weighted_mean{}, 1001, 3);
  check_equals_flat(fda::linear_fda{}, fda::fedadam{}, 517, 2);  // adaptive Θ
  check_equals_flat(fda::exact_variance{.theta = 0.02}, fda::mean{}, 300, 1);
  check_equals_flat(fda::periodic{.every = 7}, fda::fedavgm{}, 300, 1);
  check_equals_flat(fda::linear_fda{.theta = 0.02}, fda::trimmed_mean{.trim = 0.25}, 2001, 2);
  check_equals_flat(fda::max_drift{}, fda::mean{}, 300, 1);
  check_equals_flat(fda::linear_fda{.theta = 0.02}, fda::mean{}, 7, 1);  // fewer elements than workers
}

TEST_CASE("mpi_cluster: the conformance suite passes (check_communicator, check_train_on)") {
  fda::mpi_cluster cluster(world(), per_rank);
  std::vector<fda::testing::report> reports(per_rank);
  cluster.run([&](fda::mpi_cluster_comm& comm) {
    const fda::testing::communicator_settings s{.label = "mpi_cluster"};
    fda::testing::report r = fda::testing::check_communicator(comm, s);
    r.merge(fda::testing::check_train_on(comm, s));
    r.merge(fda::testing::check_train_on<double>(comm, s));
    reports[comm.local_rank()] = r;
  });
  for (const auto& r : reports) {
    INFO(r.summary());
    CHECK(r.passed());
    CHECK(r.ran("all_reduce_sum"));
    CHECK(r.ran("train_checkpoint"));
  }
}

TEST_CASE("mpi_cluster: ranks and sizes") {
  fda::mpi_cluster cluster(world(), per_rank);
  CHECK(cluster.size() == workers());
  CHECK(cluster.workers_per_rank() == per_rank);
  CHECK(cluster.first_worker() == std::size_t(world().rank()) * per_rank);
  std::vector<std::size_t> seen(per_rank);
  cluster.run([&](fda::mpi_cluster_comm& comm) {
    CHECK(comm.size() == workers());
    seen[comm.local_rank()] = comm.rank();
  });
  for (std::size_t i = 0; i < per_rank; ++i) CHECK(seen[i] == cluster.first_worker() + i);
}

TEST_CASE("mpi_cluster: bad settings are refused with the value named") {
  CHECK_THROWS_WITH(fda::mpi_cluster(world(), 0), Catch::Contains("workers_per_rank = 0 is invalid"));
  CHECK_THROWS_WITH(fda::mpi_cluster(world(), 2, {.reduction = fda::mpi_reduction::native}),
                    Catch::Contains("mpi_reduction::native is not supported"));
  if (world().size() > 1) {  // every rank learns that rank 1 differs
    const std::size_t mine = world().rank() == 1 ? 3 : 2;
    CHECK_THROWS_WITH(fda::mpi_cluster(world(), mine), Catch::Contains("rank 1 has 3 workers per rank but rank 0 has 2"));
  }
}

TEST_CASE("mpi_cluster: a NaN found by a collective is raised on every worker of every rank") {
  const std::size_t last = workers() - 1;
  auto make = [&](std::size_t r) {
    drifting_worker w(r, 10);
    if (r == last) w.poison_at = 4;
    return w;
  };
  fda::mpi_cluster cluster(world(), per_rank);
  CHECK_THROWS_AS(fda::train(cluster, make, fda::linear_fda{.theta = 1e9}, fda::mean{}, {.max_steps = 10}),
                  fda::numeric_error);
  // Under exclude, the faulty worker is left out alike on both transports.
  const fda::options opt{.max_steps = 33, .seed = 5, .on_bad_state = fda::on_fault::exclude};
  auto late = [&](std::size_t r) {
    drifting_worker w(r, 301, 2);
    if (r == last) w.poison_at = 23;
    return w;
  };
  const auto a = fda::train(cluster, late, fda::periodic{.every = 10}, fda::weighted_mean{}, opt);
  fda::local_cluster flat(workers());
  const auto b = fda::train(flat, late, fda::periodic{.every = 10}, fda::weighted_mean{}, opt);
  REQUIRE(a.faults.size() == 1);
  CHECK(a.faults[0].worker == last);
  CHECK(a.faults[0].message == b.faults[0].message);
  CHECK(a.model == b.model);
}

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::serialized);
  (void)world();
  return Catch::Session().run(argc, argv);
}
