// SPDX-License-Identifier: Apache-2.0
// A transport of your own, written against the public fda::communicator concept, trained
// over, and checked by the conformance suite.
//
// counting_comm<Comm> decorates any transport: it forwards every collective unchanged,
// logs it (kind and size), and counts the bytes this worker contributed, per kind. Stacked
// on fda::simulated_network, it answers "what would this run send, and how long would it
// take, on a 1 Gbit/s WAN with 20 ms latency?". It also offers the optional
// bytes_sent_per_rank() (a collective), which fda::train copies into its result.
//
// Prints the run's traffic, the conformance reports, and "custom_transport: conformance
// PASSED" (exit 0) or "custom_transport: conformance FAILED" (exit 1).
#include <array>
#include <cstdint>
#include <cstdio>
#include <fda/comm/simulated_network.hpp>
#include <fda/fda.hpp>
#include <fda/testing.hpp>
#include <iostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

/// The kinds of collective, as counted.
enum class kind { reduce, average, broadcast, bytes };
constexpr std::size_t kinds = 4;
constexpr std::array<const char*, kinds> kind_names{"all_reduce_sum", "average", "broadcast", "byte collectives"};

/// One collective, as logged.
struct logged {
  kind k;
  std::uint64_t bytes;  // what this worker handed in
};

template <fda::communicator Comm>
class counting_comm {
 public:
  explicit counting_comm(Comm& inner) : inner_(inner) {}

  std::size_t rank() const { return inner_.rank(); }
  std::size_t size() const { return inner_.size(); }
  void barrier() { inner_.barrier(); }

  void all_reduce_sum(std::span<double> v) {
    count(kind::reduce, v.size() * sizeof(double));
    inner_.all_reduce_sum(v);
  }
  template <class Mine, class Out>
  fda::average_stats average(const Mine& mine, double weight, const Out& out, fda::combine_rule rule = {}) {
    count(kind::average, mine.size() * sizeof(typename Mine::value_type));
    return inner_.average(mine, weight, out, rule);
  }
  template <class Mine, class Out>
  void broadcast(const Mine& mine, const Out& out) {
    count(kind::broadcast, rank() == 0 ? mine.size() * sizeof(typename Mine::value_type) : 0);
    inner_.broadcast(mine, out);
  }
  template <class F>
  void serial(F&& f) {
    inner_.serial(std::forward<F>(f));
  }
  template <class F>
  bool root_says(F&& f) {
    return inner_.root_says(std::forward<F>(f));
  }
  std::vector<std::string> gather_bytes(std::string mine) {
    count(kind::bytes, mine.size());
    return inner_.gather_bytes(std::move(mine));
  }
  std::string scatter_bytes(const std::vector<std::string>& all) {
    std::uint64_t n = 0;
    for (const auto& s : all) n += s.size();
    count(kind::bytes, n);
    return inner_.scatter_bytes(all);
  }
  void broadcast_bytes(std::string& s) {
    count(kind::bytes, rank() == 0 ? s.size() : 0);
    inner_.broadcast_bytes(s);
  }

  /// The run's shared state: the wrapped transport's, when its workers share one.
  template <class S, class... Args>
  requires fda::communicator_traits<Comm>::template shares_replica<S, Args...> S& replica(const Args&... args) {
    return inner_.template replica<S>(args...);
  }
  /// The wrapped transport's simulated time, when it simulates a network.
  double network_seconds() const requires fda::communicator_traits<Comm>::reports_network_seconds {
    return inner_.network_seconds();
  }
  /// A collective: every rank's counted bytes, in rank order (through the wrapped
  /// transport, uncounted: each rank fills its own slot of a sum, which adds zeros exactly).
  std::vector<std::uint64_t> bytes_sent_per_rank() {
    std::vector<double> all(size(), 0.0);
    all[rank()] = double(total());
    inner_.all_reduce_sum(all);
    return std::vector<std::uint64_t>(all.begin(), all.end());
  }

