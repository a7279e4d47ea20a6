// SPDX-License-Identifier: Apache-2.0
// fda-bench: what a sync policy's monitoring costs per check (and, with --sync, what a sync
// costs) at your d and K on this machine, as ratios to a plain read of the same bytes
// measured in the same process, and as a share of a model's training step. Built on
// <fda/benchmark.hpp>; see `fda-bench --help` and docs/guide.md.
#include <benchmark/benchmark.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <fda/benchmark.hpp>
#include <fda/callbacks/json_summary.hpp>

#include "fda-train/cli.hpp"
#include "fda-train/job.hpp"

namespace {

using fda_train::number;
using fda_train::split_list;

struct settings {
  std::string policy_list = "linear,sketch,naive";
  std::vector<std::string> policies;
  std::string dim_list;                // empty: 61706,1e6,1e7, or the --eigen-model's d
  std::vector<std::size_t> dims;
  std::size_t workers = 8;
  std::size_t tensors = 1;
  std::string type = "float";
  std::string sync_list;               // aggregators of the sync rows; empty: none
  std::vector<std::string> syncs;
  std::optional<double> step_ms;       // --model-step-ms
  std::string eigen_model;             // --eigen-model
  double min_time = 0.5;
  std::string csv, json;
};

constexpr std::size_t max_dim = 1'000'000'000;  // 12 GB of arrays for LinearFDA's baseline

/// "61706", "1e6", "1.5e6": a whole number of parameters in [1, max_dim], or nullopt.
std::optional<std::size_t> parse_dim(const std::string& text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(v) || v < 1 ||
      v > double(max_dim) || v != std::floor(v))
    return std::nullopt;
  return std::size_t(v);
}

/// A comma list whose every item passes `ok` (returning "" or what is wrong with it).
template <class Check>
CLI::Validator list_of(std::string what, Check ok) {
  return CLI::Validator(
      [=](std::string& v) -> std::string {
        const auto items = split_list(v);
        if (items.empty()) return "names no " + what;
        for (const auto& item : items)
          if (std::string why = ok(item); !why.empty()) return why;
        return {};
      },
      "LIST");
}

const std::vector<std::string> aggregator_names{"mean",    "fedavgm",    "fedadam", "fedadagrad",
                                                "fedyogi", "median", "trimmed-mean"};

using fda_train::one_of;

void define_options(CLI::App& app, settings& s) {
  using count = std::size_t;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--policy", s.policy_list, "one or a comma list of: " + one_of(fda_train::policy_names))
      ->check(list_of("policy", [](const std::string& n) -> std::string {
        if (std::find(fda_train::policy_names.begin(), fda_train::policy_names.end(), n) != fda_train::policy_names.end())
          return {};
        return "'" + n + "' is not a policy (" + one_of(fda_train::policy_names) + ")";
      }))
      ->capture_default_str();
  app.add_option("--dim", s.dim_list, "parameters d, a comma list (61706,1e6,1e7; default: those, or the --eigen-model's d)")
      ->check(list_of("size", [](const std::string& n) -> std::string {
        if (parse_dim(n)) return {};
        return "'" + n + "' is not a number of parameters (a whole number in [1, 1e9], such as 61706 or 1e6)";
      }));
  app.add_option("--workers,-k", s.workers, "K, for the cost model's bytes per check and the sync's threads")
      ->transform(number<count>(1, 4096))->capture_default_str();
  app.add_option("--tensors", s.tensors, "split d into this many tensors (a model's layers)")
      ->transform(number<count>(1, 100000))->capture_default_str();
  app.add_option("--type", s.type, "float | double")->check(CLI::IsMember({"float", "double"}))->capture_default_str();
  app.add_option("--sync", s.sync_list, "also time a sync of K models through these aggregators: " + one_of(aggregator_names))
      ->check(list_of("aggregator", [](const std::string& n) -> std::string {
        if (std::find(aggregator_names.begin(), aggregator_names.end(), n) != aggregator_names.end()) return {};
        return "'" + n + "' is not an aggregator (" + one_of(aggregator_names) + ")";
      }));
  auto* step = app.add_option("--model-step-ms", s.step_ms, "a training step of your model, in ms: adds each check's share of it")
                   ->transform(number(0.0, std::numeric_limits<double>::max(), true));
  app.add_option("--eigen-model", s.eigen_model, "measure a training step (batch 32, SGD) of softmax | mlp | lenet5 instead")
      ->check(CLI::IsMember({"softmax", "mlp", "lenet5"}))->excludes(step);
  app.add_option("--min-time", s.min_time, "seconds of measurement per case")
      ->transform(number(0.0, 3600.0, true))->capture_default_str();
  app.add_option("--csv", s.csv, "write one row per case to FILE");
  app.add_option("--json", s.json, "write the settings and the rows to FILE");
}

