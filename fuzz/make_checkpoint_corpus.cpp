// SPDX-License-Identifier: Apache-2.0
// Regenerates fuzz/corpus/checkpoint's valid inputs (and the ones derived from them) with the
// current format: a real run of K = 2 workers, d = 8, linear_fda + fedadam, 12 steps. Run it
// after any change of the checkpoint format (checkpoint_version):
//   c++ -std=c++20 -ffp-contract=off -Iinclude fuzz/make_checkpoint_corpus.cpp -o /tmp/make_corpus -pthread
//   /tmp/make_corpus fuzz/corpus/checkpoint
#include <fda/fda.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

struct worker {  // as fuzz/checkpoint.cpp's: parameters and one counter
  std::size_t rank;
  std::vector<float> w = std::vector<float>(8, 0.0f);
  std::uint64_t t = 0;
  std::vector<float>& params() { return w; }
  void step() {
    ++t;
    for (std::size_t i = 0; i < w.size(); ++i) w[i] += 0.01f * float((rank + 1) * (i % 3 + 1)) + 0.002f * float(t % 5);
  }
  void save(fda::checkpoint_writer& out) { out(t); }
  void load(fda::checkpoint_reader& in) { in(t); }
};

static std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
static void spit(const std::string& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

int main(int argc, char** argv) {
  const std::string dir = argv[1];
  const std::string file = (std::filesystem::temp_directory_path() / "fda_corpus_checkpoint").string();
  std::filesystem::remove(file);
  fda::local_cluster cluster(2);
  const auto r = fda::train(cluster, [](std::size_t rank) { return worker{rank}; }, fda::linear_fda{.theta = 0.01},
                            fda::fedadam{}, {.max_steps = 12, .seed = 1, .checkpoint_path = file});
  const std::string all = slurp(file);
  const std::string payload = fda::detail::checkpoint_payload(all, file);
  std::filesystem::remove(file);
  const std::string valid_file = std::string(1, '\0') + all, valid_payload = std::string(1, '\1') + payload;
  spit(dir + "/valid-file", valid_file);
  spit(dir + "/valid-payload", valid_payload);
  std::string flipped = valid_file;  // "linear_fda" -> "linear_gda": the checksum no longer matches
  const auto at = flipped.find("linear_fda");
  flipped[at + 7] = 'g';
  spit(dir + "/flipped-byte", flipped);
  spit(dir + "/truncated-file", valid_file.substr(0, valid_file.size() - 9));
  spit(dir + "/truncated-payload", valid_payload.substr(0, valid_payload.size() / 2));
  std::string wrong_tag = valid_payload;  // the policy's string tag 's' -> 'd'
  wrong_tag[1] = 'd';
  spit(dir + "/wrong-tag-payload", wrong_tag);
  std::printf("syncs %zu, file %zu bytes\n", std::size_t(r.syncs), all.size());
}
