// SPDX-License-Identifier: Apache-2.0
// fda-train: federated training on Fashion-MNIST, comparing sync policies on the
// in-process cluster. See `fda-train --help` and docs/fda-train.md.
#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>

#include "cli.hpp"
#include "job.hpp"

#ifdef FDA_TRAIN_TORCH
#include "torch_job.hpp"
#endif

#ifdef FDA_TRAIN_MPI
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>

#include <fda/mpi.hpp>
#endif
#ifdef FDA_TRAIN_ZMQ
#include <fda/zmq.hpp>
#endif

namespace {

using fda_train::number;
using fda_train::policy_names;
using fda_train::split_list;

struct settings {
  std::string data = fda::data::debian_fashion_mnist_dir.string();
  std::string model = "lenet5";
  std::string backend = "eigen";
  std::size_t intra_op_threads = 0;  ///< --backend torch: 0 = fda::torch::intra_op_threads_for
  std::size_t workers = 8;
  std::string policy_list = "linear";  ///< --policy as given (the last one, if given twice)
  std::vector<std::string> policies;  ///< policy_list split at its commas
  std::string theta = "adaptive";     ///< --theta as given: one or a comma list of thresholds
  std::vector<std::string> thetas;    ///< theta split at its commas
  std::size_t every = 10;
  std::size_t local_epochs = 1;
  double fraction = 1.0;  ///< fedavg: the fraction C of clients averaged per round
  std::string server_opt = "mean";
  double server_lr = 1.0;
  std::string client_opt = "adam";
  double lr = 1e-3;
  std::size_t batch = 32;
  std::size_t epochs = 5;
  std::optional<double> target;
  std::string partition = "iid";
  std::uint64_t seed = 1;
  std::string seed_list;              ///< --seeds as given (checked: whole numbers, none twice)
  std::vector<std::uint64_t> seeds;   ///< the seeds to run: --seeds, else --seed
  std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::size_t worker_threads = 0;    ///< OS threads running this process's workers; 0: one per worker
  std::size_t workers_per_rank = 1;  ///< --transport mpi: workers in each rank
  std::size_t train_subset = 0;
  std::size_t check_every = 1;
  std::string csv, json, plot;
  bool quiet = false;
  std::string transport = "local";
  std::string reduction = "ordered";
  bool workers_given = false;
  double trim = 0.1;
  std::size_t byzantine = 0;
  std::string checkpoint;
  std::size_t checkpoint_every = 0;
  bool resume = false;
  // --transport zmq: the hub, this worker's rank, the key directory.
  std::string hub, keys;
  std::size_t rank = 0, heartbeat_ms = 1000, max_part_mb = 256;
  bool insecure = false;
  // A simulated network (fda::simulated_network) when a bandwidth or a latency is given.
  std::optional<double> net_bandwidth, net_latency;  // bits/s, seconds
  std::string net_topology = "star";
  bool simulates_network() const { return net_bandwidth || net_latency; }
  fda::network_model network() const {
    return {.bandwidth = net_bandwidth.value_or(1e9), .latency = net_latency.value_or(0.0),
            .topology = net_topology == "ring" ? fda::network_topology::ring : fda::network_topology::star};
  }
};

/// This process's workers of a job of several processes (--transport mpi, zmq): `per_process`
/// workers from `rank` (0 in-process: all K).
struct mpi_job {
  std::size_t rank = 0, size = 1;
  std::size_t per_process = 0;  ///< this process's workers: 1 (mpi, zmq), N (--workers-per-rank), 0: all K
#ifdef FDA_TRAIN_MPI
  std::optional<fda::mpi_comm> comm = {};
  std::optional<fda::mpi_cluster> cluster = {};  ///< --workers-per-rank N > 1
#endif
#ifdef FDA_TRAIN_ZMQ
  std::optional<fda::zmq_comm> zmq = {};  // joined in run(), once the model's d is known
#endif
};

/// What one run (a policy, with one Θ and one seed) produced, for the table and the JSON summary.
struct outcome {
  std::string policy = {};            ///< the label: the policy's name, "+server-opt" unless mean
  std::string theta_configured = {};  ///< --theta's entry for this run; "" for a policy without Θ
  std::uint64_t seed = 1;
  fda::result result = {};
  double test_accuracy = 0;
  std::optional<fda::stop_at_target::reached_at> reached = {};
};

/// Calls f with the policy named `name`, configured from the settings of one run (one Θ).
template <class F>
auto with_policy(const std::string& name, const settings& s, F f) {
  return fda_train::with_policy(name, {fda::parse_threshold(s.theta), s.every, s.local_epochs, s.fraction}, f);
}

/// A run's name where the policy's label alone is ambiguous (several Θ or seeds): "linear
/// theta=0.5 seed=2"; the label itself otherwise.
std::string run_name(const outcome& o, const settings& s) {
  std::string name = o.policy;
  if (s.thetas.size() > 1 && !o.theta_configured.empty()) name += " theta=" + o.theta_configured;
  if (s.seeds.size() > 1) name += " seed=" + std::to_string(o.seed);
  return name;
}

/// A number followed by one of `units` (suffix → factor; "" for none), rewritten to the
/// number times the factor, which must be finite and > 0 (>= 0 where `zero_ok`):
/// "100M" → 1e+08 for a bandwidth, "20ms" → 0.02 for a latency.
CLI::Validator quantity(std::vector<std::pair<std::string, double>> units, bool zero_ok, std::string what) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        for (const auto& [suffix, factor] : units) {
          if (text.size() <= suffix.size() || text.compare(text.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
          const std::string digits = text.substr(0, text.size() - suffix.size());
          double v = 0;
          const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
          if (ec != std::errc{} || end != digits.data() + digits.size()) continue;
          v *= factor;
          if (!std::isfinite(v) || v < 0 || (v == 0 && !zero_ok)) break;
          char buf[32];
          text = std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
          return {};
        }
        return "must be " + what + ", not '" + text + "'";
      },
      what);
}

