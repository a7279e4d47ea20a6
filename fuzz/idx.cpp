// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the IDX reader (fda/data/idx.hpp) on arbitrary bytes, plain or gzip.
// The first byte picks the entry point:
//   even: fda::data::read_idx(bytes after it)
//   odd:  fda::data::load_idx_dataset(images, labels), the rest cut in two at the offset
//         the next two bytes give (little-endian, clamped to the rest's size).
// Every input must give a value that keeps the documented invariants, or throw
// fda::data::data_error. Anything else (a crash, UB, another exception, a broken
// invariant) is a bug.
#include <fda/data/idx.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

namespace {

void require(bool ok) {
  if (!ok) std::abort();  // libFuzzer reports the input that broke the invariant
}

void check(const fda::data::idx_array& a) {
  require(!a.dims.empty() && a.dims.size() <= 4);
  std::size_t total = 1;
  for (const std::size_t d : a.dims) {
    require(d > 0);
    total *= d;
  }
  require(total == a.data.size());
}

void check(const fda::data::dataset& d) {
  require(d.count > 0 && d.rows > 0 && d.cols > 0);
  require(d.images.size() == d.count * d.pixels() && d.labels.size() == d.count);
  require(d.classes >= 1 && d.classes <= 256);
  for (const auto label : d.labels) require(label < d.classes);
  for (const float v : d.images) require(v >= 0.0f && v <= 1.0f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> in(data, size);
  try {
    if ((in[0] & 1) == 0) {
      check(fda::data::read_idx(in.subspan(1), "fuzz"));
    } else {
      if (size < 3) return 0;
      const auto rest = in.subspan(3);
      const std::size_t cut = std::min<std::size_t>(std::size_t(in[1]) | std::size_t(in[2]) << 8, rest.size());
      check(fda::data::load_idx_dataset(rest.first(cut), rest.subspan(cut), "fuzz-images", "fuzz-labels"));
    }
  } catch (const fda::data::data_error&) {
    // a rejected input: the expected outcome for almost every one
  }
  return 0;
}
