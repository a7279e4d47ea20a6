// SPDX-License-Identifier: Apache-2.0
#pragma once
/// FedAvg's schedule: a sync every E local epochs (E · steps_per_epoch local steps).
/// The aggregation (plain mean, or a server optimizer for FedOpt) is chosen separately.
#include <string_view>

#include "schedule.hpp"

namespace fda {

/// FedAvg's schedule: rounds of E · steps_per_epoch local steps, E = `local_epochs`; no
/// local state. With fda::mean this is FedAvg, with a server optimizer FedOpt.
struct fedavg {
  static constexpr std::string_view name = "fedavg";  ///< the policy's name in logs and errors
  std::size_t local_epochs = 1;  ///< E

  /// The monitor of a run with T parameters in any memory space Space (it reads no
  /// parameter): a schedule of rounds of E epochs.
  template <class T, class Space = host_space>
  struct monitor : detail::schedule_monitor {
    /// Throws fda::invalid_argument for local_epochs = 0, steps_per_epoch = 0 or an invalid `info`.
    monitor(const fedavg& p, const run_info& info)
        : schedule_monitor(name.data(), info, round_steps(p, info)) {}

   private:
    static std::size_t round_steps(const fedavg& p, const run_info& info) {
      detail::require_at_least("fda::fedavg: local_epochs", p.local_epochs, 1);
      if (info.steps_per_epoch == 0)
        detail::fail("fda::fedavg: steps_per_epoch = 0 is invalid: FedAvg's round is measured "
                     "in epochs, so the run must say how many steps an epoch has");
      return p.local_epochs * info.steps_per_epoch;
    }
  };
};

}  // namespace fda