/// Registers every option with its check; a bad value makes CLI11 throw, and main exits 2.
void define_options(CLI::App& app, settings& s) {
  using count = std::size_t;  // the whole-number options
  const CLI::Validator positive = number<count>(1), non_negative = number<count>(0);
  const double max_real = std::numeric_limits<double>::max();
  // An option given twice takes its last value, so that arguments appended to a command
  // (scripts/demo --epochs 10) override the ones before them.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--data", s.data, "directory with the Fashion-MNIST IDX files")
      ->check(CLI::ExistingDirectory)->capture_default_str();
  app.add_option("--model", s.model, "softmax (7,850 parameters) | mlp (199,210) | lenet5 (61,706) | "
                 "cnn (1,174,250, VGG-style, --backend torch only)")
      ->check(CLI::IsMember({"softmax", "mlp", "lenet5", "cnn"}))->capture_default_str();
  app.add_option("--backend", s.backend, "eigen: fda's own models | torch: LibTorch models (lenet5, cnn; "
                 "threads: --intra-op-threads)")
      ->check(CLI::IsMember({"eigen", "torch"}))->capture_default_str();
  app.add_option("--intra-op-threads", s.intra_op_threads, "--backend torch: torch's threads per worker thread "
                 "(default: cores / workers computing at once, at least 1; 1 under MPI and ZeroMQ)")
      ->transform(number<std::size_t>(1, 1024));
  app.add_option("--workers,-k", s.workers, "number of workers K (above 4096: with --worker-threads)")
      ->transform(number<count>(1, 1u << 20))->capture_default_str();
  app.add_option("--policy", s.policy_list, "one or a comma list of: " + fda_train::one_of(policy_names))
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            const auto names = split_list(v);
            if (names.empty()) return "names no policy";
            for (const auto& name : names)
              if (std::find(policy_names.begin(), policy_names.end(), name) == policy_names.end())
                return "'" + name + "' is not a policy (synchronous, periodic, fedavg, naive, linear, sketch, exact, max-drift)";
            return {};
          },
          "POLICY[,POLICY...]"))
      ->capture_default_str();
  const CLI::Validator threshold(
      [](std::string& v) -> std::string {
        try {
          fda::parse_threshold(v);  // the fuzzed parser (fuzz/cli.cpp)
          return {};
        } catch (const fda::invalid_argument&) {
          return "must be a finite number >= 0 or 'adaptive', not '" + v + "'";
        }
      },
      "NUMBER|adaptive");
  app.add_option("--theta", s.theta, "variance threshold of the FDA policies and max-drift: a number >= 0, or "
                 "'adaptive'; a comma list runs each such policy once per value (a sweep)")
      ->check(fda_train::list_of(threshold, "threshold"))->capture_default_str();
  app.add_option("--every", s.every, "periodic: local steps per round")->transform(positive)->capture_default_str();
  app.add_option("--local-epochs", s.local_epochs, "fedavg: local epochs per round")->transform(positive)->capture_default_str();
  app.add_option("--fraction", s.fraction, "fedavg: the fraction C of clients averaged per round, in (0, 1] (McMahan's "
                 "client sampling: max(1, floor(C K)) clients drawn per round)")
      ->transform(number(0.0, 1.0, true))->capture_default_str();
  app.add_option("--server-opt", s.server_opt, "mean | fedavgm | fedadam | fedadagrad | fedyogi | median | trimmed-mean")
      ->check(CLI::IsMember({"mean", "fedavgm", "fedadam", "fedadagrad", "fedyogi", "median", "trimmed-mean"}))->capture_default_str();
  app.add_option("--trim", s.trim, "trimmed-mean: fraction of workers dropped at each end, per element")
      ->transform(number(0.0, 0.5, false, true))->capture_default_str();
  app.add_option("--byzantine", s.byzantine, "the last N workers are faulty: they send sign-flipped x10 models, or huge values (robustness tests)")
      ->transform(non_negative)->capture_default_str();
  app.add_option("--server-lr", s.server_lr, "server learning rate η (server optimizers)")->transform(number(0.0, max_real, true))->capture_default_str();
  app.add_option("--client-opt", s.client_opt, "sgd (momentum 0.9) | adam")->check(CLI::IsMember({"sgd", "adam"}))->capture_default_str();
  app.add_option("--lr", s.lr, "client learning rate")->transform(number(0.0, max_real, true))->capture_default_str();
  app.add_option("--batch", s.batch, "mini-batch size")->transform(number<count>(1, 4096))->capture_default_str();
  app.add_option("--epochs", s.epochs, "epochs (passes over the whole training set)")->transform(number<count>(1, 100000))->capture_default_str();
  app.add_option("--target-accuracy", s.target, "stop a policy once its test accuracy reaches A")->transform(number(0.0, 1.0, true));
  app.add_option("--partition", s.partition, "iid | sorted:β | label:L | dirichlet:α | shards")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            try {
              fda::data::parse_partition(v);
              return {};
            } catch (const std::exception& e) {
              return e.what();
            }
          },
          "SCHEME"))->capture_default_str();
  app.add_option("--seed", s.seed, "seed of the split, the initial model and the batches")
      ->transform(number<std::uint64_t>(0))->capture_default_str();
  app.add_option("--seeds", s.seed_list, "a comma list of seeds: every run is repeated for each (instead of --seed)")
      ->transform(fda_train::list_of(number<std::uint64_t>(0), "seed").description("UINT[,UINT...]"));
  app.add_option("--threads", s.threads, "workers computing at once (default: the cores)")->transform(number<count>(1, 4096))->capture_default_str();
  app.add_option("--check-every", s.check_every, "monitoring cadence: check every m local steps")->transform(positive)->capture_default_str();
  app.add_option("--train-subset", s.train_subset, "use only the first N training examples (smoke tests); 0: all")->transform(non_negative);
  app.add_option("--csv", s.csv, "write one row per policy and epoch");
  app.add_option("--json", s.json, "write a summary per policy");
  app.add_option("--plot", s.plot, "write accuracy vs bytes and vs steps (PNG)");
  app.add_flag("--quiet,-q", s.quiet, "no progress bar");
  app.add_option("--checkpoint", s.checkpoint, "save the run to FILE at the end (and every --checkpoint-every steps); "
                 "with several runs, FILE.<policy>[.theta-<theta>][.seed-<seed>]");
  app.add_option("--checkpoint-every", s.checkpoint_every, "also save every N steps")->transform(non_negative);
  app.add_flag("--resume", s.resume, "continue from --checkpoint FILE (same data, model, K, seed); --epochs is the total");
  app.add_option("--transport", s.transport, "local: K workers as threads of this process | mpi: one worker per rank, "
                 "under mpirun -np K | zmq: this process is worker --rank of K, connected to fda-hub at --hub")
      ->check(CLI::IsMember({"local", "mpi", "zmq"}))->capture_default_str();
  app.add_option("--hub", s.hub, "--transport zmq: the hub's endpoint, tcp://HOST:PORT");
  app.add_option("--rank", s.rank, "--transport zmq: this worker's rank, 0 to K-1 (rank 0 reports and writes files)")
      ->transform(non_negative);
  app.add_option("--keys", s.keys, "--transport zmq: directory with hub.pub, worker-<rank>.key and .pub (fda-keys)");
  app.add_flag("--insecure", s.insecure, "--transport zmq: plaintext, unauthenticated (the hub must say --insecure too)");
  app.add_option("--heartbeat-ms", s.heartbeat_ms, "--transport zmq: heartbeat interval; the hub counts as lost after 5 silent intervals")
      ->transform(number<count>(10, 60000))->capture_default_str();
  app.add_option("--max-part-mb", s.max_part_mb, "--transport zmq: the largest checkpoint part one worker may send, MiB")
      ->transform(number<count>(1, 65536))->capture_default_str();
  app.add_option("--worker-threads", s.worker_threads, "OS threads that run this process's workers: 0, one per "
                 "worker (the default) | T < K, a worker pool: the workers as fibers on T threads, the same results "
                 "with far less coordination (hundreds of workers) | auto: T = the cores")
      ->transform(CLI::Validator(
          [](std::string& v) -> std::string {
            if (v == "auto") v = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
            return number<count>(0, 1u << 20)(v);
          },
          "0|T|auto"))->capture_default_str();
  app.add_option("--workers-per-rank", s.workers_per_rank, "--transport mpi: workers in each rank (threads, or a pool "
                 "with --worker-threads); K = ranks x N")->transform(number<count>(1, 1u << 16))->capture_default_str();
  app.add_option("--mpi-reduction", s.reduction, "ordered: bit-identical to --transport local | native: MPI_Allreduce")
      ->check(CLI::IsMember({"ordered", "native"}))->capture_default_str();
  // A bandwidth in bits/s with an optional decimal prefix; "bit/s" or "bps" may follow.
  std::vector<std::pair<std::string, double>> rates;
  for (const std::string unit : {"bit/s", "bps", ""})
    for (const auto& [prefix, factor] : {std::pair<std::string, double>{"T", 1e12}, {"G", 1e9}, {"M", 1e6}, {"k", 1e3}, {"", 1.0}})
      rates.push_back({prefix + unit, factor});
  app.add_option("--net-bandwidth", s.net_bandwidth, "simulate a network: bits/s per link, e.g. 1G, 100M, 10kbit/s (default with --net-latency: 1G)")
      ->transform(quantity(rates, false, "a bandwidth > 0 in bits/s, e.g. 1G, 100M, 2.5Gbit/s"));
  app.add_option("--net-latency", s.net_latency, "simulate a network: one-way latency per message, e.g. 20ms, 150us, 0.1s (default with --net-bandwidth: 0)")
      ->transform(quantity({{"ms", 1e-3}, {"us", 1e-6}, {"s", 1.0}, {"", 1.0}}, true, "a latency >= 0, e.g. 20ms, 150us, 0.1s"));
  app.add_option("--net-topology", s.net_topology, "simulated network: star (a server aggregates) | ring (ring all-reduce)")
      ->check(CLI::IsMember({"star", "ring"}))->capture_default_str();
}

