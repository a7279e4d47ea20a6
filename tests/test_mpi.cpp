// SPDX-License-Identifier: Apache-2.0
// The MPI transport, run under mpirun with 2 and 4 ranks. Every rank runs every test case;
// each case trains over MPI and, on every rank, the same run on the in-process cluster with
// K = the number of ranks, and compares them.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include <fda/aggregate.hpp>
#include <fda/callbacks.hpp>
#include <fda/mpi.hpp>
#include <fda/policy.hpp>
#include <fda/testing.hpp>
#include <fda/train.hpp>

#include "drifting_worker.hpp"
#include "least_squares.hpp"

namespace {

boost::mpi::communicator& world() {
  static boost::mpi::communicator w;
  return w;
}
std::size_t ranks() { return std::size_t(world().size()); }
std::size_t my_rank() { return std::size_t(world().rank()); }

using fda_test::drifting_worker;

template <class Policy, class Aggregator>
void check_mpi_equals_cluster(Policy policy, Aggregator agg, std::size_t d, std::size_t pieces,
                              fda::mpi_options mo, bool bitwise) {
  const fda::options opt{.max_epochs = 3, .steps_per_epoch = 20, .seed = 5};
  fda::mpi_comm comm(world(), mo);
  drifting_worker mine(my_rank(), d, pieces);
  const fda::result over_mpi = fda::train(comm, mine, policy, agg, opt);

  fda::local_cluster cluster(ranks());
  const fda::result in_process = fda::train(
      cluster, [&](std::size_t r) { return drifting_worker(r, d, pieces); }, policy, agg, opt);

  INFO(Policy::name << ", d = " << d << ", pieces = " << pieces << ", K = " << ranks()
                    << (bitwise ? ", ordered" : ", native"));
  REQUIRE(over_mpi.syncs == in_process.syncs);
  CHECK(over_mpi.syncs > 0);
  CHECK(over_mpi.checks == in_process.checks);
  CHECK(over_mpi.monitor_bytes == in_process.monitor_bytes);
  CHECK(over_mpi.sync_bytes == in_process.sync_bytes);
  for (std::size_t s = 0; s < over_mpi.syncs; ++s) {
    const auto &a = over_mpi.sync_log[s], &b = in_process.sync_log[s];
    CHECK(a.step == b.step);
    if (bitwise) {
      CHECK((a.estimate == b.estimate || (std::isnan(a.estimate) && std::isnan(b.estimate))));
      CHECK(a.variance == b.variance);
      CHECK((a.theta == b.theta || (std::isnan(a.theta) && std::isnan(b.theta))));
    } else {
      CHECK(a.variance == Approx(b.variance).epsilon(1e-5));
    }
  }
  REQUIRE(over_mpi.model.size() == d);
  double diff = 0, norm = 0;
  std::size_t different = 0;
  for (std::size_t i = 0; i < d; ++i) {
    diff += (over_mpi.model[i] - in_process.model[i]) * (over_mpi.model[i] - in_process.model[i]);
    norm += in_process.model[i] * in_process.model[i];
    different += over_mpi.model[i] != in_process.model[i];
  }
  if (bitwise) CHECK(different == 0);
  if (bitwise) CHECK(over_mpi.global_model == in_process.global_model);
  CHECK(over_mpi.notes == in_process.notes);
  CHECK(std::sqrt(diff / norm) <= 1e-5);
  REQUIRE(over_mpi.bytes_sent_per_rank.size() == ranks());
  for (auto b : over_mpi.bytes_sent_per_rank) CHECK(b > 0);
  CHECK(in_process.bytes_sent_per_rank.empty());
}

}  // namespace