/// The median time of a training step of the named Eigen model (batch 32, SGD with
/// momentum, random images), and its number of parameters.
std::pair<double, std::size_t> measure_model_step(const std::string& name) {
  constexpr std::size_t batch = 32;
  auto model = fda_train::make_model(name, batch, 1);
  return std::visit(
      [&](auto& m) {
        fda::models::sgd<float> opt({.lr = 0.01, .momentum = 0.9});
        std::mt19937_64 rng(100);
        std::vector<float> images(batch * fda::models::image_size);
        std::vector<std::uint8_t> labels(batch);
        for (auto& x : images) x = float(2 * fda::models::uniform01(rng) - 1);
        for (auto& y : labels) y = std::uint8_t(rng() % fda::models::num_classes);
        const double seconds = fda::median_seconds(
            [&] {
              benchmark::DoNotOptimize(m.loss_and_grad(images.data(), labels.data(), batch));
              opt.step(m.params(), m.grads());
            },
            40);
        return std::pair{seconds, m.params().size()};
      },
      model);
}

/// One line per finished case on stderr (a run at 1e7 takes a while); nothing else.
class progress_reporter : public benchmark::BenchmarkReporter {
 public:
  explicit progress_reporter(std::size_t total) : total_(total) {}
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      std::fprintf(stderr, "fda-bench: [%zu/%zu] %s%s%s\n", ++done_, total_, r.benchmark_name().c_str(),
                   r.error_occurred ? ": " : "", r.error_occurred ? r.error_message.c_str() : "");
    }
  }

 private:
  std::size_t total_, done_ = 0;
};

template <class T>
void register_all(const settings& s) {
  const fda_train::policy_settings configured{fda::parse_threshold("1")};
  for (const std::size_t d : s.dims) {
    const fda::benchmark_shape shape{.dim = d, .workers = s.workers, .tensors = std::min(s.tensors, d)};
    for (const auto& name : s.policies)
      fda_train::with_policy(name, configured, [&](auto policy) {
        fda::register_policy_benchmark<T>(policy, shape, {.min_time = s.min_time, .label = name});
        return 0;
      });
    for (const auto& name : s.syncs)
      std::visit([&](const auto& agg) { fda::register_sync_benchmark<T>(agg, shape, s.min_time); },
                 fda_train::make_server(name, 1.0).config);
  }
}

/// The rows' label: the command line's policy name (linear) or sync:<aggregator>.
std::vector<std::string> labels_of(const settings& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.dims.size(); ++i) {
    out.insert(out.end(), s.policies.begin(), s.policies.end());
    for (const auto& a : s.syncs) out.push_back("sync:" + a);
  }
  return out;
}

double share_of_step(const fda::benchmark_row& r, std::optional<double> step) {
  return step && r.kind == "check" ? r.seconds / *step : std::numeric_limits<double>::quiet_NaN();
}

void print_table(const std::vector<fda::benchmark_row>& rows, const std::vector<std::string>& labels,
                 std::optional<double> step) {
  std::printf("\n%-16s %11s %5s %12s %9s %8s %8s %10s %14s %9s\n", "policy", "d", "K", "us/check", "ns/param",
              "GB/s", "x base", "state B", "B/check at K", "% step");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (!r.checks) {
      std::printf("%-16s %11zu %5zu %12s %9s %8s %8s %10zu %14.0f %9s  (never checks: syncs on a schedule)\n",
                  labels[i].c_str(), r.dim, r.workers, "0", "-", "-", "-", r.state_bytes, 0.0, step ? "0" : "-");
      continue;
    }
    char pct[32] = "-";
    if (const double sh = share_of_step(r, step); std::isfinite(sh)) std::snprintf(pct, sizeof pct, "%.2f", 100 * sh);
    std::printf("%-16s %11zu %5zu %12.2f %9.3f %8.2f %8.2f %10zu %14.0f %9s\n", labels[i].c_str(), r.dim, r.workers,
                r.seconds * 1e6, r.seconds * 1e9 / double(r.dim), r.bytes_read / r.seconds * 1e-9, r.ratio,
                r.state_bytes, r.cost_model_bytes, pct);
  }
  std::printf("x base: time / time of a plain read of the same bytes (a sync: of every worker copying its model),\n"
              "measured alternately in this process. B/check at K: the cost model's bytes per check (a sync: 2·K·4·d).\n");
  if (step) std::printf("%% step: a check's time as a share of one training step (%.3f ms).\n", *step * 1e3);
}

constexpr const char* csv_header =
    "label,kind,name,type,dim,workers,tensors,checks,seconds,baseline_seconds,ratio,ns_per_param,read_GBps,"
    "state_bytes,cost_model_bytes,step_seconds,share_of_step,samples";

/// A number as the shortest text that reads back the same; empty when not finite (not
/// measured, or a rate of a case with nothing to time).
std::string csv_number(double v) { return std::isfinite(v) ? fda::json_number(v) : ""; }

