// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The monitor of the classic schedules (synchronous, periodic, FedAvg): a round has a
/// fixed number of steps; nothing is monitored, nothing is sent between syncs.
#include <limits>
#include <span>

#include "policy.hpp"

namespace fda::detail {

class schedule_monitor {
 public:
  schedule_monitor(const char* where, const run_info& info, std::size_t round_steps)
      : round_steps_(round_steps) {
    validate(where, info);
  }

  std::size_t state_size() const { return 0; }
  std::size_t state_bytes() const { return 0; }
  const char* field_name(std::size_t) const { return "none"; }
  double theta() const { return std::numeric_limits<double>::quiet_NaN(); }
  bool checks_at(std::size_t) const { return false; }
  template <class W, class W0>
  void local_state(const W&, const W0&, std::span<double>) const {}
  decision decide(std::span<const double>, std::size_t steps_in_round) const {
    return {steps_in_round >= round_steps_, std::numeric_limits<double>::quiet_NaN()};
  }
  template <class X, class Xp>
  void on_sync(const X&, const Xp&, const sync_info&) {}
  std::size_t round_steps() const { return round_steps_; }

 private:
  std::size_t round_steps_;
};

}  // namespace fda::detail
