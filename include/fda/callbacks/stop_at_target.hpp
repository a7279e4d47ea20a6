// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Ends a run when a metric reaches a target, and records what it cost to get there:
/// the "bytes to reach accuracy X" figure by which docs/algorithm.md: Communication cost compares policies.
///
///   fda::stop_at_target stop{.metric = "test_accuracy", .target = 0.85};
///   fda::train(cluster, make_worker, policy, fda::mean{}, opts, evaluator, stop);
///   if (stop.reached) std::cout << stop.reached->total_bytes;
///
/// On fda::simulated_network, reached->network_seconds is the simulated communication time
/// to reach the target (time to accuracy).
///
/// It reads metrics, so put it after the evaluator that writes them.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "callback.hpp"

namespace fda {

/// A callback: stops the run at the first epoch whose metric meets the target, and keeps
/// the counters of that moment in `reached`.
struct stop_at_target {
  std::string metric = "test_accuracy";  ///< the key in epoch_info::metrics to watch
  double target = 0;                     ///< the value to reach
  bool higher_is_better = true;  ///< stop at value >= target; false: at value <= target (a loss)

  /// Where the run stood at the first epoch that met the target.
  struct reached_at {
    std::size_t epoch = 0;            ///< epochs done (1-based)
    std::size_t step = 0;             ///< in-parallel steps done
    std::size_t syncs = 0;            ///< syncs so far
    std::uint64_t monitor_bytes = 0;  ///< monitoring bytes so far (cost model)
    std::uint64_t sync_bytes = 0;     ///< sync bytes so far (cost model)
    std::uint64_t total_bytes = 0;    ///< monitor_bytes + sync_bytes: the bytes to reach the target
    double wall_seconds = 0;          ///< time since the run began
    double network_seconds = 0;  ///< simulated communication time so far (fda::simulated_network; else 0)
    double value = 0;  ///< the metric at that epoch
  };
  std::optional<reached_at> reached = std::nullopt;  ///< empty until the target is met

  /// Forgets a previous run's result, so one object can watch several runs.
  void on_begin(const run_info&) { reached.reset(); }

  /// True (stop) when the metric meets the target; an absent or NaN metric never does.
  template <class T>
  bool on_epoch(const epoch_info<T>& info) {
    const auto it = info.metrics.find(metric);
    if (it == info.metrics.end()) return false;
    const double v = it->second;
    if (!(higher_is_better ? v >= target : v <= target)) return false;
    if (!reached)
      reached = reached_at{.epoch = info.epoch,
                           .step = info.step,
                           .syncs = info.syncs,
                           .monitor_bytes = info.monitor_bytes,
                           .sync_bytes = info.sync_bytes,
                           .total_bytes = info.monitor_bytes + info.sync_bytes,
                           .wall_seconds = info.wall_seconds,
                           .network_seconds = info.network_seconds,
                           .value = v};
    return true;
  }
};

}  // namespace fda
