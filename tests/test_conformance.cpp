// SPDX-License-Identifier: Apache-2.0
// The conformance suite (<fda/testing.hpp>) over every policy, aggregator and transport of
// the library, and its negative controls: a suite that passes everything proves nothing,
// so each check is shown to fail on a plug-in broken in the way it looks for.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <fda/comm/simulated_network.hpp>
#include <fda/fda.hpp>
#include <fda/testing.hpp>
#include <span>
#include <string>
#include <vector>

namespace {

using fda::testing::always;
using fda::testing::report;
using fda::testing::with_high_probability;

/// Every check of `r` passed; the summary shows why not.
void require_passed(const report& r) {
  INFO(r.summary());
  CHECK(r.passed());
}

/// `r` failed `check`; the summary shows what else it did.
void require_failed(const report& r, const std::string& check) {
  INFO(r.summary());
  CHECK(r.failed(check));
}

template <class T>
void check_every_policy() {
  using fda::testing::check_policy;
  require_passed(check_policy<T>(fda::synchronous{}));
  require_passed(check_policy<T>(fda::periodic{.every = 10}));
  require_passed(check_policy<T>(fda::fedavg{.local_epochs = 1}));
  require_passed(
      check_policy<T>(fda::naive_fda{.theta = 0.5}, {.bounds_variance = always, .label = "naive_fda fixed"}));
  require_passed(check_policy<T>(fda::naive_fda{}, {.bounds_variance = always, .label = "naive_fda adaptive"}));
  require_passed(
      check_policy<T>(fda::linear_fda{.theta = 0.5}, {.bounds_variance = always, .label = "linear_fda fixed"}));
  require_passed(check_policy<T>(fda::linear_fda{}, {.bounds_variance = always, .label = "linear_fda adaptive"}));
  require_passed(check_policy<T>(fda::linear_fda{.theta = 0.5},
                                 {.bounds_variance = always, .label = "linear_fda every 3", .check_every = 3}));
  // SketchFDA: H >= Var with high probability (measured here: 0.95 of the trials at depth 5).
  require_passed(check_policy<T>(fda::sketch_fda{.theta = 0.5},
                                 {.bounds_variance = with_high_probability(0.9), .label = "sketch_fda fixed"}));
  require_passed(check_policy<T>(fda::sketch_fda{},
                                 {.bounds_variance = with_high_probability(0.9), .label = "sketch_fda adaptive"}));
  // The tiled sketch holds the same bar with its data-dependent ε' (the default) ...
  constexpr auto tiled = fda::sketch_kind::tiled;
  require_passed(check_policy<T>(fda::sketch_fda{.theta = 0.5, .sketch = tiled},
                                 {.bounds_variance = with_high_probability(0.9), .label = "sketch_fda tiled fixed"}));
  require_passed(check_policy<T>(fda::sketch_fda{.sketch = tiled},
                                 {.bounds_variance = with_high_probability(0.9), .label = "sketch_fda tiled adaptive"}));
  // ... and fails it without (negative control): the suite's small models are a few tiles.
  require_failed(check_policy<T>(fda::sketch_fda{.theta = 0.5, .sketch = tiled, .tile_bound = false},
                                 {.bounds_variance = with_high_probability(0.9), .label = "sketch_fda tiled, plain ε"}),
                 "variance_bound");
  require_passed(
      check_policy<T>(fda::exact_variance{.theta = 0.5}, {.bounds_variance = always, .label = "exact_variance fixed"}));
  require_passed(
      check_policy<T>(fda::exact_variance{}, {.bounds_variance = always, .label = "exact_variance adaptive"}));
  // Max-drift bounds each worker's drift, not Var; its state is a flag, 1 byte.
  require_passed(check_policy<T>(fda::max_drift{.theta = 0.5}, {.state_bytes = 1, .label = "max_drift fixed"}));
  require_passed(check_policy<T>(fda::max_drift{}, {.state_bytes = 1, .label = "max_drift adaptive"}));
}

template <class T>
void check_every_aggregator() {
  using fda::testing::check_aggregator;
  require_passed(check_aggregator<T>(fda::mean{}));
  require_passed(check_aggregator<T>(fda::weighted_mean{}));
  require_passed(check_aggregator<T>(fda::fedavgm{}));
  require_passed(check_aggregator<T>(fda::fedavgm{.lr = 1.0, .momentum = 0.5, .weighted = true}));
  // Server rates for 100 syncs of the built-in problem (the defaults suit longer runs).
  require_passed(check_aggregator<T>(fda::fedadam{.lr = 0.1}));
  require_passed(check_aggregator<T>(fda::fedadagrad{.lr = 1.0}));
  require_passed(check_aggregator<T>(fda::fedyogi{.lr = 0.3}));
  require_passed(check_aggregator<T>(fda::coordinate_median{}));
  require_passed(check_aggregator<T>(fda::trimmed_mean{.trim = 0.25}));
}

/// Both transport checks on K workers, each worker's transport being wrap(cluster_comm&, f),
/// which calls f(transport); every worker's report must be the same.
template <class Wrap>
std::vector<report> check_transport(std::size_t k, Wrap wrap, fda::testing::communicator_settings s = {}) {
  fda::local_cluster cluster(k);
  std::vector<report> reports(k);
  cluster.run([&](fda::cluster_comm& c) {
    wrap(c, [&](auto& comm) {
      report r = fda::testing::check_communicator(comm, s);
      r.merge(fda::testing::check_train_on(comm, s));
      r.merge(fda::testing::check_train_on<double>(comm, s));
      reports[c.rank()] = r;
    });
  });
  for (const auto& r : reports) CHECK(r.summary() == reports[0].summary());
  return reports;
}

const auto plain = [](fda::cluster_comm& c, auto f) { f(c); };
const auto over_wan = [](fda::cluster_comm& c, auto f) {
  fda::simulated_network net(c, {.bandwidth = 1e9, .latency = 0.02});
  f(net);
};
const auto over_ring = [](fda::cluster_comm& c, auto f) {
  fda::simulated_network net(c, {.bandwidth = 1e8, .topology = fda::network_topology::ring});
  fda::simulated_network twice(net, {});
  f(twice);
};

// ---- negative controls: plug-ins broken in the ways the checks look for -----------------

/// Claims its local state costs nothing (naive_fda's state: one float, 4 bytes).
struct lying_bytes {
  static constexpr std::string_view name = "lying_bytes";
  fda::threshold theta = 0.5;
  struct estimator : fda::naive_fda::estimator {
    estimator(const lying_bytes&, const fda::run_info& info) : fda::naive_fda::estimator(fda::naive_fda{}, info) {}
    std::size_t state_bytes() const { return 0; }
  };
  template <class T, class Space = fda::host_space>
  using monitor = fda::threshold_monitor<lying_bytes, estimator>;
};

/// Its estimate changes from one call of decide() to the next.
struct fickle {
  static constexpr std::string_view name = "fickle";
  fda::threshold theta = 0.5;
  struct estimator : fda::naive_fda::estimator {
    estimator(const fickle&, const fda::run_info& info) : fda::naive_fda::estimator(fda::naive_fda{}, info) {}
    mutable std::atomic<std::size_t> calls{0};
    fda::decision judge(std::span<const double> s, std::size_t k, double theta) const {
      fda::decision d = fda::naive_fda::estimator::judge(s, k, theta);
      d.estimate += double(calls++ % 2) * 1e-9;
      return d;
    }
  };
  template <class T, class Space = fda::host_space>
  using monitor = fda::threshold_monitor<fickle, estimator>;
};

/// LinearFDA whose checkpoints forget ξ: a resumed run estimates with the first round's ξ.
struct forgetful_linear {
  static constexpr std::string_view name = "forgetful_linear";
  fda::threshold theta = 0.5;
  template <class T, class Space = fda::host_space>
  struct estimator : fda::linear_fda::estimator<T, Space> {
    estimator(const forgetful_linear&, const fda::run_info& info)
        : fda::linear_fda::estimator<T, Space>(fda::linear_fda{}, info) {}
    template <class F>
    void state_fields(F&&) = delete;
  };
  template <class T, class Space = fda::host_space>
  using monitor = fda::threshold_monitor<forgetful_linear, estimator<T, Space>>;
};

/// Server momentum whose checkpoints forget the momentum.
struct forgetful_momentum {
  static constexpr std::string_view name = "forgetful_momentum";
  std::string describe() const { return std::string(name); }
  template <class T>
  struct state : fda::fedavgm::state<T> {
    state(const forgetful_momentum&, std::size_t dim) : fda::fedavgm::state<T>(fda::fedavgm{.momentum = 0.5}, dim) {}
    template <class F>
    void state_fields(F&&) = delete;
  };
};

/// Says replaces_model (so the trainer swaps buffers and never calls apply), but apply
/// does not set x = avg.
struct sloppy_mean {
  static constexpr std::string_view name = "sloppy_mean";
  std::string describe() const { return std::string(name); }
  template <class T>
  struct state {
    static constexpr bool replaces_model = true;
    state(const sloppy_mean&, std::size_t) {}
    template <class X, class Avg>
    void apply(X&& x, const Avg& avg) {
      fda::copy(avg, x);
      fda::scale(1.0 + 1e-6, x);
    }
  };
};

enum class fault { reversed_sum, dropped_rank, unweighted_average, root_everywhere, scatter_shifted };

/// A transport that forwards to Comm but for one fault.
template <class Comm>
struct faulty {
  Comm& inner;
  fault broken;