/// Human-readable bytes for the table.
std::string bytes(std::uint64_t b) { return fda::human_bytes(b); }

/// The final table: one row per run; a seed column when several seeds were run.
void print_table(const std::vector<outcome>& runs, const settings& s) {
  const bool seeds = s.seeds.size() > 1;
  std::printf("\n%-12s %-9s", "policy", "theta");
  if (seeds) std::printf(" %6s", "seed");
  std::printf(" %8s %7s %10s %10s %10s %9s %9s", "steps", "syncs", "monitor", "sync", "total", "test acc", "wall s");
  if (s.target) std::printf("  %s", ("bytes to " + std::to_string(*s.target).substr(0, 4)).c_str());
  std::printf("\n");
  for (const auto& r : runs) {
    std::printf("%-12s %-9s", r.policy.c_str(), r.theta_configured.c_str());
    if (seeds) std::printf(" %6s", std::to_string(r.seed).c_str());
    std::printf(" %8zu %7zu %10s %10s %10s %9.4f %9.1f", r.result.steps, r.result.syncs,
                bytes(r.result.monitor_bytes).c_str(), bytes(r.result.sync_bytes).c_str(),
                bytes(r.result.total_bytes()).c_str(), r.test_accuracy, r.result.wall_seconds);
    if (s.target) std::printf("  %s", r.reached ? bytes(r.reached->total_bytes).c_str() : "never");
    std::printf("\n");
  }
  if (!s.simulates_network()) return;
  const fda::network_model net = s.network();
  const auto [scale, prefix] = net.bandwidth >= 1e9 ? std::pair{1e9, "G"} : net.bandwidth >= 1e6 ? std::pair{1e6, "M"}
                               : net.bandwidth >= 1e3 ? std::pair{1e3, "k"} : std::pair{1.0, ""};
  std::printf("\nsimulated network (%g %sbit/s per link, %g ms latency, %s): communication time\n",
              net.bandwidth / scale, prefix, net.latency * 1e3, s.net_topology.c_str());
  for (const auto& r : runs) std::printf("%-12s %10.2f s\n", run_name(r, s).c_str(), r.result.network_seconds);
}

