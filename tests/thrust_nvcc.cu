// SPDX-License-Identifier: Apache-2.0
// Compiled and linked, not run, by the ctest thrust_nvcc_compile: every device kernel, the
// sketch, the policies' device monitors and fda::train with device parameters instantiated
// for Thrust's CUDA back end (nvcc, sm_90). On a machine with a GPU the program also runs:
// it prints what it computed.
#include <fda/aggregate/mean.hpp>
#include <fda/policy/linear_fda.hpp>
#include <fda/policy/sketch_fda.hpp>
#include <fda/thrust.hpp>
#include <fda/train.hpp>

#include <cstdio>
#include <vector>

template <class T>
double exercise(std::size_t n) {
  thrust::device_vector<T> w(n, T(1)), w0(n, T(0)), xi(n, T(0.5));
  std::vector<thrust::device_vector<T>> parts(2, thrust::device_vector<T>(n / 2, T(2)));
  const fda::drift_stats d = fda::drift(w, w0, xi);
  double s = d.sq_norm + d.dot + fda::sq_norm(w) + fda::sq_distance(w, w0) + fda::dot(w, xi) + fda::sq_norm(parts);
  fda::axpy(0.5, xi, w);
  fda::scale(2.0, w);
  fda::fill(w0, 0.25);
  fda::copy(w, w0);
  fda::axpy(-1.0, fda::view(xi.data(), n), fda::view(w.data(), w.data() + n));
  thrust::device_vector<double> wd(n);
  fda::copy(w, wd);
  std::vector<T> host(n);
  fda::copy(w, host);
  fda::copy(host, w);
  s += fda::all_finite(wd) ? 1.0 : 0.0;
  fda::ams_sketch<T> sk(5, 250, 1);
  sk.add(w);
  sk.add(parts, -1.0);
  sk.add(fda::device_view(thrust::raw_pointer_cast(w0.data()), n));
  s += sk.estimate_sq_norm();
  fda::tiled_sketch<T> tk(5, 250, 1);
  tk.add(w);
  tk.add(parts, -1.0);
  s += tk.estimate_sq_norm();
  const fda::run_info info{.dim = n, .workers = 2};
  fda::linear_fda::monitor<T, fda::device_space> lm(fda::linear_fda{.theta = 1.0}, info);
  fda::sketch_fda::monitor<T, fda::device_space> sm(fda::sketch_fda{.theta = 1.0, .sketch = fda::sketch_kind::tiled}, info);
  std::vector<double> ls(lm.state_size()), ss(sm.state_size());
  lm.local_state(w, w0, ls);
  sm.local_state(w, w0, ss);
  lm.on_sync(w, w0, {0.0, 1});
  sm.on_sync(w, w0, {0.0, 1});
  return s + ls[0] + ss[0] + lm.decide(ls, 1).estimate + sm.decide(ss, 1).estimate;
}

/// A worker with device parameters, for fda::train (the device path of the trainer).
struct device_worker {
  thrust::device_vector<float> w;
  thrust::device_vector<float>& params() { return w; }
  void step() { fda::axpy(-0.01, w, w); }
};

template <class Policy>
double train(Policy policy) {
  fda::local_cluster cluster(2);
  const fda::result r = fda::train(
      cluster, [](std::size_t rank) { return device_worker{thrust::device_vector<float>(1000, float(rank + 1))}; },
      policy, fda::mean{}, {.max_steps = 4, .seed = 1});
  return double(r.syncs) + r.model[0];
}

/// The kernels on a stream of the caller's (a framework's), then the scratch released.
double on_stream() {
  cudaStream_t stream = nullptr;
  fda::detail::dev::check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  double s = 0.0;
  {
    fda::device_stream_scope on(stream);
    s = exercise<float>(4097);
  }
  fda::release_device_scratch();
  cudaStreamDestroy(stream);
  return s;
}

int main() {
  std::printf("%.17g\n", exercise<float>(std::size_t{1} << 20) + exercise<double>(4099) + on_stream() +
                              train(fda::linear_fda{.theta = 1e-6}) + train(fda::sketch_fda{.theta = 1e-6}));
}
