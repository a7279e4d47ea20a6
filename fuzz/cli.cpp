// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the text parsers behind fda-train's command-line values.
//   fda::data::parse_partition  "iid | sorted:β | label:L | dirichlet:α | shards"
//   fda::parse_threshold        "adaptive | Θ >= 0"
// Every input gives a value or throws fda::invalid_argument. A parsed partition must print
// back (to_string) to text that parses to the same spec, and must split a small labelled
// set into a valid partition (or be refused with fda::invalid_argument, e.g. a label that
// does not occur). A crash, UB or any other exception is a bug.
#include <fda/data/partition.hpp>
#include <fda/threshold.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

/// 60 examples of 6 labels (0..5), in a scrambled but fixed order.
const std::vector<std::uint8_t>& labels() {
  static const std::vector<std::uint8_t> l = [] {
    std::vector<std::uint8_t> v(60);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::uint8_t((i * 7 + i / 10) % 6);
    return v;
  }();
  return l;
}

void check_partition(const fda::data::partition_spec& spec, std::size_t workers, std::uint64_t seed) {
  try {
    const auto parts = fda::data::make_partition(spec, labels(), workers, seed);
    require(parts.size() == workers);
    std::vector<int> seen(labels().size(), 0);
    for (const auto& p : parts) {
      require(!p.empty());
      for (std::size_t j = 0; j < p.size(); ++j) {
        require(p[j] < labels().size());
        require(j == 0 || p[j - 1] < p[j]);  // ascending, hence no repeats within a worker
        ++seen[p[j]];
      }
    }
    for (const int s : seen) require(s == 1);  // every example at exactly one worker
  } catch (const fda::invalid_argument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  try {
    const auto spec = fda::data::parse_partition(text);
    require(fda::data::parse_partition(fda::data::to_string(spec)) == spec);
    // Workers and seed from the text, so that the fuzzer can steer them too.
    std::uint64_t h = 1469598103934665603u;  // FNV-1a
    for (const char c : text) h = (h ^ std::uint8_t(c)) * 1099511628211u;
    check_partition(spec, 1 + h % 12, h >> 8);
  } catch (const fda::invalid_argument&) {
  }

  try {
    const fda::threshold t = fda::parse_threshold(text);
    require(t.is_adaptive() == (text == "adaptive"));
    if (const fda::fixed* f = t.as_fixed()) require(std::isfinite(f->value) && f->value >= 0);
  } catch (const fda::invalid_argument&) {
  }
  return 0;
}