void print_transport_bytes(const std::vector<outcome>& runs, const settings& s) {
  for (const auto& r : runs) {
    if (r.result.bytes_sent_per_rank.empty()) continue;
    std::printf("%-12s bytes each rank sent %s (measured, not the cost model):", run_name(r, s).c_str(),
                s.transport == "zmq" ? "to the hub, frame headers included" : "through MPI");
    for (auto b : r.result.bytes_sent_per_rank) std::printf(" %s", bytes(b).c_str());
    std::printf("\n");
  }
}

/// What each run decided on its own (fda::result::notes) and the workers it left out.
void print_notes(const std::vector<outcome>& runs, const settings& s) {
  for (const auto& r : runs) {
    const std::string name = run_name(r, s);
    for (const auto& note : r.result.notes) std::printf("%-12s note: %s\n", name.c_str(), note.c_str());
    if (!r.result.faults.empty())
      std::printf("%-12s %zu faulty worker states or models left out; the first: %s\n", name.c_str(),
                  r.result.faults.size(), r.result.faults.front().message.c_str());
  }
}

void write_json(const std::vector<outcome>& runs, const settings& s, std::ostream& out) {
  using fda::json_number, fda::json_string;
  out << "{\"model\":" << json_string(s.model) << ",\"backend\":" << json_string(s.backend) << ",\"workers\":" << s.workers << ",\"transport\":" << json_string(s.transport)
      << ",\"partition\":" << json_string(s.partition) << ",\"epochs\":" << s.epochs
      << ",\"server_opt\":" << json_string(s.server_opt) << ",\"server_lr\":" << json_number(s.server_lr)
      << ",\"fraction\":" << json_number(s.fraction) << ",\"client_opt\":" << json_string(s.client_opt) << ",\"lr\":" << json_number(s.lr)
      << ",\"target_accuracy\":" << (s.target ? json_number(*s.target) : "null");
  if (s.simulates_network()) {
    const fda::network_model net = s.network();
    out << ",\"network\":{\"bandwidth_bits_per_s\":" << json_number(net.bandwidth)
        << ",\"latency_s\":" << json_number(net.latency) << ",\"topology\":" << json_string(s.net_topology) << "}";
  }
  out << ",\"policies\":[";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    out << (i ? "," : "") << "{\"policy\":" << json_string(r.policy)
        << ",\"theta\":" << json_string(r.theta_configured) << ",\"final_theta\":" << json_number(r.result.final_theta)
        << ",\"steps\":" << r.result.steps << ",\"syncs\":" << r.result.syncs
        << ",\"monitor_bytes\":" << r.result.monitor_bytes << ",\"sync_bytes\":" << r.result.sync_bytes
        << ",\"total_bytes\":" << r.result.total_bytes() << ",\"test_accuracy\":" << json_number(r.test_accuracy)
        << ",\"wall_seconds\":" << json_number(r.result.wall_seconds)
        << ",\"network_seconds\":" << (s.simulates_network() ? json_number(r.result.network_seconds) : "null")
        << ",\"bytes_sent_per_rank\":[";
    for (std::size_t k = 0; k < r.result.bytes_sent_per_rank.size(); ++k)
      out << (k ? "," : "") << r.result.bytes_sent_per_rank[k];
    out << "],\"faults\":" << r.result.faults.size() << ",\"notes\":[";
    for (std::size_t k = 0; k < r.result.notes.size(); ++k) out << (k ? "," : "") << json_string(r.result.notes[k]);
    out << "],\"to_target\":";
    if (r.reached)
      out << "{\"steps\":" << r.reached->step << ",\"epoch\":" << r.reached->epoch << ",\"syncs\":" << r.reached->syncs
          << ",\"total_bytes\":" << r.reached->total_bytes << ",\"monitor_bytes\":" << r.reached->monitor_bytes
          << ",\"sync_bytes\":" << r.reached->sync_bytes << "}";
    else
      out << "null";
    out << ",\"seed\":" << r.seed
        << ",\"theta_configured\":" << (r.theta_configured.empty() ? "null" : json_string(r.theta_configured)) << "}";
  }
  out << "]}\n";
}

/// scripts/plot.py as installed beside the program (<prefix>/bin/fda-train and
/// <prefix>/share/fda/plot.py, as the fda-tools package lays them out), else the source
/// tree's copy that the build names (FDA_PLOT_SCRIPT).
std::string plot_script() {
  std::error_code error;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    const auto installed = exe.parent_path().parent_path() / "share" / "fda" / "plot.py";
    if (std::filesystem::exists(installed, error)) return installed.string();
  }
  return FDA_PLOT_SCRIPT;
}

