// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Synchronous training: model averaging after every local step.
#include <string_view>

#include "schedule.hpp"

namespace fda {

/// Synchronous averaging: a sync after every local step (rounds of one step); no local state.
struct synchronous {
  static constexpr std::string_view name = "synchronous";  ///< the policy's name in logs and errors

  /// The monitor of a run with T parameters in any memory space Space (it reads no
  /// parameter): a schedule of rounds of 1 step.
  template <class T, class Space = host_space>
  struct monitor : detail::schedule_monitor {
    /// Validates `info` (fda::invalid_argument on K = 0, d = 0 or check_every = 0).
    monitor(const synchronous&, const run_info& info)
        : schedule_monitor(name.data(), info, 1) {}
  };
};

}  // namespace fda
