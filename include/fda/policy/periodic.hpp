// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Periodic averaging (Local SGD): a sync every `every` local steps.
#include <string_view>

#include "schedule.hpp"

namespace fda {

/// Periodic averaging (Local SGD): rounds of exactly τ = `every` local steps; no local state.
struct periodic {
  static constexpr std::string_view name = "periodic";  ///< the policy's name in logs and errors
  std::size_t every = 1;  ///< τ, local steps per round

  /// The monitor of a run with T parameters in any memory space Space (it reads no
  /// parameter): a schedule of rounds of τ steps.
  template <class T, class Space = host_space>
  struct monitor : detail::schedule_monitor {
    /// Throws fda::invalid_argument for every = 0 or an invalid `info`.
    monitor(const periodic& p, const run_info& info)
        : schedule_monitor(name.data(), info, checked(p.every)) {}

   private:
    static std::size_t checked(std::size_t every) {
      detail::require_at_least("fda::periodic: every", every, 1);
      return every;
    }
  };
};

}  // namespace fda
