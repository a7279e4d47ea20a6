// SPDX-License-Identifier: Apache-2.0
#include <fda/data/idx.hpp>
#include <fda/data/partition.hpp>

#include <zlib.h>

#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>

namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using fda::data::data_error;
using parts_t = std::vector<std::vector<std::size_t>>;

/// FDA_FASHION_MNIST_DIR overrides the Debian location (point it nowhere to test the skips).
const fs::path fmnist_dir = [] {
  const char* env = std::getenv("FDA_FASHION_MNIST_DIR");
  return env && *env ? fs::path(env) : fda::data::debian_fashion_mnist_dir;
}();

bool have_fashion_mnist() {
  return fs::exists(fmnist_dir / "train-images-idx3-ubyte.gz") && fs::exists(fmnist_dir / "t10k-labels-idx1-ubyte.gz");
}

/// Loaded once: the train set takes a second to decompress and scale.
const fda::data::dataset& fmnist(bool train) {
  static std::optional<fda::data::dataset> sets[2];
  auto& s = sets[train ? 1 : 0];
  if (!s) s = fda::data::load_fashion_mnist(fmnist_dir, train);
  return *s;
}

/// The train labels, or 6000 of each of 10 labels in random order when the data set is absent.
const std::vector<std::uint8_t>& train_labels() {
  static const std::vector<std::uint8_t> labels = [] {
    if (have_fashion_mnist()) return fmnist(true).labels;
    std::vector<std::uint8_t> l(60000);
    for (std::size_t i = 0; i < l.size(); ++i) l[i] = std::uint8_t(i % 10);
    std::shuffle(l.begin(), l.end(), std::mt19937_64(7));
    return l;
  }();
  return labels;
}

/// A fresh directory (removed with everything in it) that writes IDX files, plain or gzip.
struct temp_dir : fda_test::temp_dir {
  temp_dir() : fda_test::temp_dir("data") {}

  fs::path write(const std::string& name, const std::vector<std::uint8_t>& bytes) const {
    const auto p = path / name;
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    return p;
  }
  fs::path write_gz(const std::string& name, const std::vector<std::uint8_t>& bytes) const {
    const auto p = path / name;
    gzFile f = gzopen(p.string().c_str(), "wb");
    REQUIRE(f);
    if (!bytes.empty()) REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
    REQUIRE(gzclose(f) == Z_OK);
    return p;
  }
};

std::vector<std::uint8_t> file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// An IDX file: header {0, 0, type, dims.size()}, big-endian dims, then `data`.
std::vector<std::uint8_t> idx_bytes(std::vector<std::uint32_t> dims, const std::vector<std::uint8_t>& data,
                                    std::uint8_t type = 0x08) {
  std::vector<std::uint8_t> out{0, 0, type, std::uint8_t(dims.size())};
  for (auto d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(std::uint8_t(d >> shift));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

/// Bytes that compress like images (small values, some structure), so a .gz holds Huffman codes.
std::vector<std::uint8_t> image_like(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::uint8_t((i % 28 < 14 ? 0 : 200) + rng() % 16);
  return v;
}

/// The message of the data_error that f throws ("" and a failed check if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const data_error& e) {
    return e.what();
  }
  FAIL("no fda::data::data_error was thrown");
  return {};
}

