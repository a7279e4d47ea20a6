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

inline bool is_raised_everywhere(const std::exception& e) {
  return dynamic_cast<const raised_everywhere*>(&e) != nullptr;
}

/// Throws unless `value` is finite and >= 0; `where` names the field ("fda::linear_fda: theta").
inline void require_non_negative(const char* where, double value) {
  if (!(std::isfinite(value) && value >= 0.0))
    fail(where, " = ", value, " is invalid: it must be a finite number >= 0");
}

inline void require_positive(const char* where, double value) {
  if (!(std::isfinite(value) && value > 0.0))
    fail(where, " = ", value, " is invalid: it must be a finite number > 0");
}

inline void require_at_least(const char* where, std::size_t value, std::size_t least) {
  if (value < least) fail(where, " = ", value, " is invalid: it must be >= ", least);
}

}  // namespace detail
}  // namespace fda
