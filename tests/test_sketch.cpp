#include <fda/sketch.hpp>
#include <fda/kernels.hpp>

#include <catch2/catch.hpp>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <thread>

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
