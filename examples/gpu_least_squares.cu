// SPDX-License-Identifier: Apache-2.0
// K workers on one device, each running SGD on its own data of a synthetic least-squares
// problem, with the parameters in device memory; LinearFDA and SketchFDA decide when they
// synchronize. fda::train runs them as it runs host workers (one thread per worker, the
// monitors, the averaging and ξ on the device: docs/gpu.md). Prints the syncs and the time
// each policy took, and a last line "result: PASS" or "result: FAIL (<reason>)" (exit 1):
// each policy must have synced at least once but not at every step, and its model must have
// learned (relative error below 0.2; an untrained model, w = 0, has 1). A CUDA error ends
// the run with that FAIL line too, never with an abort.
//
//   gpu_least_squares [--d N] [--workers K] [--steps S] [--theta T] [--lr L]
//
// The problem: minimize Σ_samples ½ Σ_i (a_i w_i − y_i)², a diagonal design a_i ∈ [0.5, 1.5],
// y = a ∘ w* + noise, where worker k's samples also carry a bias b_k (non-IID data: the
// workers drift apart between syncs; the biases cancel in the average). Every a_i, w*_i,
// b_k,i and noise value is a hash of its indices, computed where it is used, so d can be
// 10^8 with K + 5 vectors of d floats (the workers', w*, and fda::train's w0, previous w0,
// average and ξ) and, during an average, d doubles on the device. Θ = theta · d (a variance
// per parameter).
//
// Built with nvcc when CMake's CUDA language is on (-DFDA_CUDA=ON), and with Thrust's OpenMP
// back end as examples/gpu_least_squares_omp.cpp (the same source, on the CPU).
#include <fda/detail/host_device.hpp>
#include <fda/aggregate/mean.hpp>
#include <fda/policy/linear_fda.hpp>
#include <fda/policy/sketch_fda.hpp>
#include <fda/thrust.hpp>
#include <fda/train.hpp>

#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

