// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Errors raised by fda. Every message names the function or field and the offending
/// value, so a user can fix the call without a debugger.
#include <cmath>
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace fda {

/// A call was made with arguments that cannot be right (sizes, shapes, thresholds).
struct invalid_argument : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// A number that must be finite was NaN or infinite (parameters, local states).
struct numeric_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A transport failed: a peer or the coordinator is gone, refused this worker, or broke the
/// protocol (the ZeroMQ transport: the hub lost, a worker lost under --on-worker-loss fail).
struct transport_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {

template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  out.precision(17);
  (out << ... << parts);
  return out.str();
}

template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  throw invalid_argument(concat(parts...));
}

/// Tags an error that every worker raises at the same point with the same message, because
/// a collective told them all (sizes that differ, a bad local state, a non-finite average):
/// a transport that cannot interrupt its peers (MPI) need not abort them for it.
struct raised_everywhere {};
template <class Error>
struct everywhere : Error, raised_everywhere {
  using Error::Error;
};

}  // namespace detail

/// True for an error that every worker raised alike, at the same point, because a collective
/// told them all: an MPI program need not abort the other ranks for it (they raise it too).
inline bool is_raised_everywhere(const std::exception& e) {
  return dynamic_cast<const detail::raised_everywhere*>(&e) != nullptr;
}

// Checks of a setting, for fda's own types and for plug-ins (a policy, an aggregator, an
// optimizer): each throws fda::invalid_argument naming the field and the value. `where`
// names the field ("fda::fedadam: lr").

/// Throws unless `value` is finite and >= 0.
inline void require_non_negative(const char* where, double value) {
  if (!(std::isfinite(value) && value >= 0.0))
    detail::fail(where, " = ", value, " is invalid: it must be a finite number >= 0");
}

/// Throws unless `value` is finite and > 0.
inline void require_positive(const char* where, double value) {
  if (!(std::isfinite(value) && value > 0.0))
    detail::fail(where, " = ", value, " is invalid: it must be a finite number > 0");
}

/// Throws unless 0 <= value < 1 (momentum and decay rates); NaN and ±Inf fail too.
inline void require_fraction(const char* where, double value) {
  if (!(std::isfinite(value) && value >= 0.0 && value < 1.0))
    detail::fail(where, " = ", value, " is invalid: it must be in [0, 1)");
}

/// Throws unless `value` >= `least`.
inline void require_at_least(const char* where, std::size_t value, std::size_t least) {
  if (value < least) detail::fail(where, " = ", value, " is invalid: it must be >= ", least);
}

namespace detail {
using fda::is_raised_everywhere;
using fda::require_at_least;
using fda::require_fraction;
using fda::require_non_negative;
using fda::require_positive;
}  // namespace detail

}  // namespace fda
