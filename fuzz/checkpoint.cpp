// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the checkpoint reader (fda/checkpoint.hpp, detail/run_checkpoint.hpp) on
// arbitrary bytes. The first byte picks what is fed:
//   even: a whole file (header, payload, checksum) — what options.resume reads;
//   odd:  a payload, past the checksum (which random bytes would almost never match), so
//         the tagged-value parser and the loaders of the run state and of a worker get
//         the bytes.
// Every input must load or throw fda::checkpoint_error (or fda::invalid_argument for a
// run description this program refuses); anything else is a bug.
#include <fda/aggregate.hpp>
#include <fda/checkpoint.hpp>
#include <fda/detail/run_checkpoint.hpp>
#include <fda/detail/spmd.hpp>
#include <fda/policy.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct worker {  // parameters and one counter, as a checkpointable worker has
  std::vector<float> w;
  std::uint64_t t = 0;
  std::vector<float>& params() { return w; }
  void step() {}
  void save(fda::checkpoint_writer& out) { out(t); }
  void load(fda::checkpoint_reader& in) { in(t); }
};

void parse(const std::string& payload) {
  fda::checkpoint_reader in(payload, "the run record");
  fda::detail::run_identity id;
  id.fields(in);
  std::string shared;
  in(shared);
  if (id.workers == 0 || id.workers > 16 || id.dim == 0 || id.dim > 4096) return;  // small runs only
  std::vector<std::string> parts(id.workers);
  for (auto& p : parts) in(p);
  in.finish();
  const fda::run_info info{id.dim, id.workers, 0, 1, id.seed};
  fda::detail::run_state<float, fda::linear_fda, fda::fedadam> state(fda::linear_fda{.theta = 1.0}, fda::fedadam{}, info);
  fda::detail::load_shared(state, shared);
  for (std::size_t r = 0; r < parts.size(); ++r) {
    worker w{std::vector<float>(id.dim)};
    fda::detail::load_worker(w, parts[r], r);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    parse(data[0] % 2 == 0 ? fda::detail::checkpoint_payload(rest, "the input") : std::string(rest));
  } catch (const fda::checkpoint_error&) {
  } catch (const fda::invalid_argument&) {
  }
  return 0;
}