TEST_CASE("ordered MPI reductions equal the in-process cluster bit for bit") {
  const fda::mpi_options ordered{};
  check_mpi_equals_cluster(fda::linear_fda{.theta = 0.02}, fda::mean{}, 1001, 1, ordered, true);
  check_mpi_equals_cluster(fda::sketch_fda{.theta = 0.02}, fda::mean{}, 1001, 1, ordered, true);
  check_mpi_equals_cluster(fda::naive_fda{.theta = 0.02}, fda::weighted_mean{}, 1001, 3, ordered, true);
  check_mpi_equals_cluster(fda::linear_fda{}, fda::fedadam{}, 517, 2, ordered, true);  // adaptive Θ
  check_mpi_equals_cluster(fda::exact_variance{.theta = 0.02}, fda::mean{}, 300, 1, ordered, true);
  check_mpi_equals_cluster(fda::periodic{.every = 7}, fda::fedavgm{}, 300, 1, ordered, true);
  // Several rounds of the all-to-all (chunks of 4096 elements), from memory in place and packed.
  check_mpi_equals_cluster(fda::linear_fda{.theta = 0.02}, fda::weighted_mean{}, 50001, 1,
                           {.chunk = 4096}, true);
  check_mpi_equals_cluster(fda::sketch_fda{.theta = 0.02}, fda::mean{}, 50001, 4, {.chunk = 4096}, true);
  // Robust aggregation: per-element order statistics, also in chunks.
  check_mpi_equals_cluster(fda::linear_fda{.theta = 0.02}, fda::trimmed_mean{.trim = 0.25}, 20001, 2,
                           {.chunk = 4096}, true);
  check_mpi_equals_cluster(fda::naive_fda{.theta = 0.02}, fda::coordinate_median{}, 1001, 1, ordered, true);
  // max_drift's adaptive Θ calibrates on the largest drift (one more all-reduce per sync).
  check_mpi_equals_cluster(fda::max_drift{}, fda::mean{}, 300, 1, ordered, true);
}

TEST_CASE("a worker whose parameters turn NaN between checks is excluded alike over MPI and in-process") {
  // The NaN appears at step 23, after the last sync (20) of periodic{10}; the next average
  // finds it (the sync at 30), leaves the worker out and takes the others' again.
  const std::size_t last = ranks() - 1;
  const fda::options opt{.max_steps = 33, .seed = 5, .on_bad_state = fda::on_fault::exclude};
  auto make = [&](std::size_t r) {
    drifting_worker w(r, 301, 2);
    if (r == last) w.poison_at = 23;
    return w;
  };
  fda::mpi_comm comm(world());
  drifting_worker mine = make(my_rank());
  const auto a = fda::train(comm, mine, fda::periodic{.every = 10}, fda::weighted_mean{}, opt);
  fda::local_cluster cluster(ranks());
  const auto b = fda::train(cluster, make, fda::periodic{.every = 10}, fda::weighted_mean{}, opt);
  REQUIRE(a.faults.size() == 1);
  CHECK(a.faults[0].worker == last);
  CHECK(a.faults[0].step == 30);
  CHECK(a.faults[0].message == b.faults[0].message);
  REQUIRE(a.syncs == 3);
  CHECK(a.sync_log[2].variance == b.sync_log[2].variance);  // over the K - 1 workers averaged
  CHECK(a.model == b.model);
  CHECK(fda::all_finite(a.model));
  drifting_worker again = make(my_rank());
  fda::options fail = opt;
  fail.on_bad_state = fda::on_fault::fail;
  CHECK_THROWS_WITH(fda::train(comm, again, fda::periodic{.every = 10}, fda::weighted_mean{}, fail),
                    Catch::Contains("worker " + std::to_string(last) + " has NaN or Inf in its parameters at step 30"));
}

TEST_CASE("native MPI reductions agree with the in-process cluster to rounding") {
  const fda::mpi_options native{.reduction = fda::mpi_reduction::native};
  check_mpi_equals_cluster(fda::linear_fda{.theta = 0.02}, fda::mean{}, 1001, 1, native, false);
  check_mpi_equals_cluster(fda::sketch_fda{.theta = 0.02}, fda::mean{}, 20001, 1, native, false);
  // Unequal weights or several pieces: the average is taken the ordered way.
  check_mpi_equals_cluster(fda::naive_fda{.theta = 0.02}, fda::weighted_mean{}, 1001, 3, native, false);
}

