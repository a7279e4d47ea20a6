// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A progress display: one line redrawn in place on a terminal, or a plain line at every
/// tenth of the run when the output is a file or a pipe (so logs stay short and readable).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <ostream>
#include <string>
#include <utility>

#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

#include "callback.hpp"

namespace fda {
namespace detail {

/// `value` as printf's %.{precision}f or %.{precision}g would print it, without printf.
inline std::string format_double(double value, std::chars_format fmt, int precision) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value, fmt, precision);
  return r.ec == std::errc{} ? std::string(buf, r.ptr) : std::string("?");
}

/// Seconds as m:ss or h:mm:ss; "--:--" when unknown.
inline std::string clock_time(double seconds) {
  if (!(seconds >= 0 && seconds < 1e9)) return "--:--";
  const auto s = static_cast<std::uint64_t>(std::llround(seconds));
  auto two = [](std::uint64_t n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  if (s >= 3600) return std::to_string(s / 3600) + ":" + two(s / 60 % 60) + ":" + two(s % 60);
  return std::to_string(s / 60) + ":" + two(s % 60);
}

inline bool stderr_is_terminal() {
#if __has_include(<unistd.h>)
  return ::isatty(2) != 0;
#else
  return false;  // no way to tell: plain lines are safe everywhere
#endif
}

}  // namespace detail

/// Bytes in decimal units (1 KB = 1000 B, as network traffic is usually counted), with
/// 3 significant digits: 1536 -> "1.54 KB", 999 -> "999 B", 2.5e9 -> "2.50 GB".
inline std::string human_bytes(std::uint64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  static constexpr const char* units[] = {"KB", "MB", "GB"};
  double v = double(bytes) / 1000.0;
  std::size_t u = 0;
  for (; v >= 999.5 && u + 1 < std::size(units); ++u) v /= 1000.0;  // 999.5 KB rounds to 1.00 MB
  const int decimals = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
  return detail::format_double(v, std::chars_format::fixed, decimals) + " " + units[u];
}

namespace detail {
using fda::human_bytes;
}  // namespace detail

/// Shows: label, bar, step/total, percent, syncs, bytes on the wire (monitoring + sync),
/// Θ when finite, elapsed time and ETA.
class progress_bar {
 public:
  /// automatic: terminal when writing to stderr and stderr is a TTY, lines otherwise.
  enum class style { automatic, terminal, lines };

  /// A bar named `label` (e.g. the policy) drawn on `out`.
  explicit progress_bar(std::string label = {}, std::ostream& out = std::cerr,
                        style s = style::automatic)
      : out_(&out), label_(std::move(label)), style_(resolve(s, out)) {}

  /// The style in use (never automatic: it is resolved at construction).
  style output_style() const { return style_; }

  /// A new run starts from a clean slate (the same bar may serve several runs).
  void on_begin(const run_info&) {
    last_ = {};
    pending_ = false;
    printed_tenth_ = drawn_width_ = 0;
    last_draw_ = {};
  }

  /// Redraws (terminal: at most ~10 times a second) or prints a line at every 10%.
  void on_step(const step_info& info) {
    last_ = info;
    pending_ = true;
    const bool last_step = info.total_steps && info.step >= info.total_steps;
    if (style_ == style::terminal) {
      // Redrawing costs terminal I/O: at most ~10 times a second, and always at the end.
      const auto now = std::chrono::steady_clock::now();
      if (last_step || now - last_draw_ >= std::chrono::milliseconds(100)) {
        last_draw_ = now;
        draw();
      }
    } else {
      const std::size_t tenth = info.total_steps ? info.step * 10 / info.total_steps : 0;
      if (tenth > printed_tenth_) {
        printed_tenth_ = tenth;
        draw();
      }
    }
  }

  /// Shows the last step if it was skipped (a run stopped early), then ends the line.
  void on_end(const result&) {
    if (pending_) draw();
    if (style_ == style::terminal && drawn_width_) *out_ << '\n' << std::flush;
    drawn_width_ = 0;
  }

 private:
  static style resolve(style s, const std::ostream& out) {
    if (s != style::automatic) return s;
    const bool to_stderr = &out == &std::cerr || &out == &std::clog;
    return to_stderr && detail::stderr_is_terminal() ? style::terminal : style::lines;
  }

  /// "label [#####.....] 450/1000  45%  syncs 12  1.54 MB  Θ 0.5  0:12 eta 0:15"
  std::string describe(const step_info& i) const {
    std::string s = label_.empty() ? std::string() : label_ + "  ";
    if (i.total_steps) {
      const std::size_t done = std::min(i.step, i.total_steps);  // integers: 29% is not 28.99..%
      if (style_ == style::terminal) {
        const std::size_t filled = done * bar_width / i.total_steps;
        s += "[" + std::string(filled, '#') + std::string(bar_width - filled, '.') + "]  ";
      }
      s += std::to_string(i.step) + "/" + std::to_string(i.total_steps) + "  " +
           std::to_string(done * 100 / i.total_steps) + "%";
    } else {
      s += "step " + std::to_string(i.step);
    }
    s += "  syncs " + std::to_string(i.syncs) + "  " +
         detail::human_bytes(i.monitor_bytes + i.sync_bytes);
    if (std::isfinite(i.theta))
      s += "  Θ " + detail::format_double(i.theta, std::chars_format::general, 3);
    s += "  " + detail::clock_time(i.wall_seconds);
    if (i.total_steps && i.step && i.step < i.total_steps)
      s += " eta " +
           detail::clock_time(i.wall_seconds * double(i.total_steps - i.step) / double(i.step));
    return s;
  }

  void draw() {
    std::string line = describe(last_);
    pending_ = false;
    if (style_ == style::lines) {
      *out_ << line << '\n' << std::flush;
      return;
    }
    const std::size_t width = line.size();
    if (width < drawn_width_) line.append(drawn_width_ - width, ' ');  // wipe the longer old line
    drawn_width_ = width;
    *out_ << '\r' << line << std::flush;
  }

  static constexpr std::size_t bar_width = 20;

  std::ostream* out_;
  std::string label_;
  style style_;
  step_info last_{};
  bool pending_ = false;           ///< last_ has not been shown
  std::size_t printed_tenth_ = 0;  ///< lines style: tenths of the run already printed
  std::size_t drawn_width_ = 0;    ///< terminal style: length of the line on screen
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace fda
