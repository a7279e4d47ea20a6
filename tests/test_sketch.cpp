// SPDX-License-Identifier: Apache-2.0
#include <fda/sketch.hpp>
#include <fda/kernels.hpp>

#include <catch2/catch.hpp>
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"

using fda_test::gaussian;

namespace {
/// The tables' value of word w at index i: T0[a] ^ T1[b] ^ T2[a + b].
std::uint64_t from_tables(const fda::detail::tabulation_hash::tables& t, std::size_t w, std::uint64_t i) {
  const std::uint64_t a = i % 4096, b = i / 4096;
  return t.t0[w * t.na + a] ^ t.t1[w * t.nb + b] ^ t.t2[w * t.n2 + a + b];
}

/// counters of sk(v) by the definition: every hash evaluated directly (no tables), cells
/// summed in index order, positive minus negative half.
template <class T>
std::vector<double> brute_force_sketch(const std::vector<T>& v, std::size_t depth, std::size_t width,
                                       std::uint64_t seed) {
  const fda::detail::sketch_hashes h("test", depth, width, seed);
  std::vector<double> cells(depth * 2 * width, 0.0), want(depth * width);
  for (std::size_t r = 0; r < depth; ++r)
    for (std::size_t i = 0; i < v.size(); ++i)
      cells[r * 2 * width + fda::detail::sketch_hashes::cell_of(h.row_value(r, i), 2 * width)] += double(v[i]);
  for (std::size_t r = 0; r < depth; ++r)
    for (std::size_t j = 0; j < width; ++j)
      want[r * width + j] = 0.0 + (cells[r * 2 * width + j] - cells[r * 2 * width + width + j]);
  return want;
}
}  // namespace

TEST_CASE("the tabulation tables equal the direct definition of the hash, across block boundaries") {
  const fda::detail::tabulation_hash h(3, 42);
  for (std::size_t n : {1, 100, 4095, 4096, 4097, 10'000, 100'003}) {
    const auto t = fda::detail::tabulation_hash(3, 42).covering(n);
    INFO("n = " << n);
    REQUIRE(t->n == n);
    REQUIRE(t->na == std::min<std::size_t>(n, 4096));
    REQUIRE(t->nb == (n + 4095) / 4096);
    REQUIRE(t->n2 == t->na + t->nb - 1);
    bool same = true;
    std::size_t checked = 0;
    for (std::uint64_t edge = 0; edge <= n + 4096; edge += 4096)  // around every block boundary
      for (std::uint64_t i = edge >= 3 ? edge - 3 : 0; i < std::min<std::uint64_t>(edge + 3, n); ++i, ++checked)
        for (std::size_t w = 0; w < 3; ++w) same = same && from_tables(*t, w, i) == h.word(w, i);
    for (std::uint64_t i = 0; i < n; i += 37, ++checked)  // and a sample of the rest
      for (std::size_t w = 0; w < 3; ++w) same = same && from_tables(*t, w, i) == h.word(w, i);
    CHECK(same);
    CHECK(checked > 0);
  }
  // Concretely, at the first boundaries: 4095 = (a 4095, b 0), 4096 = (0, 1), 4097 = (1, 1).
  const auto t = h.covering(3 * 4096 + 1);
  for (std::uint64_t i : {0, 1, 4095, 4096, 4097, 8191, 8192, 8193, 12287, 12288})
    for (std::size_t w = 0; w < 3; ++w)
      CHECK(from_tables(*t, w, i) == (h.entry(w, 0, i % 4096) ^ h.entry(w, 1, i / 4096) ^ h.entry(w, 2, i % 4096 + i / 4096)));
  // Distinct words, tables and seeds give unrelated entries.
  CHECK(h.entry(0, 0, 5) != h.entry(1, 0, 5));
  CHECK(h.entry(0, 0, 5) != h.entry(0, 2, 5));
  CHECK(h.entry(0, 0, 5) != fda::detail::tabulation_hash(3, 43).entry(0, 0, 5));
}

TEST_CASE("tabulation tables are built lazily for the range hashed, grow, and take 8·words·(8191 + 2B) bytes") {
  const fda::detail::tabulation_hash h(3, 1);
  CHECK(h.cached() == nullptr);
  const auto small = h.covering(1000);
  CHECK(small->n == 1000);
  CHECK(small->bytes() == 8 * 3 * (1000 + 1 + 1000));  // n <= 4096: 3n entries per word
  CHECK(h.covering(500) == small);                        // covered: the same tables
  const auto copy = h;                                    // copies share the cache
  const auto big = copy.covering(10'000'000);
  CHECK(h.cached() == big);
  const std::size_t blocks = (10'000'000 + 4095) / 4096;
  CHECK(big->bytes() == 8 * 3 * (8191 + 2 * blocks));  // 313,800 bytes at depth 5 (3 words)
  CHECK(small->n == 1000);                               // held tables stay valid
  CHECK(h.covering(10'000'001)->n == 20'000'000);        // growth doubles
}