  const std::vector<logged>& log() const { return log_; }
  std::uint64_t total() const {
    std::uint64_t t = 0;
    for (auto b : per_kind_) t += b;
    return t;
  }
  const std::array<std::uint64_t, kinds>& per_kind() const { return per_kind_; }

 private:
  void count(kind k, std::uint64_t n) {
    log_.push_back({k, n});
    per_kind_[std::size_t(k)] += n;
  }
  Comm& inner_;
  std::vector<logged> log_;
  std::array<std::uint64_t, kinds> per_kind_{};
};

static_assert(fda::communicator<counting_comm<fda::cluster_comm>>);
static_assert(fda::communicator<counting_comm<fda::simulated_network<fda::cluster_comm>>>);

int main() {
  // Training: 8 workers of the built-in problem with 10,000 parameters, LinearFDA, over
  // counting_comm on a simulated 1 Gbit/s, 20 ms WAN.
  constexpr std::size_t workers = 8;
  const fda::testing::problem problem(workers, 10000);
  fda::local_cluster cluster(workers);
  fda::result run;
  std::vector<logged> rank0_log;
  std::array<std::uint64_t, kinds> rank0_bytes{};
  cluster.run([&](fda::cluster_comm& c) {
    fda::simulated_network wan(c, {.bandwidth = 1e9, .latency = 0.02});
    counting_comm comm(wan);
    fda::testing::problem_worker<float> w(problem, c.rank());
    fda::result r = fda::train(comm, w, fda::linear_fda{.theta = 50.0}, fda::mean{}, {.max_steps = 200});
    if (c.rank() == 0) run = std::move(r), rank0_log = comm.log(), rank0_bytes = comm.per_kind();
  });
  std::printf("linear_fda over counting_comm on a 1 Gbit/s, 20 ms WAN: %zu steps, %zu syncs, %zu checks\n", run.steps,
              run.syncs, run.checks);
  std::printf("  simulated communication time: %.3f s; cost model: %llu bytes\n", run.network_seconds,
              static_cast<unsigned long long>(run.total_bytes()));
  std::printf("  rank 0 made %zu collectives; its bytes per kind:", rank0_log.size());
  for (std::size_t k = 0; k < kinds; ++k)
    std::printf(" %s %llu%s", kind_names[k], static_cast<unsigned long long>(rank0_bytes[k]),
                k + 1 < kinds ? "," : "\n");
  std::printf("  bytes per rank:");
  for (auto b : run.bytes_sent_per_rank) std::printf(" %llu", static_cast<unsigned long long>(b));
  std::printf("\n  first collectives of rank 0:");
  for (std::size_t i = 0; i < rank0_log.size() && i < 6; ++i)
    std::printf(" %s(%llu B)", kind_names[std::size_t(rank0_log[i].k)],
                static_cast<unsigned long long>(rank0_log[i].bytes));
  std::printf("\n");

  // The conformance suite, SPMD: every worker checks its own counting_comm (plain, and
  // stacked on the simulated WAN); each gets the same merged report.
  std::vector<fda::testing::report> plain(4), over_wan(4);
  fda::local_cluster four(4);
  four.run([&](fda::cluster_comm& c) {
    counting_comm comm(c);
    plain[c.rank()] = fda::testing::check_communicator(comm, {.label = "counting_comm"});
    plain[c.rank()].merge(fda::testing::check_train_on(comm, {.label = "counting_comm"}));
    fda::simulated_network wan(c, {.bandwidth = 1e9, .latency = 0.02});
    counting_comm stacked(wan);
    over_wan[c.rank()] = fda::testing::check_communicator(stacked, {.label = "counting_comm over a WAN"});
    over_wan[c.rank()].merge(fda::testing::check_train_on(stacked, {.label = "counting_comm over a WAN"}));
  });
  std::cout << plain[0] << over_wan[0];
  const bool passed = plain[0].passed() && over_wan[0].passed();
  std::printf("custom_transport: conformance %s\n", passed ? "PASSED" : "FAILED");
  return passed ? 0 : 1;
}
