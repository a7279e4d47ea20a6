// SPDX-License-Identifier: Apache-2.0
// Must not compile: a policy that declares monitor<T> without a memory space keeps its
// per-run vectors in host memory (here a std::vector<T>), so fda::train refuses it for
// device parameters at its use, with one static_assert line that says how to declare it.
#include <fda/fda.hpp>
#include <fda/thrust.hpp>

#include <string_view>
#include <vector>

struct host_only_policy {
  static constexpr std::string_view name = "host_only_policy";
  fda::threshold theta = 1.0;

  template <class T>
  struct estimator {
    estimator(const host_only_policy&, const fda::run_info& info) : reference(info.dim) {}
    std::vector<T> reference;  // a d-vector in host memory: wrong for device parameters
    std::size_t state_size() const { return 1; }
    std::size_t state_bytes() const { return 4; }
    const char* field_name(std::size_t) const { return "sq_norm"; }
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double) const {
      out[0] = fda::sq_distance(w, w0);
    }
    fda::decision judge(std::span<const double> s, std::size_t k, double theta) const {
      return {s[0] / double(k) > theta, s[0] / double(k)};
    }
    template <class X, class Xp>
    void on_sync(const X&, const Xp&) {}
  };

  template <class T>  // no memory space: host parameters only
  using monitor = fda::threshold_monitor<host_only_policy, estimator<T>>;
};

struct device_worker {
  thrust::device_vector<float> w = thrust::device_vector<float>(10);
  thrust::device_vector<float>& params() { return w; }
  void step() {}
};

int main() {
  fda::local_cluster cluster(2);
  fda::train(cluster, [](std::size_t) { return device_worker{}; }, host_only_policy{}, fda::mean{}, {.max_steps = 1});
}