#ifdef FDA_TRAIN_ZMQ
/// --transport zmq: joins the hub as worker --rank, with the run's identity (what every
/// worker must agree on: the model's d and the settings that shape the run or its collectives).
void join_hub(const settings& s, mpi_job& job) {
  std::size_t dim = 0;
  if (s.backend == "eigen")
    dim = std::visit([](auto&& m) { return m.params().size(); }, fda_train::make_model(s.model, 1, s.seed));
#ifdef FDA_TRAIN_TORCH
  else
    dim = fda::view(fda_train::make_torch_model(s.model, s.seed)).size();
#endif
  std::ostringstream run;
  run << "fda-train model=" << s.model << " backend=" << s.backend << " policy=" << s.policy_list << " theta=" << s.theta
      << " every=" << s.every << " local-epochs=" << s.local_epochs << " fraction=" << s.fraction << " server-opt=" << s.server_opt << " server-lr="
      << s.server_lr << " trim=" << s.trim << " client-opt=" << s.client_opt << " lr=" << s.lr << " batch=" << s.batch
      << " epochs=" << s.epochs << " partition=" << s.partition << " seed=" << s.seed << " seeds=" << s.seed_list
      << " check-every=" << s.check_every << " train-subset=" << s.train_subset << " byzantine=" << s.byzantine << " resume=" << s.resume
      << " checkpoint=" << !s.checkpoint.empty() << " checkpoint-every=" << s.checkpoint_every << " net="
      << s.net_bandwidth.value_or(0) << "/" << s.net_latency.value_or(0) << "/" << s.net_topology;
  const std::chrono::milliseconds beat(s.heartbeat_ms);
  job.zmq.emplace(fda::zmq_options{.hub = s.hub, .rank = s.rank, .workers = s.workers, .keys = s.keys,
                                   .insecure = s.insecure,
                                   .identity = {.dim = dim, .param_bytes = 4,
                                                .max_part_bytes = std::uint64_t(s.max_part_mb) << 20, .run = run.str()},
                                   .heartbeat = beat, .timeout = 5 * beat, .join_timeout = std::chrono::minutes(10)});
}
#endif

/// The split of the training set for `seed`, every worker's shard checked: one that would
/// leave a worker without data throws fda::invalid_argument.
std::vector<std::vector<std::size_t>> split_for(const settings& s, const fda::data::dataset& train, std::uint64_t seed) {
  auto shards = fda::data::make_partition(fda::data::parse_partition(s.partition), train.labels, s.workers, seed);
  for (std::size_t rank = 0; rank < s.workers; ++rank) fda_train::shard_of(shards, rank, s.partition);
  return shards;
}

/// The startup lines of a seed's split: the job, and its shards' sizes. Shards smaller than
/// a batch are those workers' whole batch (job.hpp): say how many.
void describe_split(const settings& s, const std::vector<std::vector<std::size_t>>& shards, std::size_t all,
                    std::size_t train_count, std::size_t test_count, std::size_t steps_per_epoch, std::uint64_t seed) {
  std::size_t smallest = all, largest = 0, under_batch = 0;
  for (const auto& shard : shards) {
    smallest = std::min(smallest, shard.size());
    largest = std::max(largest, shard.size());
    under_batch += shard.size() < s.batch;
  }
  const std::string which = s.seeds.size() > 1 ? ", seed " + std::to_string(seed) : "";
  std::fprintf(stderr, "fda-train: %s (%s), K = %zu, %s split%s, %zu train / %zu test examples, %zu steps per epoch, "
               "shards of %zu to %zu examples\n", s.model.c_str(), s.backend.c_str(), s.workers, s.partition.c_str(),
               which.c_str(), train_count, test_count, steps_per_epoch, smallest, largest);
  if (under_batch)
    std::fprintf(stderr, "fda-train: %zu of the K = %zu workers hold fewer examples than --batch %zu: each of their "
                 "steps is one batch of their whole shard\n", under_batch, s.workers, s.batch);
}

/// What the runs of a sweep share: the data, the evaluation sets, the CSV, the transport.
struct sweep {
  mpi_job& job;
  fda::local_cluster& cluster;
  std::counting_semaphore<>& compute;
  std::ostream& csv;
  bool first = true;  ///< the next run writes the CSV header
  const fda::data::dataset& test;
  const fda::data::dataset& probe;
  std::size_t steps_per_epoch = 0;
  const fda::data::dataset* train = nullptr;  ///< this seed's: the whole set, or (mpi, zmq) this worker's shard
  const std::vector<std::vector<std::size_t>>* shards = nullptr;  ///< this seed's split
};

/// FILE of --checkpoint for one run: FILE itself when it is the only run, else FILE.<policy>,
/// then .theta-<Θ> and .seed-<seed> where several of those are run, so no two runs share one.
std::string checkpoint_path(const settings& s, const outcome& o) {
  std::string path = s.checkpoint;
  if (s.policies.size() > 1) path += "." + o.policy;
  if (s.thetas.size() > 1 && !o.theta_configured.empty()) path += ".theta-" + o.theta_configured;
  if (s.seeds.size() > 1) path += ".seed-" + std::to_string(o.seed);
  return path;
}

