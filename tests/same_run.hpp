// SPDX-License-Identifier: Apache-2.0
#pragma once
// Two fda::train results that must be the same run bit for bit: counters, cost-model bytes,
// the sync log, Θ, both models and the notes (transports, pools, resumed runs).
#include <catch2/catch.hpp>

#include <cmath>

#include <fda/options.hpp>

namespace fda_test {

/// a == b, or both NaN (an adaptive Θ before its calibration).
inline bool same_or_both_nan(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

inline void require_same_run(const fda::result& a, const fda::result& b) {
  REQUIRE(a.steps == b.steps);
  REQUIRE(a.syncs == b.syncs);
  CHECK(a.checks == b.checks);
  CHECK(a.monitor_bytes == b.monitor_bytes);
  CHECK(a.sync_bytes == b.sync_bytes);
  for (std::size_t s = 0; s < a.syncs; ++s) {
    CHECK(a.sync_log[s].step == b.sync_log[s].step);
    CHECK(same_or_both_nan(a.sync_log[s].estimate, b.sync_log[s].estimate));
    CHECK(a.sync_log[s].variance == b.sync_log[s].variance);
    CHECK(same_or_both_nan(a.sync_log[s].theta, b.sync_log[s].theta));
  }
  CHECK(same_or_both_nan(a.final_theta, b.final_theta));
  CHECK(a.model == b.model);  // bit for bit
  CHECK(a.global_model == b.global_model);
  CHECK(a.notes == b.notes);
}

}  // namespace fda_test