TEST_CASE("the sketch is the linear map of its definition, at every depth, bit for bit") {
  // Brute force: every hash evaluated directly, in double counters, in index order.
  const std::size_t d = 20'000, width = 250;
  const auto v = gaussian<double>(d, 1);
  for (std::size_t depth : {1, 2, 3, 4, 5, 6, 7, 9}) {
    INFO("depth " << depth);
    fda::ams_sketch<double> sk(depth, width, 7);
    sk.add(v);
    const auto want = brute_force_sketch(v, depth, width, 7);
    std::size_t equal = 0;
    for (std::size_t i = 0; i < want.size(); ++i) equal += sk.data()[i] == want[i];
    CHECK(equal == want.size());  // same order of additions: bit-identical
  }
  // Two views (v = a - b, formed in double), several segments, a shape of odd width: the
  // kernel's ||v||² is fda::sq_distance's, bit for bit.
  const auto a = gaussian(9'001, 2), b = gaussian(9'001, 3);
  std::vector<double> diff(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) diff[i] = double(a[i]) - double(b[i]);
  const fda::detail::sketch_hashes h("test", 5, 333, 9);
  std::vector<double> counters(5 * 333, 0.0);
  const auto parts = fda_test::cut(a, 3);
  const double sq = fda::detail::sketch_accumulate(h, counters.data(), fda::view(parts), fda::view(b));
  CHECK(sq == fda::sq_distance(a, b));
  CHECK(counters == brute_force_sketch(diff, 5, 333, 9));
}

TEST_CASE("the sketch hashes serve concurrent workers: tables built once, results as if serial") {
  const fda::detail::sketch_hashes h("test", 5, 250, 3);  // shared, const, tables not yet built
  std::vector<std::vector<float>> inputs;
  for (std::size_t t = 0; t < 8; ++t) inputs.push_back(gaussian(5'000 + 7'000 * t, 10 + t));
  std::vector<std::vector<double>> got(inputs.size(), std::vector<double>(5 * 250, 0.0));
  {
    std::vector<std::thread> workers;
    for (std::size_t t = 0; t < inputs.size(); ++t)
      workers.emplace_back([&, t] {
        for (int rep = 0; rep < 3; ++rep) {
          std::fill(got[t].begin(), got[t].end(), 0.0);
          fda::detail::sketch_accumulate(h, got[t].data(), fda::view(inputs[t]));
        }
      });
    for (auto& w : workers) w.join();
  }
  for (std::size_t t = 0; t < inputs.size(); ++t) CHECK(got[t] == brute_force_sketch(inputs[t], 5, 250, 3));
  CHECK(h.tab.cached()->n >= inputs.back().size());
}

TEST_CASE("linearity: sk(a) + sk(b) = sk(a + b) and sk(c·a) = c·sk(a), up to float rounding") {
  const std::size_t d = 100'000;
  const auto a = gaussian(d, 2), b = gaussian(d, 3);
  std::vector<float> sum(d);
  for (std::size_t i = 0; i < d; ++i) sum[i] = a[i] + b[i];
  fda::ams_sketch<float> ska(5, 250, 11), skb(5, 250, 11), sks(5, 250, 11), skc(5, 250, 11);
  ska.add(a);
  skb.add(b);
  sks.add(sum);
  skc.add(a, -2.5);
  auto merged = ska;
  merged += skb;
  auto scaled = ska;
  scaled *= -2.5;
  double worst_sum = 0, worst_scale = 0;
  for (std::size_t i = 0; i < merged.data().size(); ++i) {
    // Each counter sums ~400 terms of size ~1: float rounding is ~1e-5 of that.
    worst_sum = std::max(worst_sum, double(std::fabs(merged.data()[i] - sks.data()[i])));
    worst_scale = std::max(worst_scale, double(std::fabs(scaled.data()[i] - skc.data()[i])));
  }
  CHECK(worst_sum < 1e-4);
  CHECK(worst_scale < 1e-4);
  CHECK((ska + skb).data()[3] == merged.data()[3]);
  // The two sketches are far from each other when the vectors are: the check can fail.
  CHECK(std::fabs(ska.data()[0] - skb.data()[0]) > 1e-3);
}

