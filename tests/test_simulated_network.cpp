// SPDX-License-Identifier: Apache-2.0
// fda::simulated_network: a transport written only against the public communicator
// concept. Its runs are bit-identical to the wrapped transport's, and the time it charges
// is the network model's formula applied to the collectives the run made, recounted here
// by a second decorator that only records them.
#include <fda/comm/simulated_network.hpp>
#include <fda/fda.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "least_squares.hpp"

using fda_test::least_squares;
using fda_test::ls_worker;

namespace {

static_assert(fda::communicator<fda::cluster_comm>);
static_assert(fda::communicator<fda::simulated_network<fda::cluster_comm>>);
static_assert(fda::communicator<fda::simulated_network<fda::simulated_network<fda::cluster_comm>>>);
static_assert(!fda::communicator<fda::local_cluster>);
static_assert(fda::communicator_traits<fda::simulated_network<fda::cluster_comm>>::reports_network_seconds);
static_assert(!fda::communicator_traits<fda::cluster_comm>::reports_network_seconds);

/// What a collective moved: its kind and the values (or bytes) one worker contributed.
struct collective {
  enum kind_t { reduce, average, broadcast, bytes } kind;
  double amount;
};

/// A user's decorator: forwards everything and records the data-moving collectives.
template <class Comm>
struct recording {
  Comm& inner;
  std::vector<collective> log;

  std::size_t rank() const { return inner.rank(); }
  std::size_t size() const { return inner.size(); }
  void barrier() { inner.barrier(); }
  void all_reduce_sum(std::span<double> v) {
    inner.all_reduce_sum(v);
    log.push_back({collective::reduce, double(v.size())});
  }
  template <class M, class O>
  fda::average_stats average(const M& mine, double weight, const O& out, fda::combine_rule rule = {}) {
    log.push_back({collective::average, double(mine.size())});
    return inner.average(mine, weight, out, rule);
  }
  template <class M, class O>
  void broadcast(const M& mine, const O& out) {
    log.push_back({collective::broadcast, double(mine.size())});
    inner.broadcast(mine, out);
  }
  template <class F>
  void serial(F&& f) { inner.serial(f); }
  template <class F>
  bool root_says(F&& f) { return inner.root_says(f); }
  std::vector<std::string> gather_bytes(std::string s) { return inner.gather_bytes(std::move(s)); }
  std::string scatter_bytes(const std::vector<std::string>& all) { return inner.scatter_bytes(all); }
  void broadcast_bytes(std::string& s) { inner.broadcast_bytes(s); }
  template <class S, class... A>
  S& replica(const A&... a) { return inner.template replica<S>(a...); }
};
static_assert(fda::communicator<recording<fda::cluster_comm>>);

/// The model's charge for a log, by the formulas of the header, written out again here.
double expected_seconds(const std::vector<collective>& log, std::size_t k, const fda::network_model& m) {
  const double K = double(k), bw = m.bandwidth, L = m.latency, vb = m.value_bytes;
  const bool star = m.topology == fda::network_topology::star;
  double t = 0.0;
  for (const auto& c : log) {
    const double n = c.amount * vb;
    if (c.kind == collective::reduce || c.kind == collective::average)
      t += star ? 2 * (L + K * n * 8 / bw) : 2 * (K - 1) * (L + n / K * 8 / bw);
    else if (c.kind == collective::broadcast)
      t += star ? L + (K - 1) * n * 8 / bw : (K - 1) * L + n * 8 / bw;
  }
  return t;
}

const least_squares problem(12, 4, 30, 0.5, 7, 0.0, 0.3, 0.2);

ls_worker make(std::size_t rank) { return ls_worker{&problem, rank, 0.03, 0.005}; }

/// Runs `policy` on a 4-worker cluster, each worker's transport being wrap(cluster_comm&).
template <class Policy, class Wrap>
std::vector<fda::result> run(const Policy& policy, Wrap wrap, std::size_t steps = 60) {
  fda::local_cluster cluster(problem.workers);
  std::vector<fda::result> results(problem.workers);
  cluster.run([&](fda::cluster_comm& c) {
    auto w = make(c.rank());
    results[c.rank()] = wrap(c, [&](auto& comm) {
      return fda::train(comm, w, policy, fda::mean{}, {.max_steps = steps, .steps_per_epoch = 20});
    });
  });
  return results;
}

void require_same_run(const fda::result& a, const fda::result& b) {
  REQUIRE(a.model == b.model);  // bit for bit
  REQUIRE(a.global_model == b.global_model);
  REQUIRE(a.syncs == b.syncs);
  REQUIRE(a.checks == b.checks);
  REQUIRE(a.total_bytes() == b.total_bytes());
  REQUIRE(a.sync_log.size() == b.sync_log.size());
  for (std::size_t i = 0; i < a.sync_log.size(); ++i) REQUIRE(a.sync_log[i].step == b.sync_log[i].step);
}

}  // namespace

