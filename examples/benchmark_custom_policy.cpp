// SPDX-License-Identifier: Apache-2.0
// What a policy of your own costs per check, measured as fda's own are: a few lines of
// <fda/benchmark.hpp> (CMake: target_link_libraries(app PRIVATE fda::benchmark)).
//
// drift_cap: sync when the workers' mean drift (1/K) Σ ||w_k − w0||² exceeds Θ; each worker
// sends one number. The benchmark compares its check (one pass over w and w0) with a plain
// read of those two arrays, and with LinearFDA's check at the same d and K.
#include <cstdio>
#include <span>
#include <string_view>

#include <fda/benchmark.hpp>
#include <fda/fda.hpp>

struct drift_cap {
  static constexpr std::string_view name = "drift_cap";
  fda::threshold theta = 1.0;

  template <class T>
  struct estimator {
    estimator(const drift_cap&, const fda::run_info&) {}
    std::size_t state_size() const { return 1; }
    std::size_t state_bytes() const { return 4; }  // one float in the cost model
    const char* field_name(std::size_t) const { return "sq_drift"; }
    template <class W, class W0>
    void local_state(const W& w, const W0& w0, std::span<double> out, double) const {
      out[0] = fda::sq_distance(w, w0);
    }
    fda::decision judge(std::span<const double> summed, std::size_t workers, double theta) const {
      return {summed[0] > double(workers) * theta, summed[0] / double(workers)};
    }
    template <class X, class Xp>
    void on_sync(const X&, const Xp&) {}
  };
  template <class T>
  using monitor = fda::threshold_monitor<drift_cap, estimator<T>>;
};

int main(int argc, char** argv) {
  const fda::benchmark_shape shape{.dim = 100'000, .workers = 8, .tensors = 4};
  fda::register_policy_benchmark(drift_cap{}, shape);               // reads w and w0 (the default)
  fda::register_policy_benchmark(fda::linear_fda{.theta = 1.0}, shape);  // reads w, w0 and ξ
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  fda::print_benchmark_results(stdout);

  const fda::benchmark_row mine = fda::benchmark_results().front();
  std::printf("custom policy: %s checks %zu parameters in %.1f us, %.2f x a plain read of the same bytes\n",
              mine.name.c_str(), mine.dim, mine.seconds * 1e6, mine.ratio);
}