TEST_CASE("least squares over MPI reaches the cluster's model in double precision") {
  const fda_test::least_squares problem(8, ranks(), 30, 0.1, 3, 0.5);
  fda::mpi_comm comm(world());
  fda_test::ls_worker mine{&problem, my_rank(), 0.05};
  const fda::options opt{.max_steps = 300, .seed = 1};
  const auto a = fda::train(comm, mine, fda::linear_fda{.theta = 1e-3}, fda::weighted_mean{}, opt);
  fda::local_cluster cluster(ranks());
  const auto b = fda::train(
      cluster, [&](std::size_t r) { return fda_test::ls_worker{&problem, r, 0.05}; },
      fda::linear_fda{.theta = 1e-3}, fda::weighted_mean{}, opt);
  CHECK(a.syncs == b.syncs);
  CHECK(a.model == b.model);
  CHECK(problem.relative_error(a.model) < 0.05);
}

TEST_CASE("callbacks run on rank 0 only, and a stop they ask for reaches every rank") {
  struct counter {
    std::size_t steps = 0, syncs = 0, begins = 0, ends = 0;
    void on_begin(const fda::run_info&) { ++begins; }
    bool on_step(const fda::step_info& s) {
      ++steps;
      return s.step == 17;
    }
    void on_sync(const fda::sync_record&) { ++syncs; }
    void on_end(const fda::result&) { ++ends; }
  } seen;
  fda::mpi_comm comm(world());
  drifting_worker mine(my_rank(), 100);
  const auto r = fda::train(comm, mine, fda::periodic{.every = 5}, fda::mean{}, {.max_steps = 100}, seen);
  CHECK(r.steps == 17);
  CHECK(r.syncs == 3);
  CHECK(r.stopped_by_callback);
  const std::size_t calls = my_rank() == 0 ? 1 : 0;
  CHECK(seen.begins == calls);
  CHECK(seen.ends == calls);
  CHECK(seen.steps == 17 * calls);
  CHECK(seen.syncs == 3 * calls);
}

TEST_CASE("failures found by a collective are raised on every rank, naming the worker") {
  fda::mpi_comm comm(world());
  const std::size_t last = ranks() - 1;
  SECTION("model sizes that differ") {
    drifting_worker mine(my_rank(), my_rank() == last ? 11 : 10);
    CHECK_THROWS_WITH(fda::train(comm, mine, fda::linear_fda{}, fda::mean{}, {.max_steps = 5}),
                      Catch::Contains("worker " + std::to_string(last) + " has 11 parameters but worker 0 has 10"));
  }
  SECTION("NaN in one worker's local state") {
    drifting_worker mine(my_rank(), 10);
    if (my_rank() == last) mine.poison_at = 4;
    CHECK_THROWS_AS(fda::train(comm, mine, fda::linear_fda{.theta = 1e9}, fda::mean{}, {.max_steps = 10}),
                    fda::numeric_error);
    drifting_worker again(my_rank(), 10);
    if (my_rank() == last) again.poison_at = 4;
    CHECK_THROWS_WITH(fda::train(comm, again, fda::linear_fda{.theta = 1e9}, fda::mean{}, {.max_steps = 10}),
                      Catch::Contains("worker " + std::to_string(last) + " at step 4") &&
                          Catch::Contains("its parameters hold NaN or Inf"));
  }
  SECTION("NaN in the average of a schedule without local states") {
    drifting_worker mine(my_rank(), 10);
    if (my_rank() == last) mine.poison_at = 4;
    CHECK_THROWS_WITH(fda::train(comm, mine, fda::periodic{.every = 5}, fda::mean{}, {.max_steps = 10}),
                      Catch::Contains("worker " + std::to_string(last) + " has NaN or Inf in its parameters at step 5"));
  }
}

