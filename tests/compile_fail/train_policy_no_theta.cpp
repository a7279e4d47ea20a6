// SPDX-License-Identifier: Apache-2.0
// Must not compile: a policy whose monitor lacks theta(); fda::train names the member.
#include <fda/fda.hpp>

#include <span>
#include <string_view>
#include <vector>

struct no_theta {
  static constexpr std::string_view name = "no_theta";
  template <class T, class Space = fda::host_space>
  struct monitor {
    monitor(const no_theta&, const fda::run_info&) {}
    std::size_t state_size() const { return 1; }
    std::size_t state_bytes() const { return 4; }
    bool checks_at(std::size_t) const { return true; }
    template <class W, class W0>
    void local_state(const W&, const W0&, std::span<double> out) const { out[0] = 0; }
    fda::decision decide(std::span<const double>, std::size_t) const { return {}; }
    template <class X, class Y>
    void on_sync(const X&, const Y&, const fda::sync_info&) {}
    const char* field_name(std::size_t) const { return "x"; }
  };
};

struct worker {
  std::vector<float> w = std::vector<float>(4);
  std::vector<float>& params() { return w; }
  void step() {}
};

int main() {
  fda::local_cluster cluster(2);
  fda::train(cluster, [](std::size_t) { return worker{}; }, no_theta{}, fda::mean{}, {.max_steps = 1});
}
