// SPDX-License-Identifier: Apache-2.0
// Must not compile: a transport without average(); fda::train names the missing member.
#include <fda/fda.hpp>

#include <span>
#include <string>
#include <vector>

struct half_transport {  // everything but average()
  std::size_t rank() const { return 0; }
  std::size_t size() const { return 1; }
  void barrier() {}
  void all_reduce_sum(std::span<double>) {}
  template <class T, class U>
  void broadcast(const fda::param_view<const T>&, std::span<U>) {}
  template <class F>
  void serial(F&& f) { f(); }
  template <class F>
  bool root_says(F&& f) { return f(); }
  std::vector<std::string> gather_bytes(std::string s) { return {s}; }
  std::string scatter_bytes(const std::vector<std::string>& all) { return all[0]; }
  void broadcast_bytes(std::string&) {}
};

struct worker {
  std::vector<float> w = std::vector<float>(4);
  std::vector<float>& params() { return w; }
  void step() {}
};

int main() {
  half_transport comm;
  worker w;
  fda::train(comm, w, fda::linear_fda{.theta = 1.0}, fda::mean{}, {.max_steps = 1});
}