TEST_CASE("simulated_network: the model's formulas") {
  fda::network_model star{.bandwidth = 8e6, .latency = 0.01};  // 1 MB/s
  // K = 4 workers, 1000 bytes each: the server's link carries 4000 bytes each way.
  CHECK(star.all_reduce_seconds(4, 1000) == Approx(2 * (0.01 + 0.004)));
  CHECK(star.broadcast_seconds(4, 1000) == Approx(0.01 + 0.003));
  CHECK(star.funnel_seconds(4, 3000) == Approx(0.01 + 0.003));
  fda::network_model ring = star;
  ring.topology = fda::network_topology::ring;
  CHECK(ring.all_reduce_seconds(4, 1000) == Approx(2 * 3 * (0.01 + 0.00025)));
  CHECK(ring.broadcast_seconds(4, 1000) == Approx(3 * 0.01 + 0.001));
  // One worker talks to nobody.
  CHECK(star.all_reduce_seconds(1, 1e9) == 0.0);
  CHECK(ring.broadcast_seconds(1, 1e9) == 0.0);
  // Without latency, a ring beats a star on large payloads as K grows (2(K-1)/K vs 2K).
  ring.latency = star.latency = 0;
  CHECK(ring.all_reduce_seconds(16, 1e6) < star.all_reduce_seconds(16, 1e6) / 8);
}

TEST_CASE("simulated_network: bad links are refused, naming the field") {
  fda::local_cluster cluster(1);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const fda::network_model& bad : {fda::network_model{.bandwidth = 0}, fda::network_model{.bandwidth = nan},
                                        fda::network_model{.bandwidth = -1e9}}) {
    cluster.run([&](fda::cluster_comm& c) {
      REQUIRE_THROWS_WITH((fda::simulated_network(c, bad)), Catch::Contains("bandwidth"));
    });
  }
  cluster.run([&](fda::cluster_comm& c) {
    REQUIRE_THROWS_WITH((fda::simulated_network(c, {.latency = -0.1})), Catch::Contains("latency"));
    REQUIRE_THROWS_WITH((fda::simulated_network(c, {.value_bytes = 0})), Catch::Contains("value_bytes"));
  });
}

TEST_CASE("simulated_network: results are bit-identical to the wrapped transport's") {
  const auto plain = [](auto& c, auto train) { return train(c); };
  const fda::network_model wan{.bandwidth = 1e9, .latency = 0.02};
  const auto simulated = [&](auto& c, auto train) {
    fda::simulated_network net(c, wan);
    return train(net);
  };
  const auto check = [&](const auto& policy) {
    const auto a = run(policy, plain), b = run(policy, simulated);
    require_same_run(a[0], b[0]);
    REQUIRE(a[0].network_seconds == 0.0);
    REQUIRE(b[0].network_seconds > 0.0);
    for (const auto& r : b) REQUIRE(r.network_seconds == b[0].network_seconds);  // every worker agrees
  };
  SECTION("linear_fda") { check(fda::linear_fda{.theta = 0.05}); }
  SECTION("sketch_fda, adaptive") { check(fda::sketch_fda{}); }
  SECTION("synchronous") { check(fda::synchronous{}); }
  // The factory form on the same cluster gives the same run as the per-worker form.
  fda::local_cluster cluster(problem.workers);
  const auto factory = fda::train(cluster, make, fda::linear_fda{.theta = 0.05}, fda::mean{},
                                  {.max_steps = 60, .steps_per_epoch = 20});
  require_same_run(factory, run(fda::linear_fda{.theta = 0.05}, plain)[0]);
}

TEST_CASE("simulated_network: the time charged is the model's time of the collectives made") {
  for (const auto topology : {fda::network_topology::star, fda::network_topology::ring}) {
    const fda::network_model m{.bandwidth = 1e8, .latency = 0.005, .topology = topology};
    std::vector<std::vector<collective>> logs(problem.workers);
    const auto results = run(fda::linear_fda{.theta = 0.05}, [&](auto& c, auto train) {
      recording<fda::cluster_comm> rec{c, {}};
      fda::simulated_network net(rec, m);
      auto r = train(net);
      logs[c.rank()] = rec.log;
      return r;
    });
    REQUIRE(results[0].syncs > 0);
    REQUIRE(results[0].checks > 0);
    const double want = expected_seconds(logs[0], problem.workers, m);
    REQUIRE(results[0].network_seconds == Approx(want).epsilon(1e-12));
  }
}

TEST_CASE("simulated_network: FDA saves time where bandwidth is scarce, not where latency dominates") {
  const auto on = [](fda::network_model m) {
    return [m](auto& c, auto train) {
      fda::simulated_network net(c, m);
      return train(net);
    };
  };
  SECTION("narrow links (10 kbit/s, no latency): a sync moves d values, a check 3") {
    const auto narrow = on({.bandwidth = 1e4, .latency = 0.0});
    const auto fda_run = run(fda::linear_fda{.theta = 0.05}, narrow, 200)[0];
    const auto sync_run = run(fda::synchronous{}, narrow, 200)[0];
    REQUIRE(fda_run.syncs < sync_run.syncs / 4);
    REQUIRE(fda_run.network_seconds < 0.5 * sync_run.network_seconds);
  }
  SECTION("a 20 ms WAN and 12 parameters: every check is a round trip, as every sync is") {
    const auto wan = on({.bandwidth = 1e9, .latency = 0.02});
    const auto fda_run = run(fda::linear_fda{.theta = 0.05}, wan, 200)[0];
    const auto sync_run = run(fda::synchronous{}, wan, 200)[0];
    REQUIRE(fda_run.syncs < sync_run.syncs / 4);
    REQUIRE(fda_run.network_seconds >= sync_run.network_seconds);  // checks every step: no gain
    // Synchronous: the dimension check and the final average are all-reduces, the start a
    // broadcast, then one sync per step; at 48 bytes a message, latency is all there is.
    REQUIRE(sync_run.network_seconds == Approx(2 * 0.02 * double(sync_run.syncs + 2) + 0.02).epsilon(0.01));
  }
}
