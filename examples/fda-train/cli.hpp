// SPDX-License-Identifier: Apache-2.0
#pragma once
// What fda's command-line tools (fda-train, fda-bench, fda-hub, fda-keys) share: the policies by name, comma
// lists, and the check of every numeric option.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <fda/policy.hpp>

namespace fda_train {

inline const std::vector<std::string> policy_names{"synchronous", "periodic", "fedavg", "naive",        "linear",
                                                   "sketch",      "sketch-tiled", "exact", "max-drift"};

/// The names as "a, b, c", for help texts and messages.
inline std::string one_of(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

/// Parses the command line; the status to exit with when the program stops here: 0 after
/// --help, 2 after a bad value (printed as "<program>: <message>"); nothing to go on.
inline std::optional<int> parse_or_exit(CLI::App& app, int argc, char** argv, const char* program) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  }
  return std::nullopt;
}

/// "a,b,c" as {"a", "b", "c"} (empty pieces dropped).
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from <= text.size()) {
    const std::size_t comma = std::min(text.find(',', from), text.size());
    if (comma > from) out.push_back(text.substr(from, comma - from));
    from = comma + 1;
  }
  return out;
}

/// A check of a comma list ("0.5,2,adaptive"): every entry must pass `one` (which may
/// rewrite it, as number() does), the list must name at least one `what` and no entry
/// twice; the text is rewritten to the checked entries joined by commas.
inline CLI::Validator list_of(const CLI::Validator& one, const std::string& what) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        std::vector<std::string> entries;
        std::string joined;
        for (std::string entry : split_list(text)) {
          if (std::string error = one(entry); !error.empty()) return error;
          if (std::find(entries.begin(), entries.end(), entry) != entries.end())
            return "'" + entry + "' is given twice";
          joined += (entries.empty() ? "" : ",") + entry;
          entries.push_back(entry);
        }
        if (entries.empty()) return "names no " + what;
        text = joined;
        return {};
      },
      one.get_description() + "[,...]");
}

/// True when the policy named `name` (one of policy_names) has a threshold Θ: the FDA
/// policies and max-drift; synchronous, periodic and fedavg have none.
inline bool takes_theta(const std::string& name) {
  return name != "synchronous" && name != "periodic" && name != "fedavg";
}

/// How the policies named on a command line are configured.
struct policy_settings {
  fda::threshold theta;         ///< the FDA policies' Θ
  std::size_t every = 10;       ///< periodic: steps per round
  std::size_t local_epochs = 1; ///< fedavg: epochs per round
  double fraction = 1.0;        ///< fedavg: the fraction C of clients averaged per round
};

/// Calls f with the policy named `name` (one of policy_names), configured from `s`.
template <class F>
auto with_policy(const std::string& name, const policy_settings& s, F f) {
  if (name == "synchronous") return f(fda::synchronous{});
  if (name == "periodic") return f(fda::periodic{.every = s.every});
  if (name == "fedavg") return f(fda::fedavg{.local_epochs = s.local_epochs, .fraction = s.fraction});
  if (name == "naive") return f(fda::naive_fda{.theta = s.theta});
  if (name == "linear") return f(fda::linear_fda{.theta = s.theta});
  if (name == "sketch") return f(fda::sketch_fda{.theta = s.theta});
  if (name == "sketch-tiled") return f(fda::sketch_fda{.theta = s.theta, .sketch = fda::sketch_kind::tiled});
  if (name == "exact") return f(fda::exact_variance{.theta = s.theta});
  return f(fda::max_drift{.theta = s.theta});
}

/// The check of every numeric option: the text must be one decimal number of type T, the
/// whole of it (std::from_chars: no sign on a whole number, no "0x", no spaces), in
/// [lo, hi], with lo excluded where `open_lo` and hi where `open_hi`. CLI11 2.1's own
/// checks fall short: Range and PositiveNumber let NaN through (every comparison with NaN
/// is false), and its whole-number conversion reads "-1" as 2^64 - 1, saturates an
/// overflow and reads "010" as octal 8. No option means anything infinite, so ±Inf is
/// refused too. The text is rewritten to its canonical decimal, so what CLI11 converts
/// next is the value checked (hence ->transform: ->check hands a validator a copy).
/// CLI11 puts the option's name before the message.
template <class T>
CLI::Validator number(T lo, T hi = std::numeric_limits<T>::max(), bool open_lo = false, bool open_hi = false) {
  const auto text_of = [](T v) {
    char buf[32];
    return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  };
  const std::string bounds = hi == std::numeric_limits<T>::max() && !open_hi
                                 ? (open_lo ? "> " : ">= ") + text_of(lo)
                                 : (open_lo ? "(" : "[") + text_of(lo) + ", " + text_of(hi) + (open_hi ? ")" : "]");
  const std::string what = std::is_floating_point_v<T> ? "a finite number " : "a whole number ";
  const std::string range = what + (bounds[0] == '>' ? "" : "in ") + bounds;
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        T v{};
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        bool ok = ec == std::errc{} && end == text.data() + text.size() && (open_lo ? v > lo : v >= lo) &&
                  (open_hi ? v < hi : v <= hi);  // NaN fails both comparisons
        if constexpr (std::is_floating_point_v<T>) ok = ok && std::isfinite(v);
        if (!ok) return "must be " + range + ", not '" + text + "'";
        text = text_of(v);
        return {};
      },
      bounds);  // --help: "FLOAT:> 0", "UINT:[1, 4096]"
}

}  // namespace fda_train