namespace {

/// A uniform value in [0, 1) from (stream, index): splitmix64 of their mix.
FDA_HOST_DEVICE inline double uniform(std::uint64_t stream, std::uint64_t i) {
  std::uint64_t z = stream * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL + 0x94d049bb133111ebULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return double((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

/// An approximately standard normal value (Irwin–Hall: four uniforms), no math library needed.
FDA_HOST_DEVICE inline double normal(std::uint64_t stream, std::uint64_t i) {
  return (uniform(stream, 4 * i) + uniform(stream, 4 * i + 1) + uniform(stream, 4 * i + 2) +
          uniform(stream, 4 * i + 3) - 2.0) * 1.7320508075688772;
}

struct problem {
  std::uint64_t seed = 1;
  double bias = 0.3;   ///< scale of the workers' biases
  double noise = 1.0;  ///< scale of the observation noise

  FDA_HOST_DEVICE double a(std::uint64_t i) const { return 0.5 + uniform(seed, i); }
  FDA_HOST_DEVICE double w_star(std::uint64_t i) const { return normal(seed + 1, i); }
  FDA_HOST_DEVICE double b(std::uint64_t k, std::uint64_t i) const { return bias * normal(seed + 100 + k, i); }
};

/// One SGD step of worker k at step t: w_i ← w_i − lr · a_i (a_i w_i − y_i), one sample.
struct sgd_step {
  problem p;
  float* w;
  std::uint64_t k, t;
  double lr;
  FDA_HOST_DEVICE void operator()(std::size_t i) const {
    const double ai = p.a(i);
    const double y = ai * p.w_star(i) + p.b(k, i) + p.noise * normal(1'000'003 * (t + 1) + k, i);
    w[i] = float(double(w[i]) - lr * ai * (ai * double(w[i]) - y));
  }
};

/// w*_i, materialized once to measure the error of the global model.
struct fill_w_star {
  problem p;
  float* out;
  FDA_HOST_DEVICE void operator()(std::size_t i) const { out[i] = float(p.w_star(i)); }
};

struct options {
  std::size_t d = 1'000'000, workers = 4, steps = 200;
  double theta = 0.05, lr = 0.05;
};

/// A worker: its parameters in device memory, one SGD step per call.
struct device_worker {
  problem p;
  std::uint64_t rank;
  double lr;
  thrust::device_vector<float> w;
  std::uint64_t t = 0;

  thrust::device_vector<float>& params() { return w; }
  void step() {
    ++t;
    thrust::for_each(thrust::device, thrust::counting_iterator<std::size_t>(0),
                     thrust::counting_iterator<std::size_t>(w.size()),
                     sgd_step{p, thrust::raw_pointer_cast(w.data()), rank, t, lr});
  }
};

/// Trains the K workers for opt.steps steps under `policy` with fda::train; prints one line
/// and returns what is wrong with the run ("" if nothing).
template <class Policy>
std::string run(const char* name, const Policy& policy, const options& opt, const problem& p,
         const thrust::device_vector<float>& w_star) {
  fda::local_cluster cluster(opt.workers);
  const fda::result r = fda::train(
      cluster, [&](std::size_t rank) { return device_worker{p, rank, opt.lr, thrust::device_vector<float>(opt.d, 0.0f)}; },
      policy, fda::mean{}, {.max_steps = opt.steps, .seed = 7});
  thrust::device_vector<float> model(opt.d);
  fda::copy(r.model, model);  // the final global model, back on the device
  const double error = fda::sq_distance(model, w_star) / fda::sq_norm(w_star);
  std::printf("%-11s %8zu %6zu %10.3f %14.4f\n", name, r.steps, r.syncs, r.wall_seconds, error);
  if (r.syncs == 0 || r.syncs >= r.steps)
    return std::string(name) + " synced " + std::to_string(r.syncs) + " times in " + std::to_string(r.steps) + " steps";
  if (!(error < 0.2)) return std::string(name) + "'s model did not learn: error " + std::to_string(error);
  return "";
}

}  // namespace

int program(int argc, char** argv) {
  options opt;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const double value = std::atof(argv[i + 1]);
    if (flag == "--d") opt.d = std::size_t(value);
    else if (flag == "--workers") opt.workers = std::size_t(value);
    else if (flag == "--steps") opt.steps = std::size_t(value);
    else if (flag == "--theta") opt.theta = value;
    else if (flag == "--lr") opt.lr = value;
    else {
      std::fprintf(stderr, "usage: gpu_least_squares [--d N] [--workers K] [--steps S] [--theta T] [--lr L]\n");
      return 2;
    }
  }
  if (opt.d == 0 || opt.workers == 0 || !(opt.lr > 0.0 && opt.lr < 1.0)) {
    std::fprintf(stderr, "gpu_least_squares: need d >= 1, workers >= 1 and 0 < lr < 1\n");
    return 2;
  }
  const problem p;
  thrust::device_vector<float> w_star(opt.d);
  thrust::for_each(thrust::device, thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(opt.d),
                   fill_w_star{p, thrust::raw_pointer_cast(w_star.data())});
  const double theta = opt.theta * double(opt.d);
  std::printf("d = %zu, %zu workers, %zu steps, theta = %g (%g per parameter), lr = %g, %s back end\n", opt.d,
              opt.workers, opt.steps, theta, opt.theta, opt.lr, FDA_THRUST_CUDA ? "CUDA" : "OpenMP");
  std::printf("%-11s %8s %6s %10s %14s\n", "policy", "steps", "syncs", "seconds", "error |w0-w*|^2/|w*|^2");
  std::string wrong = run("linear_fda", fda::linear_fda{.theta = theta}, opt, p, w_star);
  const std::string sketch_wrong = run("sketch_fda", fda::sketch_fda{.theta = theta}, opt, p, w_star);
  if (wrong.empty()) wrong = sketch_wrong;
  std::printf("result: %s%s%s\n", wrong.empty() ? "PASS" : "FAIL (", wrong.c_str(), wrong.empty() ? "" : ")");
  return wrong.empty() ? 0 : 1;
}

/// After a fault in a kernel the CUDA context is unusable, and unwinding frees device
/// memory: the failing cudaFree throws from a destructor and std::terminate is called.
/// Report the first device error and exit without running destructors.
[[noreturn]] void on_terminate() {
  const std::string first = fda::first_device_error();
  std::printf("result: FAIL (%s)\n", first.empty() ? "std::terminate was called" : first.c_str());
  std::fflush(stdout);
  std::_Exit(1);
}

int main(int argc, char** argv) {
  std::set_terminate(on_terminate);
  try {
    const int status = program(argc, argv);
    std::fflush(stdout);
    return status;
  } catch (const std::exception& e) {  // no usable GPU, out of memory, a CUDA error
    std::printf("result: FAIL (%s)\n", e.what());
    std::fflush(stdout);
    std::_Exit(1);  // after a CUDA fault, destructors of device memory would abort
  }
}
