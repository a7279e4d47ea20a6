// SPDX-License-Identifier: Apache-2.0
// FedAvg with client sampling (fda::fedavg::fraction, McMahan et al.'s C): each round's
// average takes max(1, ⌊C·K⌋) clients drawn without replacement, the same on every worker.
#include <fda/fda.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "drifting_worker.hpp"

using fda_test::drifting_worker;

namespace {

fda::fedavg::monitor<float> sampler(double fraction, std::size_t k, std::uint64_t seed = 3) {
  return {fda::fedavg{.fraction = fraction}, {.dim = 10, .workers = k, .steps_per_epoch = 5, .seed = seed}};
}

std::set<std::size_t> sample_of(fda::fedavg::monitor<float>& m, std::size_t k, std::size_t sync) {
  m.choose_clients(sync);
  std::set<std::size_t> chosen;
  for (std::size_t r = 0; r < k; ++r)
    if (m.takes_part(r)) chosen.insert(r);
  return chosen;
}

}  // namespace

TEST_CASE("client sampling: m = max(1, floor(C K)) clients per round, uniform, deterministic") {
  auto m = sampler(0.25, 8);
  REQUIRE(m.samples_clients());
  CHECK(m.clients_per_round() == 2);
  CHECK(sampler(0.01, 8).clients_per_round() == 1);
  CHECK(sampler(1.0, 8).clients_per_round() == 8);
  CHECK_FALSE(sampler(1.0, 8).samples_clients());
  CHECK(sampler(0.3, 10).clients_per_round() == 3);

  auto again = sampler(0.25, 8), other_seed = sampler(0.25, 8, 4);
  std::vector<std::size_t> times(8, 0);
  std::size_t differs_by_seed = 0;
  const std::size_t rounds = 8000;
  for (std::size_t s = 1; s <= rounds; ++s) {
    const auto chosen = sample_of(m, 8, s);
    REQUIRE(chosen.size() == 2);
    CHECK(chosen == sample_of(again, 8, s));  // the same on every worker, and after a resume
    differs_by_seed += chosen != sample_of(other_seed, 8, s);
    for (auto r : chosen) ++times[r];
  }
  CHECK(differs_by_seed > rounds / 2);
  // Each client is drawn with probability m / K = 1/4: 2000 of 8000 rounds, ± 5 sigma (194).
  for (std::size_t r = 0; r < 8; ++r) {
    INFO("client " << r);
    CHECK(std::abs(double(times[r]) - 2000.0) < 194.0);
  }
}

TEST_CASE("client sampling: an invalid fraction is refused, naming it") {
  for (const double bad : {0.0, -0.5, 1.5, std::numeric_limits<double>::quiet_NaN()})
    CHECK_THROWS_WITH(sampler(bad, 8), Catch::Contains("fda::fedavg: fraction = ") && Catch::Contains("(0, 1]"));
}

TEST_CASE("client sampling: each sync averages exactly the sampled clients (brute-force reference)") {
  const std::size_t k = 8, d = 37, spe = 5, epochs = 6;
  const fda::fedavg policy{.local_epochs = 1, .fraction = 0.25};
  const fda::options opt{.max_epochs = epochs, .steps_per_epoch = spe, .seed = 11};
  fda::local_cluster cluster(k);
  const fda::result got = fda::train(cluster, [&](std::size_t r) { return drifting_worker(r, d); }, policy,
                                     fda::mean{}, opt);
  REQUIRE(got.syncs == epochs);
  CHECK(got.sync_bytes == got.syncs * 2 * 2 * 4 * d);  // m = 2 uploads and 2 downloads of 4·d bytes

  // The same rounds by hand: every client steps; at a round's end the sampled clients'
  // models are averaged in double, in rank order, and every client takes the average.
  std::vector<drifting_worker> clients;
  for (std::size_t r = 0; r < k; ++r) clients.emplace_back(r, d);
  for (std::size_t r = 1; r < k; ++r) clients[r].w = clients[0].w;  // everyone starts from worker 0's model
  auto m = sampler(0.25, k, opt.seed);
  for (std::size_t round = 1; round <= epochs; ++round) {
    for (std::size_t t = 0; t < spe; ++t)
      for (auto& c : clients) c.step();
    const auto chosen = sample_of(m, k, round);
    std::vector<float> avg(d);
    for (std::size_t i = 0; i < d; ++i) {
      double acc = 0.0;
      for (std::size_t r : chosen) acc += (1.0 / double(chosen.size())) * double(clients[r].w[0][i]);
      avg[i] = float(acc);
    }
    for (auto& c : clients) c.w[0] = avg;
  }
  REQUIRE(got.global_model.size() == d);
  std::size_t different = 0;
  for (std::size_t i = 0; i < d; ++i) different += float(got.global_model[i]) != clients[0].w[0][i];
  CHECK(different == 0);

  // Negative control: all clients (C = 1) give another model.
  fda::local_cluster again(k);
  const fda::result all = fda::train(again, [&](std::size_t r) { return drifting_worker(r, d); },
                                     fda::fedavg{.local_epochs = 1}, fda::mean{}, opt);
  CHECK(all.global_model != got.global_model);
  CHECK(all.sync_bytes == all.syncs * 2 * k * 4 * d);
}

TEST_CASE("client sampling: the same run on a worker pool") {
  const fda::options opt{.max_epochs = 4, .steps_per_epoch = 3, .seed = 2};
  auto make = [](std::size_t r) { return drifting_worker(r, 50); };
  fda::local_cluster threads(16), pool(16, {.threads = 2});
  const auto a = fda::train(threads, make, fda::fedavg{.fraction = 0.1}, fda::fedadam{}, opt);
  const auto b = fda::train(pool, make, fda::fedavg{.fraction = 0.1}, fda::fedadam{}, opt);
  CHECK(a.syncs == 4);
  CHECK(a.model == b.model);
  CHECK(a.global_model == b.global_model);
}
