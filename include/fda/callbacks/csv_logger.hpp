// SPDX-License-Identifier: Apache-2.0
#pragma once
/// One CSV row per epoch with the metrics of docs/algorithm.md: Metrics, ready for a plotting script.
/// Numbers are written in their shortest exact form (std::to_chars), so a row read back
/// gives the same doubles; a value that is absent or not finite is an empty field.
///
///   policy,theta,workers,epoch,steps,syncs,monitor_bytes,sync_bytes,total_bytes,
///   test_accuracy,train_loss,wall_seconds,seed,theta_configured,network_seconds
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "callback.hpp"

namespace fda {
namespace detail {

/// The shortest text that reads back as `value`; empty when it is NaN or infinite.
inline std::string csv_number(double value) {
  if (!std::isfinite(value)) return {};
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
}

/// RFC 4180: a field holding a comma, a quote or a line break is quoted, quotes doubled.
inline std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace detail

/// What a csv_logger writes in the columns that describe the run rather than an epoch:
/// for sweeps, where one file holds the runs of several seeds and thresholds.
struct csv_run {
  std::optional<std::uint64_t> seed = {};  ///< the run's seed; absent: an empty field
  /// Θ as configured ("2", "adaptive"), where `theta` is the Θ in force; empty: an empty field
  /// (a policy without Θ).
  std::string theta_configured = {};
};

/// A callback writing one CSV row per epoch: policy, Θ, K, epoch, steps, syncs, the bytes
/// (monitor, sync, total), test_accuracy and train_loss from the metric table, wall time;
/// then the run's seed and configured Θ (csv_run), and the simulated communication time
/// (epoch_info::network_seconds: 0 without fda::simulated_network).
class csv_logger {
 public:
  /// Writes the header now (unless appending to a file that has one), so even a run
  /// with no epoch leaves a valid CSV; `run` fills the seed and theta_configured columns.
  csv_logger(std::ostream& out, std::string policy, std::size_t workers, bool write_header = true,
             const csv_run& run = {})
      : out_(&out),
        policy_(detail::csv_field(policy)),
        workers_(workers),
        run_columns_((run.seed ? std::to_string(*run.seed) : std::string()) + ',' +
                     detail::csv_field(run.theta_configured)) {
    if (write_header) *out_ << header() << '\n' << std::flush;
  }

  /// The column names, without the line break.
  static std::string header() {
    return "policy,theta,workers,epoch,steps,syncs,monitor_bytes,sync_bytes,total_bytes,"
           "test_accuracy,train_loss,wall_seconds,seed,theta_configured,network_seconds";
  }

  /// Rows end with '\n' (not RFC 4180's CRLF: every CSV reader takes both) and are
  /// flushed, so a long run can be watched and a crash keeps the epochs done. The row is
  /// built with to_string/to_chars, so a locale imbued in `out` cannot group digits.
  template <class T>
  void on_epoch(const epoch_info<T>& info) {
    using std::to_string;
    auto metric = [&](const char* name) {
      const auto it = info.metrics.find(name);
      return it == info.metrics.end() ? std::string() : detail::csv_number(it->second);
    };
    const std::string row =
        policy_ + ',' + detail::csv_number(info.theta) + ',' + to_string(workers_) + ',' +
        to_string(info.epoch) + ',' + to_string(info.step) + ',' + to_string(info.syncs) + ',' +
        to_string(info.monitor_bytes) + ',' + to_string(info.sync_bytes) + ',' +
        to_string(info.monitor_bytes + info.sync_bytes) + ',' + metric("test_accuracy") + ',' +
        metric("train_loss") + ',' + detail::csv_number(info.wall_seconds) + ',' + run_columns_ + ',' +
        detail::csv_number(info.network_seconds) + '\n';
    *out_ << row << std::flush;
  }

 private:
  std::ostream* out_;
  std::string policy_;  ///< already quoted when it needs to be
  std::size_t workers_;
  std::string run_columns_;  ///< "seed,theta_configured", quoted where needed
};

}  // namespace fda
