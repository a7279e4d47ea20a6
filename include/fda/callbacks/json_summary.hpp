// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A run's outcome as one JSON object on one line (JSON Lines: several runs may append
/// to the same file), for scripts that compare policies.
#include <charconv>
#include <cmath>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "callback.hpp"

namespace fda {

/// JSON has no NaN or infinity: those become null. Finite values use the shortest text
/// that reads back as the same double.
inline std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
}

/// A quoted JSON string: quotes, backslashes and control characters escaped (RFC 8259);
/// other bytes, UTF-8 included, pass through.
inline std::string json_string(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out += hex[u >> 4];
          out += hex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

namespace detail {
using fda::json_number;
using fda::json_string;
}  // namespace detail

/// Writes the summary at on_end; every non-finite number is null.
class json_summary {
 public:
  /// Writes to `out` (kept by reference: it must outlive the run) under the name `label`.
  json_summary(std::ostream& out, std::string label) : out_(&out), label_(std::move(label)) {}

  /// {"label":..,"steps":..,...,"faults":n,"notes":[..],"sync_log":[{"step":..,"estimate":..,"variance":..,"theta":..}]}
  /// Built as a string first, so a locale imbued in `out` cannot group digits.
  void on_end(const result& r) {
    using detail::json_number;
    using std::to_string;
    std::string o = "{\"label\":" + detail::json_string(label_);
    o += ",\"steps\":" + to_string(r.steps) + ",\"syncs\":" + to_string(r.syncs);
    o += ",\"checks\":" + to_string(r.checks);
    o += ",\"monitor_bytes\":" + to_string(r.monitor_bytes);
    o += ",\"sync_bytes\":" + to_string(r.sync_bytes);
    o += ",\"total_bytes\":" + to_string(r.total_bytes());
    o += ",\"wall_seconds\":" + json_number(r.wall_seconds);
    o += ",\"final_theta\":" + json_number(r.final_theta);
    o += ",\"stopped_by_callback\":" + std::string(r.stopped_by_callback ? "true" : "false");
    o += ",\"faults\":" + to_string(r.faults.size()) + ",\"notes\":[";
    for (std::size_t i = 0; i < r.notes.size(); ++i) o += (i ? "," : "") + detail::json_string(r.notes[i]);
    o += "]";
    o += ",\"sync_log\":[";
    for (std::size_t i = 0; i < r.sync_log.size(); ++i) {
      const sync_record& s = r.sync_log[i];
      o += (i ? ",{\"step\":" : "{\"step\":") + to_string(s.step);
      o += ",\"estimate\":" + json_number(s.estimate) + ",\"variance\":" + json_number(s.variance);
      o += ",\"theta\":" + json_number(s.theta) + "}";
    }
    *out_ << o << "]}\n" << std::flush;
  }

 private:
  std::ostream* out_;
  std::string label_;
};

}  // namespace fda