  std::size_t rank() const { return inner.rank(); }
  std::size_t size() const { return inner.size(); }
  void barrier() { inner.barrier(); }
  void all_reduce_sum(std::span<double> v) {
    if (broken == fault::reversed_sum) {  // every rank's values, exactly, then added K-1, ..., 0
      const std::size_t n = v.size(), k = size();
      std::vector<double> all(n * k, 0.0);
      std::copy(v.begin(), v.end(), all.begin() + std::ptrdiff_t(n * rank()));
      inner.all_reduce_sum(all);
      for (std::size_t i = 0; i < n; ++i) {
        double s = 0.0;
        for (std::size_t r = k; r-- > 0;) s += all[r * n + i];
        v[i] = s;
      }
      return;
    }
    if (broken == fault::dropped_rank && rank() + 1 == size()) std::fill(v.begin(), v.end(), 0.0);
    inner.all_reduce_sum(v);
  }
  template <class M, class O>
  fda::average_stats average(const M& mine, double weight, const O& out, fda::combine_rule rule = {}) {
    return inner.average(mine, broken == fault::unweighted_average ? 1.0 : weight, out, rule);
  }
  template <class M, class O>
  void broadcast(const M& mine, const O& out) {
    inner.broadcast(mine, out);
  }
  template <class F>
  void serial(F&& f) {
    inner.serial(f);
  }
  template <class F>
  bool root_says(F&& f) {
    if (broken != fault::root_everywhere) return inner.root_says(f);
    const bool mine = f();  // on every rank
    return inner.root_says([&] { return mine; });
  }
  std::vector<std::string> gather_bytes(std::string s) { return inner.gather_bytes(std::move(s)); }
  std::string scatter_bytes(const std::vector<std::string>& all) {
    if (broken != fault::scatter_shifted || rank() != 0) return inner.scatter_bytes(all);
    std::vector<std::string> shifted(all);
    std::rotate(shifted.begin(), shifted.begin() + 1, shifted.end());
    return inner.scatter_bytes(shifted);
  }
  void broadcast_bytes(std::string& s) { inner.broadcast_bytes(s); }
  template <class S, class... A>
  requires fda::communicator_traits<Comm>::template shares_replica<S, A...> S& replica(const A&... a) {
    return inner.template replica<S>(a...);
  }
};
static_assert(fda::communicator<faulty<fda::cluster_comm>>);

/// check_communicator and check_train_on over a faulty transport of K = 4 workers.
report check_faulty(fault broken) {
  fda::local_cluster cluster(4);
  std::vector<report> reports(4);
  cluster.run([&](fda::cluster_comm& c) {
    faulty<fda::cluster_comm> comm{c, broken};
    reports[c.rank()] = fda::testing::check_communicator(comm, {.label = "faulty"});
    reports[c.rank()].merge(fda::testing::check_train_on(comm, {.label = "faulty", .checkpoint = false}));
  });
  return reports[0];
}

}  // namespace