bool write_csv(const std::string& path, const std::vector<fda::benchmark_row>& rows,
               const std::vector<std::string>& labels, std::optional<double> step) {
  std::ofstream out(path);
  out << csv_header << "\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out << labels[i] << "," << r.kind << "," << r.name << "," << r.type << "," << r.dim << "," << r.workers << ","
        << r.tensors << "," << (r.checks ? 1 : 0) << "," << csv_number(r.seconds) << ","
        << csv_number(r.baseline_seconds) << "," << csv_number(r.ratio) << ","
        << csv_number(r.seconds * 1e9 / double(r.dim)) << "," << csv_number(r.bytes_read / r.seconds * 1e-9) << ","
        << r.state_bytes << "," << csv_number(r.cost_model_bytes) << "," << csv_number(step ? *step : NAN) << ","
        << csv_number(share_of_step(r, step)) << "," << r.samples << "\n";
  }
  return bool(out.flush());
}

bool write_json(const std::string& path, const settings& s, const std::vector<fda::benchmark_row>& rows,
                const std::vector<std::string>& labels, std::optional<double> step) {
  using fda::json_number, fda::json_string;
  std::ofstream out(path);
  out << "{\"tool\":\"fda-bench\",\"fda_version\":" << json_string(FDA_VERSION)
      << ",\"settings\":{\"policy\":" << json_string(s.policy_list) << ",\"workers\":" << s.workers
      << ",\"tensors\":" << s.tensors << ",\"type\":" << json_string(s.type)
      << ",\"sync\":" << json_string(s.sync_list) << ",\"eigen_model\":" << json_string(s.eigen_model)
      << ",\"min_time\":" << json_number(s.min_time) << ",\"step_seconds\":" << json_number(step ? *step : NAN)
      << "},\"rows\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out << (i ? "," : "") << "{\"label\":" << json_string(labels[i]) << ",\"kind\":" << json_string(r.kind)
        << ",\"name\":" << json_string(r.name) << ",\"type\":" << json_string(r.type) << ",\"dim\":" << r.dim
        << ",\"workers\":" << r.workers << ",\"tensors\":" << r.tensors << ",\"checks\":" << (r.checks ? "true" : "false")
        << ",\"seconds\":" << json_number(r.seconds) << ",\"baseline_seconds\":" << json_number(r.baseline_seconds)
        << ",\"ratio\":" << json_number(r.ratio) << ",\"state_bytes\":" << r.state_bytes
        << ",\"cost_model_bytes\":" << json_number(r.cost_model_bytes)
        << ",\"share_of_step\":" << json_number(share_of_step(r, step)) << ",\"samples\":" << r.samples << "}";
  }
  out << "]}\n";
  return bool(out.flush());
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  CLI::App app{"fda-bench: what a sync policy's monitoring costs per check at your d and K, against a plain read "
               "of the same bytes (docs/guide.md)"};
  define_options(app, s);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help: 0; a bad value: 2, its option named
  }
  s.policies = split_list(s.policy_list);
  s.syncs = split_list(s.sync_list);
  try {
    std::optional<double> step;
    if (s.step_ms) step = *s.step_ms * 1e-3;
    if (!s.eigen_model.empty()) {
      const auto [seconds, d] = measure_model_step(s.eigen_model);
      step = seconds;
      std::fprintf(stderr, "fda-bench: a %s training step (batch 32, SGD): %.3f ms, d = %zu\n", s.eigen_model.c_str(),
                   seconds * 1e3, d);
      if (s.dim_list.empty()) s.dim_list = std::to_string(d);
    }
    if (s.dim_list.empty()) s.dim_list = "61706,1e6,1e7";
    for (const auto& text : split_list(s.dim_list)) s.dims.push_back(*parse_dim(text));
    try {  // what registration refuses comes from the options: a usage error
      if (s.type == "double") register_all<double>(s);
      else register_all<float>(s);
    } catch (const fda::invalid_argument& e) {
      std::fprintf(stderr, "fda-bench: --dim, --workers or --tensors: %s\n", e.what());
      return 2;
    }

    int bench_argc = 1;
    char* bench_argv[] = {argv[0], nullptr};
    benchmark::Initialize(&bench_argc, bench_argv);
    const std::vector<std::string> labels = labels_of(s);
    progress_reporter progress(labels.size());
    benchmark::RunSpecifiedBenchmarks(&progress);
    const auto rows = fda::benchmark_results();
    print_table(rows, labels, step);
    if (!s.csv.empty() && !write_csv(s.csv, rows, labels, step)) {
      std::fprintf(stderr, "fda-bench: cannot write --csv %s\n", s.csv.c_str());
      return 1;
    }
    if (!s.json.empty() && !write_json(s.json, s, rows, labels, step)) {
      std::fprintf(stderr, "fda-bench: cannot write --json %s\n", s.json.c_str());
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fda-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