template <class F>
std::string invalid_of(F&& f) {
  try {
    f();
  } catch (const fda::invalid_argument& e) {
    return e.what();
  }
  FAIL("no fda::invalid_argument was thrown");
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The real Fashion-MNIST files

TEST_CASE("Fashion-MNIST reads with the documented shape, labels and pixel statistics", "[data][idx]") {
  if (!have_fashion_mnist()) {
    WARN("skipped: Fashion-MNIST not found in " << fmnist_dir << " (apt install dataset-fashion-mnist)");
    return;
  }
  const auto raw = fda::data::read_idx(fmnist_dir / "t10k-images-idx3-ubyte.gz");
  CHECK(raw.dims == std::vector<std::size_t>{10000, 28, 28});
  CHECK(raw.data.size() == 10000u * 28 * 28);

  for (const bool train : {true, false}) {
    const auto& d = fmnist(train);
    const std::size_t n = train ? 60000 : 10000;
    INFO((train ? "train" : "t10k"));
    CHECK(d.count == n);
    CHECK(d.rows == 28);
    CHECK(d.cols == 28);
    CHECK(d.pixels() == 784);
    CHECK(d.classes == 10);
    REQUIRE(d.labels.size() == n);
    REQUIRE(d.images.size() == n * 784);
    std::array<std::size_t, 256> per_class{};
    for (auto l : d.labels) ++per_class[l];
    for (std::size_t c = 0; c < 10; ++c) CHECK(per_class[c] == n / 10);
    CHECK(std::accumulate(per_class.begin(), per_class.begin() + 10, std::size_t{0}) == n);

    const auto [lo, hi] = std::minmax_element(d.images.begin(), d.images.end());
    CHECK(*lo == 0.0f);
    CHECK(*hi == 1.0f);
    const double mean = std::accumulate(d.images.begin(), d.images.end(), 0.0) / double(d.images.size());
    // Measured with Python's gzip module on the same files: 0.286041 (train), 0.286849 (t10k).
    CHECK(mean == Approx(train ? 0.28604 : 0.28685).margin(1e-3));
  }
  // The scaling is v/255 exactly, pixel for pixel, against the raw bytes.
  const auto& test = fmnist(false);
  for (std::size_t i = 0; i < raw.data.size(); i += 997) CHECK(test.images[i] == float(raw.data[i]) / 255.0f);
}

TEST_CASE("subset and head copy the right examples", "[data][idx]") {
  temp_dir tmp;
  // 5 images of 2x3, image i all pixels = 50·i; labels 4, 3, 2, 1, 0.
  std::vector<std::uint8_t> pixels;
  for (std::uint8_t i = 0; i < 5; ++i) pixels.insert(pixels.end(), 6, std::uint8_t(50 * i));
  const auto images = tmp.write_gz("img.gz", idx_bytes({5, 2, 3}, pixels));
  const auto labels = tmp.write("lab", idx_bytes({5}, {4, 3, 2, 1, 0}));
  const auto d = fda::data::load_idx_dataset(images, labels);
  CHECK(d.count == 5);
  CHECK(d.rows == 2);
  CHECK(d.cols == 3);
  CHECK(d.classes == 5);
  CHECK(d.images[0] == 0.0f);
  CHECK(d.images.back() == 200.0f / 255.0f);

  const std::vector<std::size_t> pick{4, 1, 1};
  const auto s = fda::data::subset(d, pick);
  CHECK(s.count == 3);
  CHECK(s.classes == 5);
  CHECK(s.labels == std::vector<std::uint8_t>{0, 3, 3});
  REQUIRE(s.images.size() == 18);
  CHECK(s.image(0)[5] == d.image(4)[5]);
  CHECK(s.image(2)[0] == d.image(1)[0]);

  const auto h = fda::data::head(d, 2);
  CHECK(h.count == 2);
  CHECK(h.labels == std::vector<std::uint8_t>{4, 3});
  CHECK(std::vector<float>(h.images) == std::vector<float>(d.images.begin(), d.images.begin() + 12));

  const std::vector<std::size_t> out_of_range{0, 5};
  CHECK_THAT(invalid_of([&] { fda::data::subset(d, out_of_range); }), Contains("indices[1] = 5") && Contains("5 examples"));
  CHECK_THAT(invalid_of([&] { fda::data::head(d, 6); }), Contains("n = 6"));

  if (have_fashion_mnist()) {
    const auto h100 = fda::data::head(fmnist(false), 100);
    CHECK(h100.count == 100);
    CHECK(h100.labels[99] == fmnist(false).labels[99]);
  }
}

// ---------------------------------------------------------------------------------------
// Bad files: every one throws data_error naming the file and the problem

TEST_CASE("read_idx reads plain and gzip IDX files alike", "[data][idx]") {
  temp_dir tmp;
  const auto data = image_like(4 * 3 * 2 * 5, 1);
  const auto bytes = idx_bytes({4, 3, 2, 5}, data);
  for (const auto& p : {tmp.write("a-idx4", bytes), tmp.write_gz("a-idx4.gz", bytes)}) {
    const auto a = fda::data::read_idx(p);
    CHECK(a.dims == std::vector<std::size_t>{4, 3, 2, 5});
    CHECK(a.data == data);
  }
}

TEST_CASE("read_idx parses bytes in memory as it parses a file", "[data][idx]") {
  temp_dir tmp;
  const auto data = image_like(2 * 3 * 40, 7);
  const auto plain = idx_bytes({2, 3, 40}, data);
  const auto gz = file_bytes(tmp.write_gz("m.gz", plain));
  for (const auto* bytes : {&plain, &gz}) {
    const auto a = fda::data::read_idx(std::span<const std::uint8_t>(*bytes), "in memory");
    CHECK(a.dims == std::vector<std::size_t>{2, 3, 40});
    CHECK(a.data == data);
  }

  SECTION("concatenated gzip members read as one stream") {
    const std::vector<std::uint8_t> first(plain.begin(), plain.begin() + 100), second(plain.begin() + 100, plain.end());
    auto both = file_bytes(tmp.write_gz("1.gz", first));
    const auto tail = file_bytes(tmp.write_gz("2.gz", second));
    both.insert(both.end(), tail.begin(), tail.end());
    CHECK(fda::data::read_idx(std::span<const std::uint8_t>(both)).data == data);
  }
  SECTION("bytes after the gzip stream that start no member") {
    auto bytes = gz;
    bytes.insert(bytes.end(), {1, 2, 3});
    CHECK_THAT(error_of([&] { fda::data::read_idx(std::span<const std::uint8_t>(bytes), "buffer-name"); }),
               Contains("buffer-name: corrupt gzip stream: 3 bytes after its end"));
  }
  SECTION("a gzip magic and nothing more") {
    const std::vector<std::uint8_t> bytes{0x1f, 0x8b};
    CHECK_THAT(error_of([&] { fda::data::read_idx(std::span<const std::uint8_t>(bytes), "stub"); }),
               Contains("stub: corrupt gzip stream: it ends early"));
  }
  SECTION("a data set from two buffers") {
    const auto images = idx_bytes({3, 2, 2}, {0, 255, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8});
    const auto labels = idx_bytes({3}, {4, 0, 2});
    const auto d = fda::data::load_idx_dataset(images, labels);
    CHECK(d.count == 3);
    CHECK(d.classes == 5);
    CHECK(d.image(0)[1] == 1.0f);
    CHECK_THAT(error_of([&] { fda::data::load_idx_dataset(images, idx_bytes({2}, {0, 1}), "imgs", "lbls"); }),
               Contains("imgs holds 3 images but lbls holds 2 labels"));
  }
}

TEST_CASE("read_idx rejects malformed headers", "[data][idx]") {
  temp_dir tmp;
  const auto data = image_like(60, 2);

  SECTION("wrong magic") {
    auto bytes = idx_bytes({60}, data);
    bytes[0] = 0x1f;
    const auto p = tmp.write("wrong-magic-idx1-ubyte", bytes);
    CHECK_THAT(error_of([&] { fda::data::read_idx(p); }),
               Contains("wrong-magic-idx1-ubyte") && Contains("not an IDX file") && Contains("0x1f000801"));
  }
  SECTION("unsupported type code") {
    const auto p = tmp.write_gz("floats-idx1.gz", idx_bytes({15}, data, 0x0D));
    CHECK_THAT(error_of([&] { fda::data::read_idx(p); }),
               Contains("floats-idx1.gz") && Contains("type code 0x0d") && Contains("float32") &&
                   Contains("only 0x08"));
    const auto q = tmp.write("junk-type", idx_bytes({60}, data, 0x42));
    CHECK_THAT(error_of([&] { fda::data::read_idx(q); }), Contains("junk-type") && Contains("0x42"));
  }
  SECTION("zero or too many dimensions") {
    const auto p = tmp.write("zero-ndims", idx_bytes({}, data));
    CHECK_THAT(error_of([&] { fda::data::read_idx(p); }), Contains("zero-ndims") && Contains("0 dimensions"));
    const auto q = tmp.write("five-dims", idx_bytes({1, 2, 3, 2, 5}, data));
    CHECK_THAT(error_of([&] { fda::data::read_idx(q); }), Contains("five-dims") && Contains("5 dimensions"));
  }
  SECTION("a dimension of 0") {
    const auto p = tmp.write_gz("zero-dim.gz", idx_bytes({6, 0, 10}, {}));
    CHECK_THAT(error_of([&] { fda::data::read_idx(p); }),
               Contains("zero-dim.gz") && Contains("dimension 2 of 3 is 0"));
  }
  SECTION("dimensions whose product overflows") {
    const auto p = tmp.write("huge", idx_bytes({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, data));
    CHECK_THAT(error_of([&] { fda::data::read_idx(p); }), Contains("huge") && Contains("more elements than fit"));
  }
  SECTION("empty file and truncated header") {
    const auto p = tmp.write("empty", {});
    CHECK_THAT(error_of([&] { fda::data::read_idx(p); }), Contains("empty") && Contains("truncated"));
    auto bytes = idx_bytes({60000, 28, 28}, {});
    bytes.resize(10);
    const auto q = tmp.write_gz("short-header.gz", bytes);
    CHECK_THAT(error_of([&] { fda::data::read_idx(q); }),
               Contains("short-header.gz") && Contains("truncated") && Contains("3 dimensions"));
  }
  SECTION("a missing file or a directory") {
    const auto p = tmp.path / "no-such-file-idx3-ubyte.gz";
    CHECK_THAT(error_of([&] { fda::data::read_idx(p); }),
               Contains("no-such-file-idx3-ubyte.gz") && Contains("no such file"));
    CHECK_THAT(error_of([&] { fda::data::read_idx(tmp.path); }), Contains("directory"));
  }
}

TEST_CASE("read_idx rejects data that does not match the header", "[data][idx]") {
  temp_dir tmp;
  const auto data = image_like(1000, 3);

  SECTION("truncated data, plain and gzip") {
    const auto bytes = idx_bytes({60000, 28, 28}, data);
    for (const auto& p : {tmp.write("train-images-idx3-ubyte", bytes), tmp.write_gz("train-images-idx3-ubyte.gz", bytes)})
      CHECK_THAT(error_of([&] { fda::data::read_idx(p); }),
                 Contains(p.filename().string() + ": truncated: header says 60000x28x28") &&
                     Contains("47040000 bytes") && Contains("the file has 1000 bytes of data"));
  }
  SECTION("trailing bytes, plain and gzip") {
    auto bytes = idx_bytes({10, 10, 10}, data);
    bytes.insert(bytes.end(), {1, 2, 3});
    for (const auto& p : {tmp.write("trailing", bytes), tmp.write_gz("trailing.gz", bytes)})
      CHECK_THAT(error_of([&] { fda::data::read_idx(p); }),
                 Contains(p.filename().string()) && Contains("trailing garbage: 3 bytes after the 1000 bytes"));
  }
  SECTION("a gzip stream cut short") {
    const auto whole = tmp.write_gz("whole.gz", idx_bytes({10000}, image_like(10000, 4)));
    auto gz = file_bytes(whole);
    gz.resize(gz.size() / 2);
    const auto p = tmp.write("cut.gz", gz);
    CHECK_THAT(error_of([&] { fda::data::read_idx(p); }),
               Contains("cut.gz") && Contains("corrupt gzip stream") && Contains("unexpected end of file"));
  }
  SECTION("a gzip stream with flipped bytes") {
    const auto whole = tmp.write_gz("whole.gz", idx_bytes({100, 100}, image_like(10000, 5)));
    const auto good = file_bytes(whole);
    REQUIRE(good.size() > 200);
    // Several places in the middle: every one must be caught, by inflate or by the CRC.
    for (std::size_t at : {good.size() / 3, good.size() / 2, 2 * good.size() / 3}) {
      auto gz = good;
      for (std::size_t i = 0; i < 4; ++i) gz[at + i] ^= 0xa5;
      const auto p = tmp.write("flipped.gz", gz);
      INFO("flipped at " << at << " of " << gz.size());
      CHECK_THAT(error_of([&] { fda::data::read_idx(p); }), Contains("flipped.gz") && Contains("corrupt gzip stream"));
    }
  }
}

TEST_CASE("load_idx_dataset checks shapes and matching counts", "[data][idx]") {
  temp_dir tmp;
  const auto images = tmp.write_gz("imgs.gz", idx_bytes({4, 2, 2}, image_like(16, 6)));
  const auto labels3 = tmp.write_gz("labels3.gz", idx_bytes({3}, {0, 1, 2}));
  CHECK_THAT(error_of([&] { fda::data::load_idx_dataset(images, labels3); }),
             Contains("imgs.gz holds 4 images") && Contains("labels3.gz holds 3 labels") && Contains("must agree"));

  const auto flat = tmp.write("flat", idx_bytes({4, 4}, image_like(16, 6)));
  CHECK_THAT(error_of([&] { fda::data::load_idx_dataset(flat, labels3); }),
             Contains("flat") && Contains("expected 3 dimensions") && Contains("4x4"));
  const auto labels2d = tmp.write("labels2d", idx_bytes({4, 1}, {0, 1, 2, 3}));
  CHECK_THAT(error_of([&] { fda::data::load_idx_dataset(images, labels2d); }),
             Contains("labels2d") && Contains("expected 1 dimension"));
  const auto missing = tmp.path / "missing-labels.gz";
  CHECK_THAT(error_of([&] { fda::data::load_idx_dataset(images, missing); }),
             Contains("missing-labels.gz") && Contains("no such file"));

  // load_fashion_mnist: the layout, its shape check and its 10 classes.
  const auto dir = tmp.path / "fm";
  fs::create_directories(dir);
  std::vector<std::uint8_t> px(3 * 28 * 28, 255);
  std::ofstream(dir / "t10k-images-idx3-ubyte", std::ios::binary)
      .write(reinterpret_cast<const char*>(idx_bytes({3, 28, 28}, px).data()), 16 + std::streamsize(px.size()));
  fs::copy_file(tmp.write_gz("l.gz", idx_bytes({3}, {9, 0, 10})), dir / "t10k-labels-idx1-ubyte.gz");
  CHECK_THAT(error_of([&] { fda::data::load_fashion_mnist(dir, false); }),
             Contains("t10k-labels-idx1-ubyte.gz") && Contains("label 10 at index 2"));
  CHECK_THAT(error_of([&] { fda::data::load_fashion_mnist(dir, true); }),
             Contains("train-images-idx3-ubyte.gz") && Contains("no such file"));
}

// ---------------------------------------------------------------------------------------
// Partitioners

namespace {

/// Every index in [0, n) exactly once, no worker empty.
void check_partition(const parts_t& parts, std::size_t n, std::size_t workers) {
  REQUIRE(parts.size() == workers);
  std::vector<int> seen(n, 0);
  for (const auto& p : parts) {
    CHECK(!p.empty());
    CHECK(std::is_sorted(p.begin(), p.end()));
    for (auto i : p) {
      REQUIRE(i < n);
      ++seen[i];
    }
  }
  CHECK(std::count(seen.begin(), seen.end(), 1) == std::ptrdiff_t(n));
}

std::array<std::size_t, 256> histogram(const std::vector<std::size_t>& part, std::span<const std::uint8_t> labels) {
  std::array<std::size_t, 256> h{};
  for (auto i : part) ++h[labels[i]];
  return h;
}

std::size_t classes_seen(const std::vector<std::size_t>& part, std::span<const std::uint8_t> labels) {
  const auto h = histogram(part, labels);
  return std::size_t(std::count_if(h.begin(), h.end(), [](auto c) { return c > 0; }));
}

/// Mean over workers of the total-variation distance between the worker's label
/// distribution and the whole set's: 0 for perfectly IID, near 1 for disjoint labels.
double mean_tv(const parts_t& parts, std::span<const std::uint8_t> labels) {
  std::vector<std::size_t> all(labels.size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  const auto global = histogram(all, labels);
  double sum = 0;
  for (const auto& p : parts) {
    const auto h = histogram(p, labels);
    double tv = 0;
    for (std::size_t c = 0; c < 256; ++c)
      tv += std::abs(double(h[c]) / double(p.size()) - double(global[c]) / double(labels.size()));
    sum += tv / 2;
  }
  return sum / double(parts.size());
}

std::pair<std::size_t, std::size_t> size_range(const parts_t& parts) {
  const auto [lo, hi] = std::minmax_element(parts.begin(), parts.end(), [](auto& a, auto& b) { return a.size() < b.size(); });
  return {lo->size(), hi->size()};
}

}  // namespace

TEST_CASE("the RNG behind the partitioners is pinned", "[data][partition]") {
  // Fixed by the standard (mt19937_64) plus our own Fisher–Yates and Lemire draws, so these
  // values hold on every standard library; a change here changes every split ever made.
  fda::data::detail::rng g(1);
  auto v = fda::data::detail::iota(10);
  fda::data::detail::shuffle(v, g);
  const std::vector<std::size_t> pinned{5, 7, 6, 8, 4, 2, 0, 3, 9, 1};
  CHECK(v == pinned);
  fda::data::detail::rng h(42);
  std::array<std::uint64_t, 1000> counts{};
  for (int i = 0; i < 100000; ++i) ++counts[h.below(1000)];
  CHECK(*std::min_element(counts.begin(), counts.end()) > 50);
  CHECK(*std::max_element(counts.begin(), counts.end()) < 150);
}

TEST_CASE("the gamma sampler has the right mean and variance", "[data][partition]") {
  for (const double a : {0.1, 0.5, 1.0, 3.0, 1000.0}) {
    fda::data::detail::rng g(9);
    const int n = 200000;
    double sum = 0, sum_sq = 0;
    for (int i = 0; i < n; ++i) {
      const double x = std::exp(g.log_gamma(a));
      sum += x;
      sum_sq += x * x;
    }
    const double mean = sum / n, var = sum_sq / n - mean * mean;
    INFO("alpha = " << a << ": mean " << mean << ", variance " << var);
    CHECK(mean == Approx(a).epsilon(0.02));  // Gamma(a, 1): mean a, variance a
    CHECK(var == Approx(a).epsilon(0.05));
  }
}

TEST_CASE("iid: near-equal shards with the global label mix", "[data][partition]") {
  const auto& labels = train_labels();
  for (const std::size_t k : {1u, 7u, 10u, 100u}) {
    const auto parts = fda::data::partition_iid(labels, k, 123);
    check_partition(parts, labels.size(), k);
    const auto [lo, hi] = size_range(parts);
    CHECK(hi - lo <= 1);
  }
  const auto parts = fda::data::partition_iid(labels, 10, 123);
  for (const auto& p : parts) {
    const auto h = histogram(p, labels);
    for (std::size_t c = 0; c < 10; ++c) CHECK(std::abs(double(h[c]) / double(p.size()) - 0.1) < 0.02);
  }
  CHECK(mean_tv(parts, labels) < 0.03);
}

TEST_CASE("sorted: beta = 1 gives each worker few labels, beta = 0 is IID", "[data][partition]") {
  const auto& labels = train_labels();
  for (const double beta : {0.0, 0.3, 0.5, 1.0}) {
    for (const std::size_t k : {10u, 13u, 100u}) {
      const auto parts = fda::data::partition_sorted(labels, k, beta, 5);
      check_partition(parts, labels.size(), k);
      const auto [lo, hi] = size_range(parts);
      CHECK(hi - lo <= 1);
    }
  }
  // β = 1, K = 10, 6000 of each label: worker k holds exactly label k.
  const auto full = fda::data::partition_sorted(labels, 10, 1.0, 5);
  for (const auto& p : full) CHECK(classes_seen(p, labels) == 1);
  for (const auto& p : fda::data::partition_sorted(labels, 13, 1.0, 5)) CHECK(classes_seen(p, labels) <= 2);
  const double tv0 = mean_tv(fda::data::partition_sorted(labels, 10, 0.0, 5), labels);
  const double tv5 = mean_tv(fda::data::partition_sorted(labels, 10, 0.5, 5), labels);
  const double tv1 = mean_tv(full, labels);
  INFO("mean TV: beta 0 " << tv0 << ", 0.5 " << tv5 << ", 1 " << tv1);
  CHECK(tv0 < 0.03);
  CHECK(tv5 == Approx(0.45).margin(0.03));  // half of each worker is one label: TV = 0.5·0.9
  CHECK(tv1 == Approx(0.9));
  CHECK_THAT(invalid_of([&] { fda::data::partition_sorted(labels, 10, 1.5, 5); }), Contains("beta = 1.5"));
}

TEST_CASE("label: every example of L at label_workers(K) workers only", "[data][partition]") {
  const auto& labels = train_labels();
  CHECK(fda::data::label_workers(1) == 1);
  CHECK(fda::data::label_workers(10) == 1);
  CHECK(fda::data::label_workers(16) == 2);
  CHECK(fda::data::label_workers(100) == 12);
  for (const std::size_t k : {1u, 10u, 16u, 100u}) {
    for (const unsigned l : {0u, 7u}) {
      const auto parts = fda::data::partition_label(labels, k, l, 11);
      check_partition(parts, labels.size(), k);
      std::size_t holders = 0, with_l = 0;
      std::vector<std::size_t> l_counts;
      for (const auto& p : parts) {
        const auto h = histogram(p, labels);
        if (h[l]) {
          ++holders;
          with_l += h[l];
          l_counts.push_back(h[l]);
        }
        // Apart from L, the mix is IID: each other label near 1/9 of the rest.
        if (k <= 16)
          for (std::size_t c = 0; c < 10; ++c)
            if (c != l) CHECK(std::abs(double(h[c]) / double(p.size() - h[l]) - 1.0 / 9) < 0.03);
      }
      CHECK(holders == fda::data::label_workers(k));
      CHECK(with_l == 6000);
      const auto [lo, hi] = std::minmax_element(l_counts.begin(), l_counts.end());
      CHECK(*hi - *lo <= 1);
    }
  }
  CHECK_THAT(invalid_of([&] { fda::data::partition_label(labels, 10, 10, 1); }), Contains("label 10 does not occur"));
}

TEST_CASE("dirichlet: alpha sets the skew, no worker is empty", "[data][partition]") {
  const auto& labels = train_labels();
  double tv[3];
  const double alphas[3] = {0.1, 1.0, 1000.0};
  for (int a = 0; a < 3; ++a) {
    const auto parts = fda::data::partition_dirichlet(labels, 100, alphas[a], 17);
    check_partition(parts, labels.size(), 100);
    tv[a] = mean_tv(parts, labels);
    const auto [lo, hi] = size_range(parts);
    UNSCOPED_INFO("dirichlet:" << alphas[a] << ", K = 100: mean TV to the global label mix " << tv[a] << ", sizes " << lo
                      << ".." << hi);
  }
  CHECK(tv[0] > 0.6);
  CHECK(tv[1] > 0.3);
  CHECK(tv[1] < tv[0]);
  CHECK(tv[2] < 0.05);
  const auto k10 = fda::data::partition_dirichlet(labels, 10, 0.1, 17);
  check_partition(k10, labels.size(), 10);
  CHECK(mean_tv(k10, labels) > 0.5);

  // Tiny α and K = n: most draws give a worker nothing; the repair still fills every one.
  std::vector<std::uint8_t> few(30);
  for (std::size_t i = 0; i < few.size(); ++i) few[i] = std::uint8_t(i % 3);
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    check_partition(fda::data::partition_dirichlet(few, 30, 0.01, seed), 30, 30);
    check_partition(fda::data::partition_dirichlet(few, 20, 0.001, seed), 30, 20);
  }
  // α so small that log U / α overflows for every worker (found by fuzz/cli.cpp): each label
  // goes whole to one worker, where it once cast NaN to an integer.
  for (const double alpha : {1e-320, 5e-324}) {
    const auto parts = fda::data::partition_dirichlet(labels, 10, alpha, 3);
    check_partition(parts, labels.size(), 10);
    std::size_t single_label = 0;
    for (const auto& p : parts) {
      std::set<std::uint8_t> seen;
      for (const auto i : p) seen.insert(labels[i]);
      single_label += seen.size() == 1;
    }
    CHECK(single_label >= 1);
  }
  CHECK_THAT(invalid_of([&] { fda::data::partition_dirichlet(labels, 10, 0.0, 1); }), Contains("alpha = 0"));
}

TEST_CASE("shards: two label-sorted shards per worker", "[data][partition]") {
  const auto& labels = train_labels();
  for (const std::size_t k : {5u, 10u, 100u, 300u}) {
    const auto parts = fda::data::partition_shards(labels, k, 3);
    check_partition(parts, labels.size(), k);
    const auto [lo, hi] = size_range(parts);
    CHECK(hi - lo <= 2);
    for (const auto& p : parts) CHECK(classes_seen(p, labels) <= 4);
    if (k == 100) {
      std::size_t most = 0;
      for (const auto& p : parts) most = std::max(most, classes_seen(p, labels));
      CHECK(most <= 2);  // 300-example shards inside 6000-example labels
      CHECK(mean_tv(parts, labels) > 0.8);
    }
  }
  // 2K > n: not enough for two shards each. An odd n keeps every example.
  const std::vector<std::uint8_t> seven{0, 1, 2, 0, 1, 2, 0};
  check_partition(fda::data::partition_shards(seven, 3, 1), 7, 3);
  CHECK_THAT(invalid_of([&] { fda::data::partition_shards(seven, 4, 1); }), Contains("2K = 8 shards"));
}

namespace {

/// What is wrong with `parts` as a split of n examples among K workers ("" when nothing):
/// K shards, each non-empty and strictly ascending, together every index once.
std::string partition_problem(const parts_t& parts, std::size_t n, std::size_t workers) {
  if (parts.size() != workers) return std::to_string(parts.size()) + " shards";
  std::vector<int> seen(n, 0);
  for (std::size_t k = 0; k < workers; ++k) {
    const auto& p = parts[k];
    if (p.empty()) return "worker " + std::to_string(k) + " is empty";
    if (std::adjacent_find(p.begin(), p.end(), std::greater_equal<>()) != p.end())
      return "worker " + std::to_string(k) + " is not strictly ascending";
    for (const auto i : p) {
      if (i >= n) return "index " + std::to_string(i) + " out of range";
      ++seen[i];
    }
  }
  const auto once = std::count(seen.begin(), seen.end(), 1);
  return once == std::ptrdiff_t(n) ? "" : std::to_string(n - std::size_t(once)) + " examples not exactly once";
}

}  // namespace

TEST_CASE("every scheme gives K non-empty shards or refuses on small and skewed label sets", "[data][partition]") {
  // fda-train's workers draw batches from their shards, so an empty one must never come out
  // (partition_label once returned two for 10 examples and K = 10). n from K to 3K, labels
  // uniform over a few classes, one label dominating, or a single label; K = 1..17.
  std::mt19937_64 rng(2024);
  struct tally {
    std::size_t made = 0, refused = 0;
  };
  std::map<std::string, tally> outcomes;
  for (std::size_t k = 1; k <= 17; ++k) {
    for (int trial = 0; trial < 60; ++trial) {
      const std::size_t n = k + std::size_t(rng() % (2 * k + 1));
      const auto top = std::uint8_t(rng() % 10);
      const auto classes = 1 + rng() % 10;
      std::vector<std::uint8_t> labels(n);
      for (auto& l : labels) {
        switch (trial % 3) {
          case 0: l = std::uint8_t(rng() % classes); break;               // a few classes
          case 1: l = rng() % 10 < 9 ? top : std::uint8_t(rng() % 10); break;  // one dominates
          default: l = top;                                                 // a single label
        }
      }
      const unsigned present = labels[rng() % n];
      const std::size_t others = std::size_t(std::count_if(labels.begin(), labels.end(), [&](auto l) { return l != present; }));
      for (const std::string& text : std::vector<std::string>{"iid", "sorted:0.5", "sorted:1", "dirichlet:0.05",
                                                              "dirichlet:1", "dirichlet:100", "shards",
                                                              "label:" + std::to_string(present)}) {
        const auto spec = fda::data::parse_partition(text);
        const std::string scheme = text.substr(0, text.find(':'));
        for (int s = 0; s < 3; ++s) {
          const std::uint64_t seed = rng();
          INFO(text << ", K = " << k << ", n = " << n << ", seed " << seed);
          try {
            const auto parts = fda::data::make_partition(spec, labels, k, seed);
            CHECK(partition_problem(parts, n, k) == "");
            ++outcomes[scheme].made;
          } catch (const fda::invalid_argument& e) {
            ++outcomes[scheme].refused;
            CHECK_THAT(e.what(), Contains("fda::data::partition_" + scheme) && Contains("K = " + std::to_string(k)));
            // Refused only where it must be: shards needs 2K examples, label K of other labels.
            if (scheme == "shards") CHECK(n < 2 * k);
            else if (scheme == "label") CHECK(others < k);
            else FAIL_CHECK("n >= K, yet " << text << " refused: " << e.what());
          }
        }
      }
    }
  }
  for (const auto& [scheme, t] : outcomes) {
    UNSCOPED_INFO(scheme << ": " << t.made << " splits, " << t.refused << " refused");
    CHECK(t.made > 0);
  }
  CHECK(outcomes["label"].refused > 0);  // the case of the bug is among them
  CHECK(outcomes["shards"].refused > 0);
}

TEST_CASE("label: refuses to leave a worker empty, and says how many examples it needs", "[data][partition]") {
  // 9 examples of label 0 and 1 of label 1, K = 10 (as the first 10 Fashion-MNIST images
  // with label:0 once left workers empty): one worker gets the 9, one the other, 8 or 9 nothing.
  std::vector<std::uint8_t> labels(10, 0);
  labels[4] = 1;
  const auto msg = invalid_of([&] { fda::data::partition_label(labels, 10, 0, 1); });
  CHECK_THAT(msg, Contains("fda::data::partition_label: K = 10 workers with label 0 would leave ") &&
                      Contains("needs at least K = 10 examples of labels other than 0 (it has 1)"));
  // With K examples of other labels every worker has one, whatever the seed.
  std::vector<std::uint8_t> enough(20, 0);
  for (std::size_t i = 0; i < 10; ++i) enough[2 * i] = 1;
  for (std::uint64_t seed = 0; seed < 20; ++seed)
    CHECK(partition_problem(fda::data::partition_label(enough, 10, 0, seed), 20, 10) == "");
  if (have_fashion_mnist()) {  // the case of the bug report
    const auto first10 = fda::data::head(fmnist(true), 10);
    CHECK_THAT(invalid_of([&] { fda::data::partition_label(first10.labels, 10, 0, 1); }),
               Contains("K = 10 workers with label 0 would leave"));
  }
}

TEST_CASE("every scheme is deterministic in its seed and checks K", "[data][partition]") {
  const auto& labels = train_labels();
  for (const char* text : {"iid", "sorted:0.5", "label:3", "dirichlet:0.5", "shards"}) {
    INFO(text);
    const auto spec = fda::data::parse_partition(text);
    const auto a = fda::data::make_partition(spec, labels, 10, 99);
    check_partition(a, labels.size(), 10);
    CHECK(a == fda::data::make_partition(spec, labels, 10, 99));
    CHECK(a != fda::data::make_partition(spec, labels, 10, 100));
    CHECK_THAT(invalid_of([&] { fda::data::make_partition(spec, labels, 0, 1); }), Contains("K = 0 workers"));
    CHECK_THAT(invalid_of([&] { fda::data::make_partition(spec, labels, 60001, 1); }),
               Contains("K = 60001 workers but only 60000 examples"));
  }
  CHECK_THAT(invalid_of([] { fda::data::partition_iid({}, 1, 1); }), Contains("only 0 examples"));
}

TEST_CASE("parse_partition accepts the CLI syntax and explains what it rejects", "[data][partition]") {
  using fda::data::partition_scheme;
  using fda::data::partition_spec;
  CHECK(fda::data::parse_partition("iid") == partition_spec{});
  CHECK(fda::data::parse_partition("shards") == partition_spec{.scheme = partition_scheme::shards});
  CHECK(fda::data::parse_partition("sorted:0.25") == partition_spec{.scheme = partition_scheme::sorted, .beta = 0.25});
  CHECK(fda::data::parse_partition("sorted:1") == partition_spec{.scheme = partition_scheme::sorted, .beta = 1});
  CHECK(fda::data::parse_partition("sorted:0") == partition_spec{.scheme = partition_scheme::sorted, .beta = 0});
  CHECK(fda::data::parse_partition("label:0") == partition_spec{.scheme = partition_scheme::label});
  CHECK(fda::data::parse_partition("label:255") == partition_spec{.scheme = partition_scheme::label, .label = 255});
  CHECK(fda::data::parse_partition("dirichlet:0.1") ==
        partition_spec{.scheme = partition_scheme::dirichlet, .alpha = 0.1});
  CHECK(fda::data::parse_partition("dirichlet:1e3").alpha == 1000.0);
  for (const char* text : {"iid", "shards", "sorted:0.3", "label:7", "dirichlet:0.1", "dirichlet:1000"})
    CHECK(fda::data::to_string(fda::data::parse_partition(text)) == text);

  const std::pair<const char*, const char*> rejected[] = {
      {"sorted:1.5", "beta = 1.5 is outside [0, 1]"},
      {"sorted:-0.1", "beta = -0.10000000000000001 is outside [0, 1]"},
      {"sorted:", "sorted needs a parameter"},
      {"sorted", "sorted needs a parameter"},
      {"sorted:half", "beta = \"half\" is not a number"},
      {"sorted:nan", "is not a number"},
      {"dirichlet:0", "alpha = 0 must be > 0"},
      {"dirichlet:-1", "alpha = -1 must be > 0"},
      {"dirichlet:abc", "alpha = \"abc\" is not a number"},
      {"dirichlet:inf", "is not a number"},
      {"dirichlet:0.1x", "is not a number"},
      {"label:1.5", "L = \"1.5\" is not an integer"},
      {"label:-1", "is not an integer"},
      {"label:x", "is not an integer"},
      {"label:256", "L = 256 is not a label"},
      {"label:99999999999999", "is not a label"},
      {"label", "label needs a parameter"},
      {"iid:3", "iid takes no parameter"},
      {"shards:2", "shards takes no parameter"},
      {"IID", "unknown scheme \"IID\""},
      {"", "unknown scheme \"\""},
      {"pathological:1", "unknown scheme \"pathological\""},
  };
  for (const auto& entry : rejected) {
    const std::string text = entry.first, why = entry.second;  // (clang 14 cannot capture a binding)
    INFO(text);
    const auto msg = invalid_of([&] { fda::data::parse_partition(text); });
    CHECK_THAT(msg, Contains("\"" + text + "\"") && Contains(why) && Contains("expected iid |"));
  }
}