TEST_CASE("checkpoints over MPI: resumed runs are bit-identical, also across transports") {
  const std::size_t k = ranks();
  const std::string file = "/tmp/fda_test_mpi_checkpoint_np" + std::to_string(k);
  auto make = [](std::size_t r) { return drifting_worker(r, 257, 2); };
  const fda::options whole{.max_epochs = 2, .steps_per_epoch = 30, .seed = 4};
  fda::mpi_comm comm(world());
  drifting_worker a = make(my_rank());
  const auto straight = fda::train(comm, a, fda::linear_fda{}, fda::fedadam{}, whole);

  fda::options half = whole;
  half.max_epochs = 1;
  half.checkpoint_path = file;
  drifting_worker b = make(my_rank());
  fda::train(comm, b, fda::linear_fda{}, fda::fedadam{}, half);
  fda::options rest = whole;
  rest.checkpoint_path = file;
  rest.resume = true;
  drifting_worker c = make(my_rank());
  const auto resumed = fda::train(comm, c, fda::linear_fda{}, fda::fedadam{}, rest);
  CHECK(resumed.syncs == straight.syncs);
  CHECK(resumed.model == straight.model);

  // Written by the in-process cluster (on rank 0), resumed over MPI.
  if (my_rank() == 0) {
    fda::local_cluster cluster(k);
    fda::train(cluster, make, fda::linear_fda{}, fda::fedadam{}, half);
  }
  world().barrier();
  drifting_worker e = make(my_rank());
  const auto across = fda::train(comm, e, fda::linear_fda{}, fda::fedadam{}, rest);
  CHECK(across.syncs == straight.syncs);
  CHECK(across.model == straight.model);

  // A foreign file: every rank raises the same error, nobody hangs.
  fda::options foreign = rest;
  foreign.seed = 5;
  drifting_worker f = make(my_rank());
  CHECK_THROWS_WITH(fda::train(comm, f, fda::linear_fda{}, fda::fedadam{}, foreign),
                    Catch::Contains("its seed is 4 but this run's is 5"));
  world().barrier();
  if (my_rank() == 0) std::remove(file.c_str());
}

TEST_CASE("the conformance suite: mpi_comm passes check_communicator and check_train_on") {
  // Ordered reductions equal the rank-ordered references and the in-process cluster bit for
  // bit (also when the average's all-to-all takes several rounds of 4096 elements); native
  // ones (MPI_Allreduce) agree to rounding. Every rank gets the same, merged, report.
  struct setup {
    const char* label;
    fda::mpi_options mo;
    fda::testing::communicator_settings s;
  };
  const setup setups[] = {
      {"mpi ordered", {}, {.label = "mpi_comm ordered"}},
      {"mpi ordered, chunks", {.chunk = 4096}, {.label = "mpi_comm ordered, chunk 4096", .dim = 20000}},
      {"mpi native", {.reduction = fda::mpi_reduction::native},
       {.label = "mpi_comm native", .bitwise = false, .tolerance = 1e-5}},
  };
  for (const auto& [label, mo, s] : setups) {
    fda::mpi_comm comm(world(), mo);
    fda::testing::report r = fda::testing::check_communicator(comm, s);
    r.merge(fda::testing::check_train_on(comm, s));
    r.merge(fda::testing::check_train_on<double>(comm, s));
    INFO(label << ", rank " << my_rank() << ":\n" << r.summary());
    CHECK(r.passed());
    CHECK(r.ran("all_reduce_sum"));
    CHECK(r.ran("train_checkpoint"));
    std::string rank0 = r.summary();  // the same report on every rank
    comm.broadcast_bytes(rank0);
    CHECK(rank0 == r.summary());
  }
}

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv);
  (void)world();
  return Catch::Session().run(argc, argv);
}