TEMPLATE_TEST_CASE("check_policy: every library policy conforms", "[conformance]", float, double) {
  check_every_policy<TestType>();
}

TEMPLATE_TEST_CASE("check_aggregator: every library aggregator conforms", "[conformance]", float, double) {
  check_every_aggregator<TestType>();
}

TEST_CASE("check_communicator and check_train_on: the in-process cluster and simulated networks conform",
          "[conformance]") {
  for (const std::size_t k : {1, 2, 3, 5}) {
    INFO("K = " << k);
    for (const auto& r : check_transport(k, plain, {.label = "cluster_comm"})) require_passed(r);
    for (const auto& r : check_transport(k, over_wan, {.label = "simulated_network"})) require_passed(r);
    for (const auto& r : check_transport(k, over_ring, {.label = "simulated_network twice"})) require_passed(r);
  }
}

TEST_CASE("negative control: never_sync fails convergence, and only convergence", "[conformance]") {
  const report r = fda::testing::check_policy(fda::testing::never_sync{});
  require_failed(r, "convergence");
  for (const auto& f : r.failures()) CHECK(f.check == "convergence");
  CHECK(r.failures().size() == 1);
  CHECK(r.failures()[0].subject == "never_sync<float>");
  CHECK(r.summary().find("FAILED convergence [never_sync<float>]") != std::string::npos);
  const report d = fda::testing::check_policy<double>(fda::testing::never_sync{});
  require_failed(d, "convergence");
}

