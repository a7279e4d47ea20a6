#pragma once
/// 4-wise independent hashing of parameter indices, walked by finite differences.
///
/// h(x) = a3·x³ + a2·x² + a1·x + a0 mod p, p = 2^61 - 1, with random a0..a3: the textbook
/// 4-wise independent family. The sketch hashes consecutive indices, so instead of four
/// multiplications per index it advances by finite differences of the cubic:
///   h(x+1) = h(x) + D1(x),  D1(x+1) = D1(x) + D2(x),  D2(x+1) = D2(x) + D3,  D3 = 6·a3,
/// three modular additions per index and no table. Only the start of a run of indices
/// pays for a full evaluation.
#include <array>
#include <cstdint>

namespace fda::detail {

inline constexpr std::uint64_t mersenne61 = (std::uint64_t{1} << 61) - 1;

/// a + b mod p, for a, b < p.
constexpr std::uint64_t add_mod(std::uint64_t a, std::uint64_t b) {
  const std::uint64_t s = a + b;  // < 2^62: no overflow
  return s >= mersenne61 ? s - mersenne61 : s;
}

constexpr std::uint64_t sub_mod(std::uint64_t a, std::uint64_t b) {
  return a >= b ? a - b : a + mersenne61 - b;
}

/// a · b mod p, for a, b < p (Mersenne folding of the 122-bit product).
constexpr std::uint64_t mul_mod(std::uint64_t a, std::uint64_t b) {
  __extension__ using u128 = unsigned __int128;
  const u128 prod = u128(a) * b;
  const std::uint64_t folded = std::uint64_t(prod & mersenne61) + std::uint64_t(prod >> 61);
  return folded >= mersenne61 ? folded - mersenne61 : folded;
}

/// splitmix64: turns one seed into a stream of well-mixed 64-bit words.
constexpr std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// One member of the cubic family, drawn from `state`.
struct cubic_hash {
  std::array<std::uint64_t, 4> a{};  // a[k] multiplies x^k

  static cubic_hash draw(std::uint64_t& state) {
    cubic_hash h;
    for (auto& c : h.a) {
      do c = splitmix64(state) >> 3;  // 61 bits, uniform on [0, p) after rejection
      while (c >= mersenne61);
    }
    return h;
  }

  constexpr std::uint64_t operator()(std::uint64_t x) const {
    x %= mersenne61;
    return add_mod(mul_mod(add_mod(mul_mod(add_mod(mul_mod(a[3], x), a[2]), x), a[1]), x), a[0]);
  }
};

/// h(x), h(x+1), ... for a cubic h, three modular additions per step.
class cubic_walk {
 public:
  constexpr cubic_walk(const cubic_hash& h, std::uint64_t x) {
    const std::uint64_t e0 = h(x), e1 = h(x + 1), e2 = h(x + 2), e3 = h(x + 3);
    value_ = e0;
    d1_ = sub_mod(e1, e0);
    d2_ = sub_mod(add_mod(e2, e0), add_mod(e1, e1));                       // e2 - 2e1 + e0
    d3_ = sub_mod(add_mod(e3, mul_mod(3, e1)), add_mod(mul_mod(3, e2), e0));  // e3 - 3e2 + 3e1 - e0
  }
  constexpr std::uint64_t value() const { return value_; }
  constexpr void next() {
    value_ = add_mod(value_, d1_);
    d1_ = add_mod(d1_, d2_);
    d2_ = add_mod(d2_, d3_);
  }

 private:
  std::uint64_t value_, d1_, d2_, d3_;
};

/// Bucket in [0, width) from the high 32 of the hash's 61 bits (multiply-shift, no division).
constexpr std::uint32_t bucket_of(std::uint64_t h, std::uint32_t width) {
  return std::uint32_t(((h >> 29) * width) >> 32);
}

/// Sign from the lowest bit: 0 → +1, 1 → -1, as a mask for the sign bit of a double.
constexpr std::uint64_t sign_mask_of(std::uint64_t h) { return (h & 1) << 63; }

}  // namespace fda::detail