/// One run of a sweep: the policy `name` with the Θ (s.theta) and seed (s.seed) of `s`, this
/// run's settings; on rank 0, its epochs go to the CSV.
outcome train_one(const settings& s, const std::string& name, sweep& sw) {
  using namespace fda_train;
  mpi_job& job = sw.job;
  const bool one_worker = s.transport != "local" && job.per_process == 1, root = job.rank == 0;
  const fda::data::dataset &train = *sw.train, &test = sw.test, &probe = sw.probe;
  const std::vector<std::vector<std::size_t>>& shards = *sw.shards;
  std::counting_semaphore<>& compute = sw.compute;
  fda::local_cluster& cluster = sw.cluster;
  const std::size_t steps_per_epoch = sw.steps_per_epoch;
  std::ostream discard(nullptr);  // non-root ranks: callbacks are never invoked there
  // Rows and the table name the server optimizer when it is not a plain mean.
  const std::string label = s.server_opt == "mean" ? name : name + "+" + s.server_opt;
  const std::string theta = takes_theta(name) ? s.theta : "";
  outcome o{label, theta, s.seed, {}, 0.0, {}};
  fda::csv_logger log(sw.csv, label, s.workers, sw.first, {.seed = s.seed, .theta_configured = theta});
  sw.first = false;
  fda::stop_at_target stop{.metric = "test_accuracy", .target = s.target.value_or(2.0)};
  fda::progress_bar bar(run_name({name, theta, s.seed}, s), root && !s.quiet ? std::cerr : discard);
  auto eval = fda::evaluate_average(evaluator{&test, &probe, make_model(s.model, 500, s.seed)});
  double last_accuracy = 0;
  struct remember {
    double* acc;
    void on_epoch(const fda::epoch_info<float>& e) { *acc = e.metrics.at("test_accuracy"); }
  } keep{&last_accuracy};

  auto make_worker = [&](std::size_t rank) {
    return worker{&train, {shard_of(shards, rank, s.partition), std::mt19937_64(s.seed * 1000003 + rank)}, s.batch,
                  make_model(s.model, s.batch, s.seed), make_optimizer(s.client_opt, s.lr), &compute,
                  rank + s.byzantine >= s.workers ? int(1 + rank % 2) : 0};
  };
  fda::options opt{.max_epochs = s.epochs, .steps_per_epoch = steps_per_epoch,
                   .check_every = s.check_every, .seed = s.seed};
  if (!s.checkpoint.empty()) {
    opt.checkpoint_path = checkpoint_path(s, o);
    opt.checkpoint_every = s.checkpoint_every;
    opt.resume = s.resume;
  }
  const server_opt server = make_server(s.server_opt, s.server_lr, s.trim);
  // The run of this policy with the back end's workers and evaluation.
  auto train_policy = [&](auto& make_worker, auto& eval) {
    using worker = decltype(make_worker(std::size_t(0)));
    return with_policy(name, s, [&](auto policy) {  // by name, not label
      // One worker's run on any transport; the callbacks run on rank 0 only.
      auto train_on = [&](auto& comm, worker& w) {
        if (s.quiet) return fda::train(comm, w, policy, server, opt, eval, keep, log, stop);
        return fda::train(comm, w, policy, server, opt, eval, keep, log, stop, bar);
      };
#ifdef FDA_TRAIN_ZMQ
      if (job.zmq) {
        worker w = make_worker(job.rank);
        if (!s.simulates_network()) return train_on(*job.zmq, w);
        fda::simulated_network net(*job.zmq, s.network());
        return train_on(net, w);
      }
#endif
      // The factory form on a cluster (in-process, or several workers per MPI rank); with a
      // simulated network, each worker over its simulated links, on its own thread.
      auto on_cluster = [&](auto& c, std::size_t first) -> fda::result {
        if (!s.simulates_network()) {
          if (s.quiet) return fda::train(c, make_worker, policy, server, opt, eval, keep, log, stop);
          return fda::train(c, make_worker, policy, server, opt, eval, keep, log, stop, bar);
        }
        std::optional<fda::result> res;
        c.run([&](auto& comm) {
          fda::simulated_network net(comm, s.network());
          worker w = make_worker(comm.rank());
          fda::result mine = train_on(net, w);
          if (comm.rank() == first) res = std::move(mine);  // (this process's first worker)
        });
        return std::move(*res);
      };
#ifdef FDA_TRAIN_MPI
      if (job.cluster) return on_cluster(*job.cluster, job.rank);
      if (s.transport == "mpi") {  // the same callback types on every rank
        worker w = make_worker(job.rank);
        if (!s.simulates_network()) return train_on(*job.comm, w);
        fda::simulated_network net(*job.comm, s.network());
        return train_on(net, w);
      }
#endif
      return on_cluster(cluster, 0);
    });
  };
#ifdef FDA_TRAIN_TORCH
  if (s.backend == "torch") {
    // One intra-op thread per worker when the workers computing at once fill the cores
    // (fda::torch::intra_op_threads_for); one per process under MPI and ZeroMQ.
    const int intra_op = s.intra_op_threads ? int(s.intra_op_threads)
                         : one_worker     ? 1
                                          : fda::torch::intra_op_threads_for(
                                                std::min(s.threads, job.per_process ? job.per_process : s.workers));
    auto make_torch_worker = [&](std::size_t rank) {
      torch::nn::Sequential model = make_torch_model(s.model, s.seed);
      auto optimizer = make_torch_optimizer(s.client_opt, s.lr, model);
      return torch_worker{{model, std::move(optimizer),
                           torch_batches{&train,
                                         {shard_of(shards, rank, s.partition), std::mt19937_64(s.seed * 1000003 + rank)},
                                         s.batch},
                           cross_entropy{}, {.intra_op_threads = intra_op}},
                          &compute, rank + s.byzantine >= s.workers ? int(1 + rank % 2) : 0};
    };
    auto torch_eval = fda::torch::evaluate_module(make_torch_model(s.model, s.seed), torch_metrics{&test, &probe});
    o.result = train_policy(make_torch_worker, torch_eval);
  } else
#endif
    o.result = train_policy(make_worker, eval);
  o.test_accuracy = last_accuracy;
  o.reached = stop.reached;
  return o;
}

