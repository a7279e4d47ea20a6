#pragma once
/// Synchronous training: model averaging after every local step.
#include <string_view>

#include "schedule.hpp"

namespace fda {

struct synchronous {
  static constexpr std::string_view name = "synchronous";

  template <class T>
  struct monitor : detail::schedule_monitor {
    monitor(const synchronous&, const run_info& info)
        : schedule_monitor(name.data(), info, 1) {}
  };
};

}  // namespace fda
