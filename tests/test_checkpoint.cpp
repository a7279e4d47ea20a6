// SPDX-License-Identifier: Apache-2.0
// Checkpoints: 2N steps in one run and N + N steps with a resume in between end
// bit-identical; a crash after a periodic save loses only the steps since; a corrupt,
// truncated or foreign file is refused with a clear error before anything is loaded.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include <fda/aggregate.hpp>
#include <fda/checkpoint.hpp>
#include <fda/policy.hpp>
#include <fda/train.hpp>

#include "drifting_worker.hpp"
#include "same_run.hpp"
#include "least_squares.hpp"

namespace {

using fda_test::require_same_run;

using fda_test::drifting_worker;

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("fda_test_checkpoint_" + name);
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void spit(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

template <class Policy, class Aggregator>
fda::result run(Policy p, Aggregator a, fda::options opt, std::size_t k = 4, std::size_t d = 301,
                std::size_t pieces = 2) {
  fda::local_cluster cluster(k);
  return fda::train(cluster, [&](std::size_t r) { return drifting_worker(r, d, pieces); }, p, a, opt);
}

template <class Policy, class Aggregator>
void check_resume(Policy p, Aggregator a, std::size_t n) {
  INFO(Policy::name << ", N = " << n);
  const auto file = temp_file(std::string(Policy::name));
  std::filesystem::remove(file);
  const fda::options whole{.max_epochs = 2, .steps_per_epoch = n, .seed = 9};
  const fda::result straight = run(p, a, whole);
  CHECK(straight.syncs >= 1);

  fda::options first = whole;
  first.max_epochs = 1;
  first.checkpoint_path = file.string();
  const fda::result half = run(p, a, first);
  CHECK(half.steps == n);
  REQUIRE(std::filesystem::exists(file));

  fda::options second = whole;
  second.checkpoint_path = file.string();
  second.resume = true;
  const fda::result resumed = run(p, a, second);
  require_same_run(straight, resumed);
  std::filesystem::remove(file);
}

}  // namespace

TEST_CASE("N steps, a checkpoint, N more steps: bit-identical to 2N steps") {
  check_resume(fda::linear_fda{}, fda::fedadam{}, 40);  // adaptive Θ, ξ, server moments
  check_resume(fda::fedavg{.fraction = 0.5}, fda::mean{}, 10);  // the second round's sample
  check_resume(fda::linear_fda{.theta = 0.05}, fda::fedadam{}, 40);
  check_resume(fda::sketch_fda{.theta = 0.05}, fda::mean{}, 37);
  check_resume(fda::naive_fda{.theta = 0.05}, fda::weighted_mean{}, 33);
  check_resume(fda::periodic{.every = 7}, fda::fedavgm{}, 30);  // stops mid-round
  check_resume(fda::exact_variance{.theta = 0.05}, fda::fedyogi{}, 25);
}

TEST_CASE("a worker without save/load: its parameters are its state") {
  const fda_test::least_squares problem(6, 3, 20, 0.1, 4);
  const auto file = temp_file("least_squares");
  auto make = [&](std::size_t r) { return fda_test::ls_worker{&problem, r, 0.05}; };
  fda::local_cluster cluster(3);
  const auto straight = fda::train(cluster, make, fda::linear_fda{.theta = 1e-3}, fda::mean{}, {.max_steps = 200});
  fda::train(cluster, make, fda::linear_fda{.theta = 1e-3}, fda::mean{},
             {.max_steps = 90, .checkpoint_path = file.string()});
  const auto resumed = fda::train(cluster, make, fda::linear_fda{.theta = 1e-3}, fda::mean{},
                                  {.max_steps = 200, .checkpoint_path = file.string(), .resume = true});
  require_same_run(straight, resumed);
  std::filesystem::remove(file);
}

TEST_CASE("a crash after a periodic save: resuming loses only the steps since") {
  const auto file = temp_file("crash");
  std::filesystem::remove(file);
  const fda::options whole{.max_steps = 100, .seed = 3};
  const fda::result straight = run(fda::linear_fda{.theta = 0.05}, fda::mean{}, whole);

  struct crash_at_step_57 {
    bool on_step(const fda::step_info& s) {
      if (s.step == 57) throw std::runtime_error("the machine went down");
      return false;
    }
  };
  fda::options saving = whole;
  saving.checkpoint_path = file.string();
  saving.checkpoint_every = 20;
  fda::local_cluster cluster(4);
  CHECK_THROWS_WITH(fda::train(cluster, [](std::size_t r) { return drifting_worker(r, 301, 2); },
                               fda::linear_fda{.theta = 0.05}, fda::mean{}, saving, crash_at_step_57{}),
                    "the machine went down");
  fda::options resuming = saving;
  resuming.resume = true;
  require_same_run(straight, run(fda::linear_fda{.theta = 0.05}, fda::mean{}, resuming));
  std::filesystem::remove(file);
}

TEST_CASE("corrupt, truncated or foreign checkpoints are refused, naming the problem") {
  const auto file = temp_file("bad");
  const fda::options make_it{.max_steps = 30, .seed = 1, .checkpoint_path = file.string()};
  run(fda::linear_fda{.theta = 0.05}, fda::mean{}, make_it);
  const std::string good = slurp(file);
  REQUIRE(good.size() > 100);

  fda::options resume{.max_steps = 60, .seed = 1, .checkpoint_path = file.string(), .resume = true};
  auto resume_with = [&](const std::string& bytes) {
    spit(file, bytes);
    return run(fda::linear_fda{.theta = 0.05}, fda::mean{}, resume);
  };
  using Catch::Contains;
  SECTION("a flipped byte") {
    std::string bad = good;
    bad[bad.size() / 2] ^= 0x10;
    CHECK_THROWS_WITH(resume_with(bad), Contains("is corrupt: its checksum does not match"));
  }
  SECTION("truncated") {
    CHECK_THROWS_WITH(resume_with(good.substr(0, good.size() - 100)), Contains("truncated"));
    CHECK_THROWS_WITH(resume_with(good.substr(0, 5)), Contains("not an fda checkpoint"));
  }
  SECTION("extra bytes") { CHECK_THROWS_WITH(resume_with(good + "x"), Contains("extra bytes")); }
  SECTION("another format version") {
    std::string bad = good;
    bad[8] = 9;
    CHECK_THROWS_WITH(resume_with(bad), Contains("has format version 9, written by a newer fda than this one"));
  }
  // tests/data/checkpoint-fda-0.1.0.ckpt: written by fda 0.1.0 (commit fc26fe8) with
  // fda-train --model softmax -k 2 --epochs 1 --train-subset 64 --batch 8 --policy linear --checkpoint FILE
  SECTION("a file written by fda 0.1.0 (format version 1), committed when 0.2.0 was released") {
    const std::string old = slurp(std::filesystem::path(FDA_TEST_DATA_DIR) / "checkpoint-fda-0.1.0.ckpt");
    REQUIRE(old.size() > 100);
    CHECK_THROWS_WITH(resume_with(old),
                      Contains("has format version 1, written by fda 0.1.x; this build (fda " FDA_VERSION
                               ") reads format version " +
                               std::to_string(fda::detail::checkpoint_version) + " only: resume it with fda 0.1.x"));
  }
  SECTION("not a checkpoint at all") {
    CHECK_THROWS_WITH(resume_with("P5\n28 28\n255\n" + std::string(784, '\0')), Contains("wrong magic bytes"));
  }
  SECTION("a different run") {
    spit(file, good);
    fda::local_cluster three(3);
    CHECK_THROWS_AS(fda::train(three, [](std::size_t r) { return drifting_worker(r, 301, 2); },
                               fda::linear_fda{.theta = 0.05}, fda::mean{}, resume),
                    fda::checkpoint_error);
    CHECK_THROWS_WITH(fda::train(three, [](std::size_t r) { return drifting_worker(r, 301, 2); },
                                 fda::linear_fda{.theta = 0.05}, fda::mean{}, resume),
                      Contains("its number of workers K is 4 but this run's is 3"));
    CHECK_THROWS_WITH(run(fda::sketch_fda{.theta = 0.05}, fda::mean{}, resume),
                      Contains("its policy is linear_fda but this run's is sketch_fda"));
    CHECK_THROWS_WITH(run(fda::linear_fda{.theta = 0.05}, fda::mean{}, resume, 4, 300),
                      Contains("its number of parameters d is 301 but this run's is 300"));
    fda::options other_seed = resume;
    other_seed.seed = 2;
    CHECK_THROWS_WITH(run(fda::linear_fda{.theta = 0.05}, fda::mean{}, other_seed), Contains("its seed is 1"));
    fda::options shorter = resume;
    shorter.max_steps = 10;
    CHECK_THROWS_WITH(run(fda::linear_fda{.theta = 0.05}, fda::mean{}, shorter),
                      Contains("is at step 30, past this run's last step 10"));
    // Another aggregator: refused by the run record, naming both, before anything is loaded.
    CHECK_THROWS_WITH(run(fda::linear_fda{.theta = 0.05}, fda::fedadam{}, resume),
                      Contains("its aggregator is mean but this run's is fedadam{lr="));
  }
  SECTION("a missing file") {
    std::filesystem::remove(file);
    CHECK_THROWS_WITH(run(fda::linear_fda{.theta = 0.05}, fda::mean{}, resume), Contains("cannot open"));
  }
  SECTION("resume without a path") {
    fda::options no_path = resume;
    no_path.checkpoint_path.clear();
    CHECK_THROWS_WITH(run(fda::linear_fda{.theta = 0.05}, fda::mean{}, no_path),
                      Contains("checkpoint_path is empty"));
  }
  std::filesystem::remove(file);
}

TEST_CASE("a checkpoint resumes only with the aggregator and configuration that wrote it") {
  using Catch::Contains;
  const auto file = temp_file("aggregator");
  const fda::linear_fda policy{.theta = 0.05};
  const fda::options make_it{.max_steps = 20, .seed = 1, .checkpoint_path = file.string()};
  fda::options resume = make_it;
  resume.max_steps = 40;
  resume.resume = true;
  run(policy, fda::fedadam{.lr = 0.01}, make_it);
  const std::string adam = "fedadam{lr=0.01, beta1=0.9, beta2=0.99, tau=0.001, weighted=false}";

  SECTION("another aggregator: a checkpoint_error naming both") {
    CHECK_THROWS_AS(run(policy, fda::mean{}, resume), fda::checkpoint_error);
    CHECK_THROWS_WITH(run(policy, fda::mean{}, resume),
                      Contains("was written by a different run: its aggregator is " + adam + " but this run's is mean"));
    // The same shape of state (m and v): nothing but the run record can tell them apart.
    CHECK_THROWS_WITH(run(policy, fda::fedyogi{.lr = 0.01}, resume),
                      Contains("its aggregator is " + adam +
                               " but this run's is fedyogi{lr=0.01, beta1=0.9, beta2=0.99, tau=0.001, weighted=false}"));
  }
  SECTION("the same aggregator with another configuration: names both configurations") {
    CHECK_THROWS_AS(run(policy, fda::fedadam{.lr = 0.02}, resume), fda::checkpoint_error);
    CHECK_THROWS_WITH(run(policy, fda::fedadam{.lr = 0.02}, resume),
                      Contains("its aggregator is " + adam +
                               " but this run's is fedadam{lr=0.02, beta1=0.9, beta2=0.99, tau=0.001, weighted=false}"));
    CHECK_THROWS_WITH(run(policy, fda::fedadam{.lr = 0.01, .weighted = true}, resume),
                      Contains("but this run's is fedadam{lr=0.01, beta1=0.9, beta2=0.99, tau=0.001, weighted=true}"));
  }
  SECTION("the same aggregator and configuration: resumes") {
    CHECK(run(policy, fda::fedadam{.lr = 0.01}, resume).steps == 40);
  }
  SECTION("mean, weighted_mean and the robust ones are told apart") {
    run(policy, fda::mean{}, make_it);
    CHECK_THROWS_WITH(run(policy, fda::weighted_mean{}, resume),
                      Contains("its aggregator is mean but this run's is weighted_mean"));
    CHECK_THROWS_WITH(run(policy, fda::coordinate_median{}, resume),
                      Contains("its aggregator is mean but this run's is coordinate_median"));
    run(policy, fda::trimmed_mean{.trim = 0.25}, make_it);
    CHECK_THROWS_WITH(run(policy, fda::trimmed_mean{.trim = 0.2}, resume),
                      Contains("its aggregator is trimmed_mean{trim=0.25} but this run's is trimmed_mean{trim=0.2}"));
  }
  std::filesystem::remove(file);
}

TEST_CASE("checkpoint_writer and checkpoint_reader round-trip and reject mismatches") {
  fda::checkpoint_writer out;
  out(std::uint64_t(7)), out(-3), out(2.5), out(1.5f), out(true), out(std::string("name"));
  out(std::vector<float>{1, 2, 3});
  const std::string bytes = out.bytes();
  fda::checkpoint_reader in(bytes, "test");
  CHECK(in.get<std::uint64_t>() == 7);
  CHECK(in.get<int>() == -3);
  CHECK(in.get<double>() == 2.5);
  CHECK(in.get<float>() == 1.5f);
  CHECK(in.get<bool>());
  CHECK(in.get<std::string>() == "name");
  std::vector<float> v(3);
  in(v);
  CHECK(v == std::vector<float>{1, 2, 3});
  in.finish();

  fda::checkpoint_reader wrong(bytes, "test");
  CHECK_THROWS_WITH(wrong.get<double>(), Catch::Contains("expected a double at byte 0, found a unsigned integer"));
  const std::string last = bytes.substr(bytes.size() - 22), first5 = bytes.substr(0, 5);
  fda::checkpoint_reader size(last, "test");
  std::vector<float> four(4);
  CHECK_THROWS_WITH(size(four), Catch::Contains("has 3 elements where this run has 4"));
  fda::checkpoint_reader cut(first5, "test");
  CHECK_THROWS_WITH(cut.get<std::uint64_t>(), Catch::Contains("truncated"));
  fda::checkpoint_reader left(bytes, "test");
  left.get<std::uint64_t>();
  CHECK_THROWS_WITH(left.finish(), Catch::Contains("bytes more than this program reads"));
}