/// Trains every policy in turn (each θ of --theta for a policy with one), for each seed,
/// in-process or (--transport mpi, zmq) one worker per process; only rank 0 prints and
/// writes files.
int run(const settings& s, mpi_job& job) {
  using namespace fda_train;
  // mpi, zmq: this process runs the workers job.rank … job.rank + per_process − 1 (one, or
  // --workers-per-rank), and keeps only their shards.
  const std::size_t first = job.rank, count = job.per_process ? job.per_process : s.workers;
  const bool some_workers = count < s.workers, root = job.rank == 0;
  fda::data::dataset train = fda::data::load_fashion_mnist(s.data, true);
  const std::size_t all_examples = train.count;
  if (s.train_subset) train = fda::data::head(train, std::min(s.train_subset, train.count));
  if (s.byzantine >= s.workers) {
    std::fprintf(stderr, "fda-train: --byzantine %zu leaves no honest worker among K = %zu\n", s.byzantine, s.workers);
    return 2;
  }
  if (s.workers > train.count) {
    std::fprintf(stderr, "fda-train: --workers %zu exceeds the %zu training examples\n", s.workers, train.count);
    return 2;
  }
  // Every rank computes the whole split of each seed (same partitioner, same seed), then keeps
  // its shard; a split that would leave a worker without data is refused alike on every
  // rank, before any run.
  std::vector<std::vector<std::vector<std::size_t>>> splits;
  for (const std::uint64_t seed : s.seeds) {
    try {
      splits.push_back(split_for(s, train, seed));
    } catch (const fda::invalid_argument& e) {
      const std::string which = s.seeds.size() > 1 ? " (seed " + std::to_string(seed) + ")" : "";
      if (root) std::fprintf(stderr, "fda-train: --partition %s%s: %s\n", s.partition.c_str(), which.c_str(), e.what());
      return 2;
    }
  }
  // One epoch is n / (K·batch) steps. Below one, a step would stand for several passes over
  // the data, and FedAvg's rounds, the adaptive calibration epoch, the epoch rows and the
  // bytes to the target would all be mis-scaled without a word: refuse, naming the fixes.
  const std::size_t per_step = s.workers * s.batch;  // <= 2^20 · 4096, no overflow
  if (train.count < per_step) {
    std::string fixes = "--batch <= " + std::to_string(train.count / s.workers);
    fixes += per_step <= all_examples ? " or --train-subset >= " + std::to_string(per_step)
                                      : " or fewer workers (the training set has " + std::to_string(all_examples) + ")";
    if (root)
      std::fprintf(stderr, "fda-train: %zu training examples make less than one step per epoch for K = %zu workers "
                   "x --batch %zu = %zu examples a step (n / (K * batch) must be >= 1): use %s\n",
                   train.count, s.workers, s.batch, per_step, fixes.c_str());
    return 2;
  }
  const fda::data::dataset probe = root ? fda::data::head(train, std::min<std::size_t>(5000, train.count))
                                        : fda::data::dataset{};
  const fda::data::dataset test = root ? fda::data::load_fashion_mnist(s.data, false) : fda::data::dataset{};
  const std::size_t steps_per_epoch = train.count / per_step;
  std::ofstream csv_file;
  std::ostringstream csv_memory;  // the plot needs the rows even without --csv
  if (!s.csv.empty()) {
    csv_file.open(s.csv);
    if (!csv_file) throw std::runtime_error("cannot write --csv " + s.csv);
  }
  std::ostream& csv = s.csv.empty() ? static_cast<std::ostream&>(csv_memory) : csv_file;

  std::counting_semaphore<> compute(std::ptrdiff_t(s.threads));
  fda::local_cluster cluster(some_workers ? 1 : s.workers, {.threads = s.worker_threads});
#ifdef FDA_TRAIN_ZMQ
  if (s.transport == "zmq") join_hub(s, job);
#endif
  std::vector<outcome> runs;
  sweep sw{job, cluster, compute, csv, true, test, probe, steps_per_epoch};
  fda::data::dataset mine;  // mpi, zmq: this process's workers' shards of the seed's split
  for (std::size_t i = 0; i < s.seeds.size(); ++i) {
    std::vector<std::vector<std::size_t>>& shards = splits[i];
    sw.train = &train;
    sw.shards = &shards;
    if (some_workers) {  // the same examples in the same order as shards[first …] of the whole set
      std::vector<std::size_t> kept;
      for (std::size_t r = first; r < first + count; ++r) {
        kept.insert(kept.end(), shards[r].begin(), shards[r].end());
        std::iota(shards[r].begin(), shards[r].end(), kept.size() - shards[r].size());
      }
      mine = fda::data::subset(train, kept);
      sw.train = &mine;
    }
    if (!s.quiet && root) describe_split(s, shards, train.count, sw.train->count, test.count, steps_per_epoch, s.seeds[i]);
    if (some_workers && i + 1 == s.seeds.size()) train = {};  // the last seed: only the shards are needed now
    for (const auto& name : s.policies)  // a policy without Θ runs once (the Θ it is given goes unused)
      for (const std::string& theta : takes_theta(name) ? s.thetas : std::vector<std::string>{s.thetas.front()}) {
        settings one = s;  // this run's Θ and seed
        one.theta = theta;
        one.seed = s.seeds[i];
        runs.push_back(train_one(one, name, sw));
      }
  }

  if (!root) return 0;
  print_table(runs, s);
  print_transport_bytes(runs, s);
  print_notes(runs, s);
  if (!s.json.empty()) {
    std::ofstream out(s.json);
    if (!out) throw std::runtime_error("cannot write --json " + s.json);
    write_json(runs, s, out);
  }
  if (!s.plot.empty()) {
    std::string rows = s.csv;
    if (rows.empty()) {
      rows = s.plot + ".csv";
      std::ofstream(rows) << csv_memory.str();
    }
    csv_file.flush();
    const std::string command = FDA_PYTHON " '" + plot_script() + "' '" + rows + "' '" + s.plot + "'";
    if (std::system(command.c_str()) != 0)
      std::fprintf(stderr, "fda-train: the plot was not written (needs python3-matplotlib): %s\n", command.c_str());
  }
  return 0;
}

