#pragma once
/// Periodic averaging (Local SGD): a sync every `every` local steps.
#include <string_view>

#include "schedule.hpp"

namespace fda {

struct periodic {
  static constexpr std::string_view name = "periodic";
  std::size_t every = 1;  ///< τ, local steps per round

  template <class T>
  struct monitor : detail::schedule_monitor {
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
