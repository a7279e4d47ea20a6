// SPDX-License-Identifier: Apache-2.0
#pragma once
/// splitmix64: the seeded random words of fda (LinearFDA's first-round ξ, the sketch's
/// tabulation tables, detail/tabulation_hash.hpp).
#include <cstdint>

namespace fda::detail {

/// splitmix64: turns one seed into a stream of well-mixed 64-bit words. The k-th call
/// (k = 1, 2, ...) returns mix(seed + k · 0x9e3779b97f4a7c15) for the initial state seed,
/// so any word of the stream can also be computed on its own.
constexpr std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace fda::detail