/// --transport zmq: this process is worker --rank of K; every rank reports its own error.
int run_zmq_worker(const settings& s) {
#ifdef FDA_TRAIN_ZMQ
  if (s.hub.empty() || s.rank >= s.workers) {
    std::fprintf(stderr, "fda-train: --transport zmq needs --hub tcp://HOST:PORT and --rank r with 0 <= r < K = %zu "
                 "(--workers)%s\n", s.workers, s.hub.empty() ? ": --hub is missing" : "");
    return 2;
  }
  if (s.keys.empty() && !s.insecure) {
    std::fprintf(stderr, "fda-train: --transport zmq needs --keys DIR (written by fda-keys), or --insecure\n");
    return 2;
  }
  mpi_job job{s.rank, s.workers, 1};
  try {
    return run(s, job);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fda-train: worker %zu: %s\n", s.rank, e.what());
    return 1;
  }
#else
  (void)s;
  std::fprintf(stderr, "fda-train: --transport zmq: this build has no ZeroMQ (install libzmq3-dev cppzmq-dev and rebuild)\n");
  return 2;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fda-train: federated training on Fashion-MNIST with a comparison of sync policies"};
  settings s;
  define_options(app, s);
  if (const auto status = fda_train::parse_or_exit(app, argc, argv, "fda-train")) return *status;
  s.policies = split_list(s.policy_list);
  s.thetas = split_list(s.theta);
  if (app.count("--seed") && app.count("--seeds")) {
    std::fprintf(stderr, "fda-train: --seed and --seeds cannot both be given: --seed N runs one seed, --seeds N,M,... "
                 "repeats every run for each\n");
    return 2;
  }
  s.seeds = {s.seed};
  if (app.count("--seeds")) {
    s.seeds.clear();
    for (const auto& seed : split_list(s.seed_list)) s.seeds.push_back(std::stoull(seed));  // checked: digits only
  }
  const bool torch_model = s.model == "lenet5" || s.model == "cnn", eigen_model = s.model != "cnn";
  if (s.backend == "torch" ? !torch_model : !eigen_model) {
    std::fprintf(stderr, "fda-train: --model %s is not a model of --backend %s (eigen: softmax, mlp, lenet5; "
                 "torch: lenet5, cnn)\n", s.model.c_str(), s.backend.c_str());
    return 2;
  }
#ifndef FDA_TRAIN_TORCH
  if (s.backend == "torch") {
    std::fprintf(stderr, "fda-train: --backend torch: this build has no LibTorch (install libtorch-dev and rebuild)\n");
    return 2;
  }
#endif
  if (s.resume && s.checkpoint.empty()) {
    std::fprintf(stderr, "fda-train: --resume needs --checkpoint FILE\n");
    return 2;
  }
  s.workers_given = app.count("--workers") > 0;
  if (s.workers_per_rank > 1 && s.transport != "mpi") {
    std::fprintf(stderr, "fda-train: --workers-per-rank applies to --transport mpi (in-process, -k sets K)\n");
    return 2;
  }
  if (s.fraction != 1.0 && std::find(s.policies.begin(), s.policies.end(), "fedavg") == s.policies.end()) {
    std::fprintf(stderr, "fda-train: --fraction applies to --policy fedavg, which --policy %s does not name\n",
                 s.policy_list.c_str());
    return 2;
  }
  if (s.transport == "zmq") return run_zmq_worker(s);
  if (s.workers > 4096 && (s.worker_threads == 0 || s.worker_threads >= s.workers)) {
    std::fprintf(stderr, "fda-train: K = %zu workers need a worker pool (--worker-threads T, e.g. auto): one OS thread "
                 "per worker is limited to 4096\n", s.workers);
    return 2;
  }
  if (s.transport == "local") {
    mpi_job local;
    try {
      return run(s, local);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fda-train: %s\n", e.what());
      return 1;
    }
  }
#ifdef FDA_TRAIN_MPI
  // Several workers per rank: worker threads call MPI (fda::mpi_cluster).
  const std::size_t n = s.workers_per_rank;
  boost::mpi::environment env(argc, argv, n > 1 ? boost::mpi::threading::multiple : boost::mpi::threading::single);
  boost::mpi::communicator world;
  const auto k = std::size_t(world.size()) * n;
  if (s.workers_given && s.workers != k) {
    if (world.rank() == 0)
      std::fprintf(stderr, "fda-train: --workers %zu but mpirun started %d ranks of --workers-per-rank %zu: with "
                   "--transport mpi, K is ranks x workers per rank = %zu (leave --workers out)\n", s.workers,
                   world.size(), n, k);
    return 2;
  }
  s.workers = k;
  const auto reduction = s.reduction == "native" ? fda::mpi_reduction::native : fda::mpi_reduction::ordered;
  if (n > 1 && reduction == fda::mpi_reduction::native) {
    if (world.rank() == 0)
      std::fprintf(stderr, "fda-train: --mpi-reduction native needs one worker per rank (--workers-per-rank 1): "
                   "several workers per rank reduce in worker order\n");
    return 2;
  }
  mpi_job job{std::size_t(world.rank()) * n, k, 1, fda::mpi_comm(world, {.reduction = reduction})};
  if (n > 1) {
    job.per_process = n;
    job.cluster.emplace(world, n, fda::mpi_options{}, fda::cluster_options{.threads = s.worker_threads});
  }
  try {
    return run(s, job);
  } catch (const std::exception& e) {
    if (!fda::is_raised_everywhere(e)) job.comm->abort(e.what());  // the others may be waiting
    if (job.rank == 0) std::fprintf(stderr, "fda-train: %s\n", e.what());
    return 1;
  }
#else
  std::fprintf(stderr, "fda-train: --transport mpi: this build has no MPI (install libboost-mpi-dev openmpi-bin and rebuild)\n");
  return 2;
#endif
}
