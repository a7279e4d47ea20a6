// SPDX-License-Identifier: Apache-2.0
#pragma once
// Helpers shared by the tests: seeded random vectors and brute-force references.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace fda_test {

/// Gaussian values scaled by 10^U(-e, e): magnitudes spread over 2e decades.
template <class T = float>
std::vector<T> mixed_magnitude(std::size_t n, std::uint64_t seed, double decades = 4.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss;
  std::uniform_real_distribution<double> exponent(-decades, decades);
  std::vector<T> v(n);
  for (auto& x : v) x = T(gauss(rng) * std::pow(10.0, exponent(rng)));
  return v;
}

template <class T = float>
std::vector<T> gaussian(std::size_t n, std::uint64_t seed, double sigma = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss(0.0, sigma);
  std::vector<T> v(n);
  for (auto& x : v) x = T(gauss(rng));
  return v;
}

/// Cuts v into pieces of pseudo-random lengths (some empty) that concatenate to v.
template <class T>
std::vector<std::vector<T>> cut(const std::vector<T>& v, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<T>> parts;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t len = std::min<std::size_t>(v.size() - i, rng() % 1000);
    parts.emplace_back(v.begin() + long(i), v.begin() + long(i + len));
    i += len;
  }
  return parts;
}

inline double rel_error(long double got, long double want, long double scale) {
  return double(std::fabs(got - want) / scale);
}

}  // namespace fda_test
