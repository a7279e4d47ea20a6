// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Thorup–Zhang tabulation hashing of parameter indices, for the AMS sketch.
///
/// An index i is split into two characters, a = i mod 2^12 (low) and b = i >> 12 (high):
///
///     h(i) = T0[a] ⊕ T1[b] ⊕ T2[a + b]
///
/// With truly random tables this family is 4-wise (in fact 5-wise) independent on the
/// domain [U]², U = max(2^12, number of high characters) (Thorup & Zhang, "Tabulation-based
/// 5-independent hashing with applications to linear probing and second moment
/// estimation", SIAM J. Comput. 41(2), 2012: the derived character a + b is added as an
/// integer, T2 has 2U - 1 entries). Independence on [U]² holds on every subset of it, so
/// the unequal ranges of the two characters (4096 low values, ceil(d / 4096) high ones)
/// are fine.
///
/// Entries are 64-bit words, the k-th output of splitmix64 started at a state drawn from
/// the seed, k = (word, table, character): any entry can be computed on its own, so the
/// tables of a longer index range extend those of a shorter one, and `word(w, i)` evaluates
/// the definition directly (the tests compare it with the tables). Each word serves two
/// sketch rows (its low and its high 32 bits): the rows use disjoint random bits and are
/// exactly independent.
///
/// Tables cover the index range [0, n) actually hashed; they are built on first use for
/// that n and cached, shared by copies of the hash and safe for concurrent const use (a
/// mutex guards the cache; a caller holds its tables by shared_ptr, so a growth by another
/// thread never frees tables in use). Memory for n > 4096 and `words` words:
///     8 · words · (4096 + B + (4096 + B - 1)) bytes,  B = ceil(n / 4096),
/// i.e. 8 · words · (8191 + 2B); for n ≤ 4096, 8 · words · (3n).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "host_device.hpp"
#include "splitmix.hpp"

namespace fda::detail {

class tabulation_hash {
 public:
  static constexpr unsigned char_bits = 12;
  static constexpr std::size_t char_size = std::size_t{1} << char_bits;  // values of a

  /// The tables T0, T1, T2 for indices [0, n), word-major (entry x of word w at
  /// [w * size + x]: a few per cent faster in the sketch kernel than the words of one
  /// character side by side).
  struct tables {
    std::size_t n = 0;   // indices covered
    std::size_t na = 0;  // entries of T0 per word: min(n, 4096)
    std::size_t nb = 0;  // entries of T1 per word: ceil(n / 4096)
    std::size_t n2 = 0;  // entries of T2 per word: na + nb - 1
    std::vector<std::uint64_t> t0, t1, t2;  // [w * na + a], [w * nb + b], [w * n2 + a + b]

    std::size_t bytes() const { return 8 * (t0.size() + t1.size() + t2.size()); }
  };

  /// Tables laid out like `tables`, seen through raw pointers (host or device memory): the
  /// lookup h(i) = T0[a] ^ T1[b] ^ T2[a + b] that device kernels do (<fda/thrust.hpp>).
  struct table_ref {
    const std::uint64_t* t0 = nullptr;
    const std::uint64_t* t1 = nullptr;
    const std::uint64_t* t2 = nullptr;
    std::size_t na = 0, nb = 0, n2 = 0;

    /// Word w of index i (i below the tables' n).
    FDA_HOST_DEVICE std::uint64_t word(std::size_t w, std::uint64_t i) const {
      const std::uint64_t a = i & (char_size - 1), b = i >> char_bits;
      return t0[w * na + a] ^ t1[w * nb + b] ^ t2[w * n2 + a + b];
    }
  };

  tabulation_hash(std::size_t words, std::uint64_t seed)
      : words_(words), base_(splitmix64(seed)), cache_(std::make_shared<cache>()) {}

  std::size_t words() const noexcept { return words_; }

  /// Entry x of table t (0, 1, 2) for word w: the definition the tables store.
  std::uint64_t entry(std::size_t w, unsigned t, std::uint64_t x) const {
    std::uint64_t state = base_ + (((std::uint64_t(w) * 3 + t) << 40) + x) * 0x9e3779b97f4a7c15ULL;
    return splitmix64(state);
  }

  /// Word w of index i, evaluated from the definition (no tables).
  std::uint64_t word(std::size_t w, std::uint64_t i) const {
    const std::uint64_t a = i & (char_size - 1), b = i >> char_bits;
    return entry(w, 0, a) ^ entry(w, 1, b) ^ entry(w, 2, a + b);
  }

  /// Tables covering at least [0, n): the cached ones, or new ones built for n (a growth
  /// builds for max(n, 2 × the cached n), so that rising sizes rebuild rarely). Thread-safe.
  std::shared_ptr<const tables> covering(std::size_t n) const {
    std::lock_guard lock(cache_->mutex);
    auto& cur = cache_->current;
    if (!cur || cur->n < n) cur = build(cur ? std::max(n, 2 * cur->n) : n);
    return cur;
  }

  /// The tables now cached (null before the first use), for tests and memory reports.
  std::shared_ptr<const tables> cached() const {
    std::lock_guard lock(cache_->mutex);
    return cache_->current;
  }

 private:
  struct cache {
    std::mutex mutex;
    std::shared_ptr<const tables> current;
  };

  std::shared_ptr<const tables> build(std::size_t n) const {
    auto t = std::make_shared<tables>();
    t->n = n;
    t->na = std::min(n, char_size);
    t->nb = (n + char_size - 1) >> char_bits;
    t->n2 = n == 0 ? 0 : t->na + t->nb - 1;
    t->t0.resize(words_ * t->na);
    t->t1.resize(words_ * t->nb);
    t->t2.resize(words_ * t->n2);
    for (std::size_t w = 0; w < words_; ++w) {
      for (std::size_t x = 0; x < t->na; ++x) t->t0[w * t->na + x] = entry(w, 0, x);
      for (std::size_t x = 0; x < t->nb; ++x) t->t1[w * t->nb + x] = entry(w, 1, x);
      for (std::size_t x = 0; x < t->n2; ++x) t->t2[w * t->n2 + x] = entry(w, 2, x);
    }
    return t;
  }

  std::size_t words_;
  std::uint64_t base_;
  std::shared_ptr<cache> cache_;  // shared by copies: same seed, same tables
};

}  // namespace fda::detail
