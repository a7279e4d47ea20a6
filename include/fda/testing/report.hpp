// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda::testing::report: what a conformance check found (<fda/testing.hpp>).
///
/// A report lists the checks that ran, the ones that failed (each with the subject
/// checked, what was measured and what was expected), and notes on checks that were
/// skipped and why. It depends on no test framework:
///
///   const fda::testing::report r = fda::testing::check_policy(my_policy{});
///   std::cout << r;                 // or r.summary()
///   REQUIRE(r.passed());            // Catch2, GoogleTest's EXPECT_TRUE, assert, ...
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace fda::testing {

/// One failed check: which check, on what, and the measured against the expected value.
struct failure {
  std::string check;     ///< the check's name ("bytes", "convergence", "all_reduce_sum", ...)
  std::string subject;   ///< what was checked: the policy, aggregator or transport
  std::string measured;  ///< what the check measured
  std::string expected;  ///< what it should have been
  std::string where;     ///< where it was seen (a rank, a run, an element); may be empty
};

/// A number as text: integers as they are, doubles in their shortest round-trip form
/// (0.1, 1e-05, inf, nan), so that a report shows the bits that differ.
template <class V>
std::string to_text(V value) {
  if constexpr (std::is_same_v<V, bool>) {
    return value ? "true" : "false";
  } else if constexpr (std::is_integral_v<V>) {
    return std::to_string(value);
  } else {
    if (std::isnan(double(value))) return "nan";
    char buf[40];
    const auto end = std::to_chars(buf, buf + sizeof buf, double(value)).ptr;
    return std::string(buf, end);
  }
}

/// What a conformance check found (see the header comment).
class report {
 public:
  /// An empty report about `subject` (the policy, aggregator or transport checked).
  explicit report(std::string subject = {}) : subject_(std::move(subject)) {}

  /// What was checked.
  const std::string& subject() const { return subject_; }
  /// Every failed check, in the order found.
  const std::vector<failure>& failures() const { return failures_; }
  /// The names of the checks that ran, passed or not, in order.
  const std::vector<std::string>& checks() const { return checks_; }
  /// Checks skipped and why, and what a check wants the reader to know.
  const std::vector<std::string>& notes() const { return notes_; }
  /// What the main checks measured, passed or not ("convergence: relative error 0.01 ..."),
  /// so that a summary shows the margins.
  const std::vector<std::string>& measurements() const { return measurements_; }

  /// True when no check failed.
  bool passed() const { return failures_.empty(); }
  /// True when the check named `check` failed at least once.
  bool failed(std::string_view check) const {
    return std::any_of(failures_.begin(), failures_.end(), [&](const failure& f) { return f.check == check; });
  }
  /// True when the check named `check` ran.
  bool ran(std::string_view check) const { return std::find(checks_.begin(), checks_.end(), check) != checks_.end(); }

  /// Records that the check `check` ran (once per name).
  void ran_check(std::string_view check) {
    if (!ran(check)) checks_.emplace_back(check);
  }
  /// Records a failure of `check` (which thereby ran).
  void fail(std::string_view check, std::string measured, std::string expected, std::string where = {}) {
    ran_check(check);
    failures_.push_back({std::string(check), subject_, std::move(measured), std::move(expected), std::move(where)});
  }
  /// Records that `check` ran, and a failure unless `ok`; returns ok.
  bool expect(bool ok, std::string_view check, std::string measured, std::string expected, std::string where = {}) {
    ran_check(check);
    if (!ok) fail(check, std::move(measured), std::move(expected), std::move(where));
    return ok;
  }
  /// Adds a note (a check skipped, and why).
  void note(std::string text) { notes_.push_back(std::move(text)); }
  /// Records what `check` measured (shown by summary(), whether it passed or not).
  void measured(std::string_view check, const std::string& text) {
    measurements_.push_back(std::string(check) + ": " + text);
  }
  /// Appends another report's checks, failures and notes (their subjects are kept).
  void merge(const report& other) {
    for (const auto& c : other.checks_) ran_check(c);
    failures_.insert(failures_.end(), other.failures_.begin(), other.failures_.end());
    notes_.insert(notes_.end(), other.notes_.begin(), other.notes_.end());
    measurements_.insert(measurements_.end(), other.measurements_.begin(), other.measurements_.end());
  }

  /// A printable summary: one line for the verdict, one per failure, measurement and note.
  std::string summary() const {
    std::string s = "fda::testing: " + subject_ + ": ";
    s += passed() ? "passed " + std::to_string(checks_.size()) + " checks ("
                  : "FAILED " + std::to_string(failures_.size()) + " time(s) in " + std::to_string(checks_.size()) +
                        " checks (";
    for (std::size_t i = 0; i < checks_.size(); ++i) s += (i ? ", " : "") + checks_[i];
    s += ")\n";
    for (const auto& f : failures_) {
      s += "  FAILED " + f.check + " [" + f.subject + "]" + (f.where.empty() ? "" : " " + f.where) + ": measured " +
           f.measured + ", expected " + f.expected + "\n";
    }
    for (const auto& m : measurements_) s += "  measured " + m + "\n";
    for (const auto& n : notes_) s += "  note: " + n + "\n";
    return s;
  }

 private:
  std::string subject_;
  std::vector<std::string> checks_;
  std::vector<failure> failures_;
  std::vector<std::string> notes_;
  std::vector<std::string> measurements_;
};

/// Prints r.summary().
inline std::ostream& operator<<(std::ostream& out, const report& r) { return out << r.summary(); }

}  // namespace fda::testing