TEST_CASE("negative controls: broken policies fail the check that looks for their fault", "[conformance]") {
  using fda::testing::check_policy;
  // A state_bytes that lies: the cost model would count nothing for a state of one float.
  require_failed(check_policy(lying_bytes{}, {.bounds_variance = always}), "bytes");
  // max_drift declared 4 bytes per value, which it does not claim.
  require_failed(check_policy(fda::max_drift{.theta = 0.5}), "bytes");
  // decide() that differs on a repeated call.
  require_failed(check_policy(fickle{}), "protocol");
  // A promise H >= Var that max_drift (a count of violators) does not keep.
  require_failed(check_policy(fda::max_drift{.theta = 0.5}, {.bounds_variance = always, .state_bytes = 1}),
                 "variance_bound");
  // SketchFDA holds H >= Var with high probability, not always.
  require_failed(check_policy(fda::sketch_fda{.theta = 0.5}, {.bounds_variance = always}), "variance_bound");
  // A monitor whose checkpoints forget ξ: the resumed run decides otherwise.
  require_failed(check_policy(forgetful_linear{}, {.bounds_variance = always}), "checkpoint");
}

TEST_CASE("negative controls: broken aggregators fail the check that looks for their fault", "[conformance]") {
  using fda::testing::check_aggregator;
  require_failed(check_aggregator(forgetful_momentum{}), "checkpoint");
  require_failed(check_aggregator(sloppy_mean{}), "replaces_model");
  // The server rate of FedAdam's defaults is too slow for 100 syncs: convergence fails.
  require_failed(check_aggregator(fda::fedadam{.lr = 0.001}), "convergence");
}

TEST_CASE("negative controls: broken transports fail the collectives they break", "[conformance]") {
  // With K = 4, adding in another order rounds differently on some element.
  const report reversed = check_faulty(fault::reversed_sum);
  require_failed(reversed, "all_reduce_sum");
  const report dropped = check_faulty(fault::dropped_rank);
  require_failed(dropped, "all_reduce_sum");
  require_failed(dropped, "train");
  const report unweighted = check_faulty(fault::unweighted_average);
  require_failed(unweighted, "average");
  require_failed(unweighted, "average_stats");  // the weight-0 worker's NaN is averaged in
  require_failed(unweighted, "train");          // weighted_mean is not weighted
  const report root = check_faulty(fault::root_everywhere);
  require_failed(root, "root_says");
  CHECK(root.summary().find("on ranks 1, 2, 3") != std::string::npos);  // the ranks that saw it
  const report scatter = check_faulty(fault::scatter_shifted);
  require_failed(scatter, "scatter_bytes");
  CHECK_FALSE(scatter.failed("all_reduce_sum"));
}

TEST_CASE("report: a printable summary and queries", "[conformance]") {
  report r("my_policy<float>");
  CHECK(r.passed());
  r.expect(true, "protocol", "", "");
  r.measured("convergence", "final error 0.01");
  CHECK(r.passed());
  CHECK(r.ran("protocol"));
  r.fail("bytes", "state_bytes() = 0", "state_bytes() = 4");
  CHECK_FALSE(r.passed());
  CHECK(r.failed("bytes"));
  CHECK_FALSE(r.failed("protocol"));
  const std::string s = r.summary();
  CHECK(s.find("my_policy<float>: FAILED 1 time(s) in 2 checks (protocol, bytes)") != std::string::npos);
  CHECK(s.find("measured state_bytes() = 0, expected state_bytes() = 4") != std::string::npos);
  CHECK(s.find("measured convergence: final error 0.01") != std::string::npos);
  CHECK(fda::testing::to_text(0.1) == "0.1");
  CHECK(fda::testing::to_text(std::size_t(42)) == "42");
}
