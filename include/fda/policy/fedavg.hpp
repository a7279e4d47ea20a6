// SPDX-License-Identifier: Apache-2.0
#pragma once
/// FedAvg's schedule: a sync every E local epochs (E · steps_per_epoch local steps), with
/// all the clients or (McMahan et al.'s C) a sampled fraction of them in each round.
/// The aggregation (plain mean, or a server optimizer for FedOpt) is chosen separately.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string_view>
#include <vector>

#include "../detail/splitmix.hpp"
#include "schedule.hpp"

namespace fda {

/// FedAvg's schedule: rounds of E · steps_per_epoch local steps, E = `local_epochs`; no
/// local state. With fda::mean this is FedAvg, with a server optimizer FedOpt.
///
/// Client sampling: with `fraction` C < 1, each round's average takes m = max(1, ⌊C·K⌋)
/// clients drawn uniformly without replacement (a partial Fisher–Yates shuffle seeded by
/// the run's seed and the round's number: the same on every worker and after a resume),
/// and the cost model counts m uploads and m downloads per sync. In this simulation the
/// other clients still step during the round (their work is discarded at the sync, where
/// every client takes the new global model), so they draw batches a real idle client would
/// not: the global models follow McMahan's algorithm, the clients' batch sequences differ.
struct fedavg {
  static constexpr std::string_view name = "fedavg";  ///< the policy's name in logs and errors
  std::size_t local_epochs = 1;  ///< E
  double fraction = 1.0;         ///< C, the fraction of clients averaged per round, in (0, 1]

  /// The monitor of a run with T parameters in any memory space Space (it reads no
  /// parameter): a schedule of rounds of E epochs, and each round's sample of clients.
  template <class T, class Space = host_space>
  struct monitor : detail::schedule_monitor {
    /// Throws fda::invalid_argument for local_epochs = 0, fraction outside (0, 1],
    /// steps_per_epoch = 0 or an invalid `info`.
    monitor(const fedavg& p, const run_info& info)
        : schedule_monitor(name.data(), info, round_steps(p, info)),
          seed_(info.seed),
          sampled_(clients(p, info)),
          takes_part_(info.workers, 1) {}

    /// True when only a sample of the clients takes part in each round (fraction < 1).
    bool samples_clients() const { return sampled_ < takes_part_.size(); }
    /// m, the clients averaged at each sync.
    std::size_t clients_per_round() const { return sampled_; }
    /// Draws the clients of the round that ends at sync number `sync` (1, 2, ...); called
    /// once per replica, before that sync's average.
    void choose_clients(std::size_t sync) {
      if (!samples_clients()) return;
      std::vector<std::size_t> order(takes_part_.size());
      std::iota(order.begin(), order.end(), std::size_t(0));
      std::uint64_t state = seed_ ^ (std::uint64_t(sync) * 0xd1b54a32d192ed03ULL);
      for (std::size_t i = 0; i < sampled_; ++i) {  // partial Fisher–Yates: order[0, m) is the sample
        const std::size_t j = i + std::size_t(detail::splitmix64(state) % (order.size() - i));
        std::swap(order[i], order[j]);
      }
      std::fill(takes_part_.begin(), takes_part_.end(), 0);
      for (std::size_t i = 0; i < sampled_; ++i) takes_part_[order[i]] = 1;
    }
    /// True when client `rank` is averaged at the sync choose_clients prepared.
    bool takes_part(std::size_t rank) const { return takes_part_[rank] != 0; }

   private:
    static std::size_t clients(const fedavg& p, const run_info& info) {
      if (!(p.fraction > 0.0 && p.fraction <= 1.0))
        detail::fail("fda::fedavg: fraction = ", p.fraction, " is invalid: the fraction of clients per round must "
                     "be in (0, 1]");
      const auto m = std::size_t(std::floor(p.fraction * double(info.workers)));
      return std::clamp<std::size_t>(m, 1, std::max<std::size_t>(info.workers, 1));
    }

    static std::size_t round_steps(const fedavg& p, const run_info& info) {
      detail::require_at_least("fda::fedavg: local_epochs", p.local_epochs, 1);
      if (info.steps_per_epoch == 0)
        detail::fail("fda::fedavg: steps_per_epoch = 0 is invalid: FedAvg's round is measured "
                     "in epochs, so the run must say how many steps an epoch has");
      return p.local_epochs * info.steps_per_epoch;
    }

    std::uint64_t seed_;
    std::size_t sampled_;
    std::vector<unsigned char> takes_part_;  // of the coming sync, by rank
  };
};

}  // namespace fda