TEST_CASE("equal seeds give identical sketches; a multi-segment view sketches like its concatenation") {
  const auto v = gaussian(123'457, 4);
  fda::ams_sketch<float> s1(5, 250, 99), s2(5, 250, 99), s3(5, 250, 100), s4(5, 250, 99);
  s1.add(v);
  s2.add(v);
  s3.add(v);
  s4.add(fda_test::cut(v, 5));
  CHECK(s1 == s2);
  CHECK(s1 == s4);
  CHECK_FALSE(s1 == s3);
  CHECK(s1.seed() == 99);
  CHECK(s1.depth() == 5);
  CHECK(s1.width() == 250);
  CHECK(s1.epsilon() == Approx(1.0 / std::sqrt(250.0)));
}

namespace {
enum class family { dense, sparse, heavy };

std::vector<float> random_vector(family f, std::size_t d, std::mt19937_64& rng) {
  std::normal_distribution<double> gauss;
  std::student_t_distribution<double> heavy(1.5);  // infinite variance: a few huge entries
  std::uniform_real_distribution<double> uni;
  std::vector<float> v(d, 0.0f);
  for (auto& x : v) {
    if (f == family::dense) x = float(gauss(rng));
    if (f == family::sparse && uni(rng) < 0.01) x = float(gauss(rng));
    if (f == family::heavy) x = float(heavy(rng));
  }
  return v;
}
}  // namespace

TEST_CASE("estimate accuracy over 500 random vectors (d = 1e5, depth 5, width 250)") {
  const std::size_t d = 100'000;
  std::mt19937_64 rng(2024);
  int within1 = 0, within2 = 0, trials = 0;
  for (int t = 0; t < 500; ++t) {
    const auto f = family(t % 3);
    const auto v = random_vector(f, d, rng);
    fda::ams_sketch<float> sk(5, 250, rng());
    sk.add(v);
    const double truth = fda::detail::reduce<1>(
        [](auto& acc, std::size_t l, float x) { acc[0][l] += double(x) * x; }, fda::view(v))[0];
    const double rel = std::fabs(sk.estimate_sq_norm() - truth) / truth;
    within1 += rel <= sk.epsilon();
    within2 += rel <= 2 * sk.epsilon();
    ++trials;
  }
  const double f1 = double(within1) / trials, f2 = double(within2) / trials;
  WARN("sketch accuracy, depth 5 width 250: within ±ε " << f1 << ", within ±2ε " << f2
                                                       << " (theory about 0.82 and 0.99)");
  CHECK(f1 >= 0.75);
  CHECK(f2 >= 0.97);
}

TEST_CASE("bad sketch shapes and merges are rejected with the value in the message") {
  CHECK_THROWS_WITH(fda::ams_sketch<float>(0, 250), Catch::Contains("depth = 0"));
  CHECK_THROWS_WITH(fda::ams_sketch<float>(5, 1), Catch::Contains("width = 1"));
  CHECK_THROWS_WITH(fda::ams_sketch<float>(5, 65537), Catch::Contains("width = 65537 is invalid: it must be in [2, 65536]"));
  CHECK_NOTHROW(fda::ams_sketch<float>(1, 65536));
  CHECK_THROWS_WITH(fda::ams_sketch<float>(32768, 2), Catch::Contains("depth = 32768 is invalid: it must be in [1, 32767]"));
  fda::ams_sketch<float> a(5, 250, 1), b(5, 251, 1), c(5, 250, 2), e(7, 250, 1);
  CHECK_THROWS_WITH(a += b, Catch::Contains("width 251"));
  CHECK_THROWS_WITH(a += c, Catch::Contains("seed 2"));
  CHECK_THROWS_WITH(a += e, Catch::Contains("depth 7"));
  CHECK_THROWS_AS(a += b, fda::invalid_argument);
}

TEST_CASE("every instruction-set path computes the same sketch, bit for bit") {
  // The x86 paths hash 2, 4 or 8 indices per instruction before scattering, the portable
  // one hashes as it scatters: all must give the portable counters and ||v||² exactly.
  using fda::detail::isa;
  const isa best = fda::detail::cpu_isa();
  const auto a = gaussian(20'011, 21), b = gaussian(20'011, 22);
  const auto pa = fda_test::cut(a, 23);
  const auto pd = fda_test::cut(gaussian<double>(20'011, 24), 25);
  for (std::size_t depth : {1, 2, 3, 4, 5, 6, 7, 9}) {
    for (std::size_t width : {2, 250, 333}) {
      const fda::detail::sketch_hashes h("test", depth, width, 31 + depth);
      const auto run = [&] {
        std::vector<double> c(3 * depth * width, 0.0);
        const double s1 = fda::detail::sketch_accumulate(h, c.data(), fda::view(pa), fda::view(b));
        const double s2 = fda::detail::sketch_accumulate(h, c.data() + depth * width, fda::view(a));
        const double s3 = fda::detail::sketch_accumulate(h, c.data() + 2 * depth * width, fda::view(pd), fda::view(a));
        c.insert(c.end(), {s1, s2, s3});
        return c;
      };
      fda::detail::isa_ceiling = isa::portable;
      const auto want = run();
      for (const isa p : {isa::sse2, isa::avx2, isa::avx512}) {
        if (p > best) continue;
        fda::detail::isa_ceiling = p;
        INFO("depth " << depth << ", width " << width << ", path " << int(p));
        const auto got = run();
        std::size_t equal = 0;
        for (std::size_t i = 0; i < want.size(); ++i)
          equal += std::bit_cast<std::uint64_t>(got[i]) == std::bit_cast<std::uint64_t>(want[i]);
        CHECK(equal == want.size());
      }
      fda::detail::isa_ceiling = isa::avx512;
    }
  }
  CHECK(fda::detail::active_isa() == best);
}

// -----------------------------------------------------------------------------------------
// The hash family from its published definition, written here without fda::detail: the
// brute force above shares the library's row_value / cell_of, so it cannot catch a wrong
// hash; these tests can, and the hard-coded known answers (computed by a separate python3
// script from the same published definitions) catch a change of the definition made in
// the library and in this reference alike.
namespace {
namespace ref {
constexpr std::uint64_t golden = 0x9e3779b97f4a7c15ULL;

/// splitmix64 (Steele, Lea & Flood, OOPSLA 2014; Vigna's public-domain C version): the
/// next output of the stream whose state is `state`.
constexpr std::uint64_t next(std::uint64_t& state) {
  state += golden;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// The sketch's tabulation hash as include/fda/detail/tabulation_hash.hpp documents it.
struct tabulation {
  std::uint64_t base;  // the first splitmix64 output of the seed
  explicit tabulation(std::uint64_t seed) : base(next(seed)) {}
  /// entry(w, t, x): the splitmix64 output of state base + (((w·3 + t) << 40) + x) · golden.
  std::uint64_t entry(std::uint64_t w, std::uint64_t t, std::uint64_t x) const {
    std::uint64_t state = base + (((w * 3 + t) << 40) + x) * golden;
    return next(state);
  }
  /// word(w, i) = entry(w, 0, a) ^ entry(w, 1, b) ^ entry(w, 2, a + b), a = i mod 4096, b = i >> 12.
  std::uint64_t word(std::uint64_t w, std::uint64_t i) const {
    const std::uint64_t a = i % 4096, b = i >> 12;
    return entry(w, 0, a) ^ entry(w, 1, b) ^ entry(w, 2, a + b);
  }
  /// Row r: word r / 2, its low 32 bits for even r, its high 32 bits for odd r.
  std::uint32_t row(std::size_t r, std::uint64_t i) const {
    const std::uint64_t x = word(r / 2, i);
    return r % 2 == 0 ? std::uint32_t(x & 0xffffffffULL) : std::uint32_t(x >> 32);
  }
};

/// Where a row value lands: c = (y · 2·width) >> 32; bucket c with sign +1 if c < width,
/// else bucket c - width with sign -1.
struct cell {
  std::size_t bucket;
  int sign;
};
inline cell cell_of(std::uint32_t y, std::size_t width) {
  const std::uint64_t c = (std::uint64_t(y) * (2 * width)) >> 32;
  return c < width ? cell{std::size_t(c), +1} : cell{std::size_t(c - width), -1};
}

/// sk(v) by the definition: per row, the positive and the negative terms of every bucket
/// summed in index order (double), then positive minus negative.
template <class T>
std::vector<double> sketch(const std::vector<T>& v, std::size_t depth, std::size_t width, std::uint64_t seed) {
  const tabulation h(seed);
  std::vector<double> pos(depth * width, 0.0), neg(depth * width, 0.0), out(depth * width);
  for (std::size_t r = 0; r < depth; ++r)
    for (std::size_t i = 0; i < v.size(); ++i) {
      const cell c = cell_of(h.row(r, i), width);
      (c.sign > 0 ? pos : neg)[r * width + c.bucket] += double(v[i]);
    }
  for (std::size_t k = 0; k < out.size(); ++k) out[k] = 0.0 + (pos[k] - neg[k]);
  return out;
}
}  // namespace ref

// Known answers, computed by this python3 script from the published definitions (it also
// prints splitmix64's first outputs for seed 0, as published):
//   M, G = (1 << 64) - 1, 0x9e3779b97f4a7c15
//   def mix(z):
//       z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
//       z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
//       return z ^ (z >> 31)
//   print([hex(mix(k * G & M)) for k in (1, 2, 3)])  # seed 0
//   def word(seed, w, i):
//       base = mix((seed + G) & M)
//       entry = lambda t, x: mix((base + (((w * 3 + t) << 40) + x) * G + G) & M)
//       a, b = i % 4096, i >> 12
//       return entry(0, a) ^ entry(1, b) ^ entry(2, a + b)
//   row = lambda seed, r, i: (word(seed, r // 2, i) >> (32 * (r % 2))) & 0xffffffff
//   cell = lambda seed, r, i, width: (row(seed, r, i) * 2 * width) >> 32

/// {word, index, value} of seed 42.
struct known_word {
  std::size_t w;
  std::uint64_t i, value;
};
constexpr known_word known_words_seed42[] = {
    {0, 0, 0xde559aafe3d4d2e8ULL},          {0, 4095, 0x4c74f212cfa38203ULL},
    {0, 4096, 0xd303ca0098b66f06ULL},       {0, 4097, 0x631458f8b6584c4eULL},
    {0, 8191, 0x8b270e416f5cee56ULL},       {0, 123456789, 0x69fa4665ce33d855ULL},
    {0, 1000000007, 0x8557360bf042d2ffULL}, {0, 1099511627781, 0x1125a22c02dc5b24ULL},
    {1, 0, 0xb8302e4b239ee53fULL},          {1, 4095, 0xf0ed80aef1265d37ULL},
    {1, 4096, 0x4dff2daec4c492dcULL},       {1, 4097, 0x4dacf79b1ad3e1d4ULL},
    {1, 8191, 0xeea2e73c8d62fde6ULL},       {1, 123456789, 0xeaaeb80ffb66237eULL},
    {1, 1000000007, 0x09502d0e52bd8a4bULL}, {1, 1099511627781, 0x6eadfbf9a9e38392ULL},
    {2, 0, 0xbdaf6ef8d46d2271ULL},          {2, 4095, 0xfafa6376bd5d3db7ULL},
    {2, 4096, 0xd406ea22ae11be89ULL},       {2, 4097, 0x2b4b5091eb34e0cfULL},
    {2, 8191, 0xc12e03ed33895c6eULL},       {2, 123456789, 0x06ab1b8ce3babb85ULL},
    {2, 1000000007, 0x8ac79f20dfc7adf6ULL}, {2, 1099511627781, 0xf1d8c2717412ca9cULL},
};

/// {index, cell(42, r, index, 250) for rows r = 0..4}: cell c in [0, 500).
struct known_cells {
  std::uint64_t i;
  std::array<std::size_t, 5> cell;
};
constexpr known_cells known_cells_seed42[] = {
    {0, {444, 434, 69, 359, 414}},    {1, {329, 153, 461, 413, 251}},  {4095, {405, 149, 470, 470, 369}},
    {4096, {298, 412, 384, 152, 339}}, {4097, {356, 193, 52, 151, 459}}, {8191, {217, 271, 276, 466, 100}},
    {8192, {372, 207, 453, 106, 477}}, {12289, {250, 122, 312, 129, 0}},
};
}  // namespace

TEST_CASE("splitmix64 and the tabulation hash match their published definitions and known answers") {
  // splitmix64 seeded with 0: the first outputs published with it (Vigna's splitmix64.c).
  const std::uint64_t literature[] = {0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL, 0x06c45d188009454fULL};
  std::uint64_t ours = 0, lib = 0;
  for (const std::uint64_t want : literature) {
    CHECK(ref::next(ours) == want);
    CHECK(fda::detail::splitmix64(lib) == want);
  }
  CHECK(lib == 3 * ref::golden);  // the state advances by the golden gamma per output
  std::mt19937_64 rng(5);
  bool same = true;
  for (int n = 0; n < 10'000; ++n) {
    const std::uint64_t s = rng();
    std::uint64_t a = s, b = s;
    same = same && ref::next(a) == fda::detail::splitmix64(b) && a == b;
  }
  CHECK(same);

  // The tabulation words: the hard-coded answers, the reference, the library's definition
  // (word) and its tables all agree.
  const ref::tabulation r42(42);
  const fda::detail::tabulation_hash h42(3, 42);
  const auto tables = h42.covering(8192 + 1);
  for (const auto& k : known_words_seed42) {
    INFO("word " << k.w << ", index " << k.i);
    CHECK(r42.word(k.w, k.i) == k.value);
    CHECK(h42.word(k.w, k.i) == k.value);
    if (k.i < tables->n) CHECK(from_tables(*tables, k.w, k.i) == k.value);
  }
  // Words and rows of the library against the reference on random seeds and indices, rows
  // of one word and of several.
  same = true;
  for (int n = 0; n < 2'000; ++n) {
    const std::uint64_t seed = rng(), i = rng() >> (rng() % 64);
    const fda::detail::sketch_hashes h("test", 9, 250, seed);
    const ref::tabulation r(seed);
    for (std::size_t row = 0; row < 9; ++row) same = same && h.row_value(row, i) == r.row(row, i);
  }
  CHECK(same);

  // The cells, through the public API: the sketch of the unit vector e_i holds ±1 at the
  // known bucket of every row and 0 elsewhere.
  for (const auto& k : known_cells_seed42) {
    std::vector<double> e(k.i + 1, 0.0);
    e[k.i] = 1.0;
    fda::ams_sketch<double> sk(5, 250, 42);
    sk.add(e);
    for (std::size_t row = 0; row < 5; ++row) {
      INFO("index " << k.i << ", row " << row << ", known cell " << k.cell[row]);
      const ref::cell c = ref::cell_of(r42.row(row, k.i), 250);
      CHECK(c.bucket + (c.sign < 0 ? 250 : 0) == k.cell[row]);
      const std::size_t bucket = k.cell[row] % 250;
      const double sign = k.cell[row] < 250 ? 1.0 : -1.0;
      double others = 0;
      for (std::size_t j = 0; j < 250; ++j) others += j == bucket ? 0.0 : std::fabs(sk(row, j));
      CHECK(sk(row, bucket) == sign);
      CHECK(others == 0.0);
    }
  }
}

TEST_CASE("the sketch equals the linear map of the independently written definition, bit for bit") {
  // Across four 4096-blocks and a partial one; counters summed in the same order as the
  // library (index order, positive minus negative cell), so equality is exact.
  const std::size_t d = 4 * 4096 + 1'234;
  const auto v = gaussian<double>(d, 17);
  const auto vf = gaussian<float>(d, 18);
  std::size_t compared = 0;
  for (const std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{7}, ~std::uint64_t{0}})
    for (const std::size_t depth : {1, 2, 3, 5, 8, 9})
      for (const std::size_t width : {2, 250, 333, 4096}) {
        INFO("seed " << seed << ", depth " << depth << ", width " << width);
        fda::ams_sketch<double> sk(depth, width, seed);
        sk.add(v);
        const auto want = ref::sketch(v, depth, width, seed);
        std::size_t equal = 0;
        for (std::size_t k = 0; k < want.size(); ++k)
          equal += std::bit_cast<std::uint64_t>(sk.data()[k]) == std::bit_cast<std::uint64_t>(want[k]);
        CHECK(equal == want.size());
        // float counters: the double counters rounded once
        fda::ams_sketch<float> skf(depth, width, seed);
        skf.add(vf);
        const auto wantf = ref::sketch(vf, depth, width, seed);
        std::size_t equalf = 0;
        for (std::size_t k = 0; k < wantf.size(); ++k) equalf += skf.data()[k] == float(wantf[k]);
        CHECK(equalf == wantf.size());
        compared += want.size();
      }
  CHECK(compared > 0);
}

namespace {
/// The false-failure probability allowed to each bound of the statistical test below. It
/// checks 37 bounds: a correct family fails any with probability at most 37 · 2.5e-8 < 1e-6.
constexpr double stat_delta = 2.5e-8;

/// Hoeffding: the sum of n independent values in [-1, 1] with mean 0 lies farther than
/// this from 0 with probability at most 2 exp(-t² / 2n) = stat_delta.
double hoeffding_radius(double n) { return std::sqrt(2.0 * n * std::log(2.0 / stat_delta)); }

/// Bernstein: a count of n independent events of probability p lies farther than this
/// from n·p with probability at most 2 exp(-t² / (2 (n p (1 - p) + t / 3))) = stat_delta.
double bernstein_radius(double n, double p) {
  const double l = std::log(2.0 / stat_delta), var = n * p * (1 - p);
  return l / 3 + std::sqrt(l * l / 9 + 2 * var * l);
}

/// Laurent & Massart (Ann. Statist. 28(5), 2000, Lemma 1): a chi-square variable with k
/// degrees of freedom lies below k - 2 sqrt(k x) or above k + 2 sqrt(k x) + 2x with
/// probability at most e^-x each; x = ln(2 / stat_delta) makes both together stat_delta.
std::pair<double, double> chi_square_range(double k) {
  const double x = std::log(2.0 / stat_delta);
  return {k - 2 * std::sqrt(k * x), k + 2 * std::sqrt(k * x) + 2 * x};
}

/// Pearson's statistic of counts against equal expected counts.
double pearson(const std::vector<std::size_t>& counts) {
  double n = 0;
  for (const auto c : counts) n += double(c);
  const double e = n / double(counts.size());
  double x = 0;
  for (const auto c : counts) x += (double(c) - e) * (double(c) - e) / e;
  return x;
}
}  // namespace

TEST_CASE("the sketch's hash is uniform and 4-wise independent, over many seeds (statistical)") {
  // Samples of one statistic are independent under the family's guarantee: each comes
  // from its own seed (own tables) or own row (rows use disjoint random bits), or, for
  // the row statistics, from the 4 distinct indices i, j, k, l of one seed, whose values
  // 4-wise independence makes independent. Hence the bounds above hold, and a correct
  // family fails one of these 37 checks with probability below 1e-6 (Pearson's statistic
  // is chi-square to a good approximation here: 320 or more expected per category).
  // Broken families miss them by tens of radii: constant signs, buckets of i and i + 1
  // related, rows sharing bits, simple tabulation (no derived character: the product of
  // the signs of i, i+1, i+4096, i+4097 is then always +1).
  constexpr std::size_t width = 250, depth = 4, seeds = 200'000, cells = 2 * width;
  constexpr double units = double(seeds * depth);  // (seed, row) samples
  std::mt19937_64 rng(20240607);
  // Per seed: i = (a, b), 1 <= a <= 4092, b >= 1, its neighbours along the characters,
  // and three random indices j, k, l distinct from them.
  enum { I, I1, I2, I3, I4096, I4097, IM4095, J, K, L, n_idx };
  constexpr std::array<std::array<int, 2>, 5> pairs{{{I, I1}, {I, I4096}, {I, I4097}, {I, IM4095}, {I, J}}};
  const char* pair_names[] = {"i, i+1", "i, i+4096", "i, i+4097", "i, i-4095", "i, random j"};
  constexpr std::array<std::array<int, 4>, 4> quads{
      {{I, J, K, L}, {I, I1, I4096, I4097}, {I, I1, I2, I3}, {I, I1, I4096, IM4095}}};
  const char* quad_names[] = {"random i, j, k, l", "i, i+1, i+4096, i+4097 (a rectangle of characters)",
                              "i, i+1, i+2, i+3 (one block)", "i, i+1, i+4096, i-4095"};
  constexpr std::array<std::array<std::size_t, 2>, 6> row_pairs{{{0, 1}, {2, 3}, {0, 2}, {0, 3}, {1, 2}, {1, 3}}};

  std::vector<std::size_t> bucket_count(width, 0);
  long long sign_sum = 0;
  std::array<std::size_t, pairs.size()> pair_collide{};
  std::array<long long, pairs.size()> pair_sign{};
  std::array<long long, quads.size()> quad_sign{}, quad_parity{};
  std::array<std::size_t, row_pairs.size()> row_collide{};
  std::array<long long, row_pairs.size()> row_sign{};
  std::vector<std::size_t> joint01(625, 0), joint23(625, 0);  // (c mod 25, c' mod 25)

  const auto bucket = [](std::uint64_t c) { return c % width; };
  const auto sign = [](std::uint64_t c) { return c < width ? 1 : -1; };
  const auto parity = [&](std::uint64_t c) { return bucket(c) % 2 ? -1 : 1; };
  for (std::size_t s = 0; s < seeds; ++s) {
    const fda::detail::sketch_hashes h("test", depth, width, rng());
    const std::uint64_t a = 1 + rng() % 4092, b = 1 + rng() % ((std::uint64_t{1} << 30) - 1);
    const std::uint64_t i = (b << 12) | a;
    std::array<std::uint64_t, n_idx> idx{i, i + 1, i + 2, i + 3, i + 4096, i + 4097, i - 4095, 0, 0, 0};
    for (int n = J; n <= L; ++n)
      do idx[n] = rng() >> 22;  // [0, 2^42)
      while (std::find(idx.begin(), idx.begin() + n, idx[n]) != idx.begin() + n);
    std::array<std::array<std::uint64_t, n_idx>, depth> c;
    for (std::size_t r = 0; r < depth; ++r)
      for (int n = 0; n < n_idx; ++n) c[r][n] = fda::detail::sketch_hashes::cell_of(h.row_value(r, idx[n]), cells);
    for (std::size_t r = 0; r < depth; ++r) {
      const auto& cr = c[r];
      ++bucket_count[bucket(cr[I])];
      sign_sum += sign(cr[I]);
      for (std::size_t p = 0; p < pairs.size(); ++p) {
        pair_collide[p] += bucket(cr[pairs[p][0]]) == bucket(cr[pairs[p][1]]);
        pair_sign[p] += sign(cr[pairs[p][0]]) * sign(cr[pairs[p][1]]);
      }
      for (std::size_t q = 0; q < quads.size(); ++q) {
        const auto& x = quads[q];
        quad_sign[q] += sign(cr[x[0]]) * sign(cr[x[1]]) * sign(cr[x[2]]) * sign(cr[x[3]]);
        quad_parity[q] += parity(cr[x[0]]) * parity(cr[x[1]]) * parity(cr[x[2]]) * parity(cr[x[3]]);
      }
    }
    for (const int n : {I, J, K, L}) {
      for (std::size_t p = 0; p < row_pairs.size(); ++p) {
        const auto c1 = c[row_pairs[p][0]][n], c2 = c[row_pairs[p][1]][n];
        row_collide[p] += bucket(c1) == bucket(c2);
        row_sign[p] += sign(c1) * sign(c2);
      }
      ++joint01[c[0][n] % 25 * 25 + c[1][n] % 25];
      ++joint23[c[2][n] % 25 * 25 + c[3][n] % 25];
    }
  }

  // Every check: |deviation| <= radius; the largest ratio is reported.
  std::size_t checks = 0;
  double worst = 0;
  std::string worst_name;
  const auto within = [&](const std::string& what, double deviation, double radius) {
    INFO(what << ": deviation " << deviation << ", allowed " << radius);
    CHECK(std::fabs(deviation) <= radius);
    ++checks;
    if (std::fabs(deviation) / radius > worst) {
      worst = std::fabs(deviation) / radius;
      worst_name = what;
    }
  };
  const auto chi_square = [&](const std::string& what, const std::vector<std::size_t>& counts) {
    const double x = pearson(counts), k = double(counts.size() - 1);
    const auto [lo, hi] = chi_square_range(k);
    within(what + " (chi-square, " + std::to_string(counts.size() - 1) + " dof) above", std::max(0.0, x - k), hi - k);
    within(what + " (chi-square) below", std::max(0.0, k - x), k - lo);
    return x;
  };
  const double chi_buckets = chi_square("bucket uniformity", bucket_count);
  within("sign balance", double(sign_sum), hoeffding_radius(units));
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    within(std::string("bucket collisions of ") + pair_names[p], double(pair_collide[p]) - units / width,
           bernstein_radius(units, 1.0 / width));
    within(std::string("sign product of ") + pair_names[p], double(pair_sign[p]), hoeffding_radius(units));
  }
  for (std::size_t q = 0; q < quads.size(); ++q) {
    within(std::string("sign product of ") + quad_names[q], double(quad_sign[q]), hoeffding_radius(units));
    within(std::string("bucket parity product of ") + quad_names[q], double(quad_parity[q]), hoeffding_radius(units));
  }
  const double row_units = 4.0 * seeds;
  for (std::size_t p = 0; p < row_pairs.size(); ++p) {
    const std::string rows = "rows " + std::to_string(row_pairs[p][0]) + ", " + std::to_string(row_pairs[p][1]);
    within(rows + ": bucket collisions at one index", double(row_collide[p]) - row_units / width,
           bernstein_radius(row_units, 1.0 / width));
    within(rows + ": sign product at one index", double(row_sign[p]), hoeffding_radius(row_units));
  }
  const double chi01 = chi_square("rows 0, 1 joint cells mod 25", joint01);
  const double chi23 = chi_square("rows 2, 3 joint cells mod 25", joint23);
  CHECK(checks == 37);
  WARN("hash statistics over " << seeds << " seeds, width " << width << ": bucket chi-square " << chi_buckets
       << " (249 dof), rows 0/1 and 2/3 joint chi-square " << chi01 << ", " << chi23
       << " (624 dof); pair collision rates i,i+1 " << double(pair_collide[0]) / units << ", i,j "
       << double(pair_collide[4]) / units << " (1/width = " << 1.0 / width << "); 4-wise sign means random "
       << double(quad_sign[0]) / units << ", rectangle " << double(quad_sign[1]) / units
       << "; largest deviation / allowed " << worst << " (" << worst_name << ")");
}
