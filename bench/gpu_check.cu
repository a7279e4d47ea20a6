// SPDX-License-Identifier: Apache-2.0
// gpu_check: the device kernels and the device sketch of <fda/thrust.hpp>, checked against
// the host kernels and timed against a device-to-device copy of the same bytes, in one run.
// Needs no test framework (scripts/gpu-check builds it with nvcc alone).
//
//   gpu_check [--d N] [--reps R] [--big on|off] [--inject-fault trap|bad-address]
//   (defaults: d = 1e8, 20 timed repetitions, --big on with CUDA and off with OpenMP)
//
// Checks, each against the host (bit for bit where the host promises it):
//   - at n = 1, 4097, 1e6 + 3, 12,582,917 (4 epochs per sketch block) and d, float and
//     double parameters: drift, sq_norm, sq_distance, dot within 1e-12 relative of the host
//     kernels; axpy, scale, copy, fill bit-identical; all_finite finds a NaN; the sketch
//     within rounding of the host's, exactly equal for integer data, and bit-identical to
//     detail::dev::sketch_reference (the serial run of the same algorithm) at every size,
//     d included: a multi-epoch block with a stale scale would differ there;
//   - sketch shapes whose cells live in default shared memory (5 x 250), in opted-in shared
//     memory (7 x 1000) and in global memory (7 x 3000), and blocks run in waves under a
//     small scratch limit: all bit-identical to the reference;
//   - a model of many tensors (a multi-piece view, its piece table in device memory): every
//     kernel and the sketch equal to one contiguous tensor's results, bit for bit;
//   - NaN in the parameters: drift and sq_norm NaN, all_finite false, every sketch counter NaN;
//   - fda::train with float and double device parameters (the cluster's average in double,
//     rounded to float on the device) against the same run on the host: same syncs, same
//     model bit for bit;
//   - --big on: one array of 2^31 + 4097 floats (index widths): sq_norm of ones is n exactly.
// Every result is also checked run to run. Exit status 1 on any mismatch or error, with a
// last line "result: FAIL (<reason>)"; a CUDA fault, sticky or not, is reported that way too
// (a terminate handler catches what unwinding after a fault would otherwise abort with).
// --inject-fault: make a kernel fault on purpose (trap: a trapping kernel after the sketch,
// or a simulated error on the OpenMP back end; bad-address: sq_norm of an unmapped device
// address, CUDA only) to check exactly that.
// Timing: median of R calls of each kernel as the policies call it (result back on the
// host), against cudaMemcpy device-to-device of the kernel's input bytes. Bandwidth counts
// bytes read (and written) once: copy = 2 × bytes / time; drift reads 3 arrays; the sketch
// of w − w0 reads 2. Targets on an H100/H200: drift ≥ 80% of copy, sketch ≥ 50%.
//
// The same source builds with Thrust's OpenMP back end (tests/gpu_check_omp.cpp), where
// "device" memory is host memory and the clock is std::chrono: CI runs it at small d.
#include <fda/aggregate/mean.hpp>
#include <fda/policy/linear_fda.hpp>
#include <fda/policy/sketch_fda.hpp>
#include <fda/thrust.hpp>
#include <fda/train.hpp>

#include <thrust/fill.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#if !FDA_THRUST_CUDA
#include <omp.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::printf("MISMATCH  %s\n", what.c_str());
  }
}

double rel(double got, double want) {
  return got == want ? 0.0 : std::fabs(got - want) / std::max(std::fabs(want), 1e-300);
}

/// Values of mixed magnitude (a uniform mantissa times 2^[-10, 10]), or integers in
/// [-1000, 1000], from a hash of (seed, i): fast enough for d = 10^8 on the host.
template <class T>
std::vector<T> random_values(std::size_t n, std::uint64_t seed, bool integers = false) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t z = seed * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    const double u = double(z >> 11) * 0x1p-53 - 0.5;
    v[i] = integers ? T(int(z % 2001) - 1000) : T(std::ldexp(u, int(z % 21) - 10));
  }
  return v;
}

template <class T>
std::vector<T> to_host(const thrust::device_vector<T>& v) {
  std::vector<T> out(v.size());
  thrust::copy(v.begin(), v.end(), out.begin());
  return out;
}

template <class T>
const char* type_name() {
  return std::is_same_v<T, float> ? "float" : "double";
}

/// The sketch counters and ||v||² of one call, for comparisons.
struct sketched {
  std::vector<double> counters;
  double sq = 0.0;
  bool operator==(const sketched&) const = default;
};

/// The device sketch of a (− b) with `hashes`.
template <class... V>
sketched device_sketch(const fda::detail::sketch_hashes& hashes, const V&... views) {
  sketched s{std::vector<double>(hashes.depth * hashes.width, 0.0)};
  s.sq = fda::detail::sketch_in_space(hashes, s.counters.data(), fda::view(views)...);
  return s;
}

/// The serial reference of the device sketch (same partition and arithmetic, on the host).
template <class... V>
sketched reference_sketch(const fda::detail::sketch_hashes& hashes, const V&... views) {
  sketched s{std::vector<double>(hashes.depth * hashes.width, 0.0)};
  s.sq = fda::detail::dev::sketch_reference(hashes, s.counters.data(), fda::view(views)...);
  return s;
}

/// The tiled sketch of a (− b) with `hashes`, in the views' memory space (device or host).
template <class... V>
sketched tiled_sketch_of(const fda::detail::tiled_hashes& hashes, const V&... views) {
  sketched s{std::vector<double>(hashes.depth * hashes.width, 0.0)};
  const auto sums = fda::detail::tiled_sketch_in_space(hashes, s.counters.data(), fda::view(views)...);
  s.counters.push_back(sums.mass_sq);
  s.sq = sums.sq_norm;
  return s;
}

/// Every kernel at size n against the host kernels, and the sketch against its serial
/// reference (bit for bit) and the host's sketch (within rounding).
template <class T>
void check_size(std::size_t n) {
  const std::string at = std::string(" (") + type_name<T>() + ", n = " + std::to_string(n) + ")";
  const auto w = random_values<T>(n, 1), w0 = random_values<T>(n, 2), xi = random_values<T>(n, 3);
  const thrust::device_vector<T> dw(w.begin(), w.end()), dw0(w0.begin(), w0.end()), dxi(xi.begin(), xi.end());

  const auto h = fda::drift(w, w0, xi), d = fda::drift(dw, dw0, dxi), again = fda::drift(dw, dw0, dxi);
  check(rel(d.sq_norm, h.sq_norm) < 1e-12, "drift sq_norm" + at);
  check(std::fabs(d.dot - h.dot) < 1e-12 * std::sqrt(fda::sq_norm(xi) * h.sq_norm), "drift dot" + at);
  check(again.sq_norm == d.sq_norm && again.dot == d.dot, "drift run to run" + at);
  check(rel(fda::sq_norm(dw), fda::sq_norm(w)) < 1e-12, "sq_norm" + at);
  check(rel(fda::sq_distance(dw, dw0), fda::sq_distance(w, w0)) < 1e-12, "sq_distance" + at);
  check(fda::sq_distance(dw, dw0) == d.sq_norm, "sq_distance == drift.sq_norm" + at);
  check(std::fabs(fda::dot(dw, dxi) - fda::dot(w, xi)) < 1e-12 * std::sqrt(fda::sq_norm(w) * fda::sq_norm(xi)),
        "dot" + at);

  auto hy = w;
  thrust::device_vector<T> dy = dw;
  fda::axpy(0.37, xi, hy);
  fda::axpy(0.37, dxi, dy);
  check(to_host(dy) == hy, "axpy (bit for bit)" + at);
  fda::scale(-1.25, hy);
  fda::scale(-1.25, dy);
  check(to_host(dy) == hy, "scale (bit for bit)" + at);
  thrust::device_vector<double> dd(n);
  std::vector<double> hd(n);
  fda::copy(dy, dd);
  fda::copy(hy, hd);
  check(to_host(dd) == hd, "copy to double" + at);
  thrust::device_vector<float> df(n);
  std::vector<float> hf(n);
  fda::copy(dd, df);  // double -> float on the device, as the cluster's average rounds
  fda::copy(hd, hf);
  check(to_host(df) == hf, "copy double -> float" + at);
  fda::fill(dd, 0.5);
  check(to_host(dd) == std::vector<double>(n, 0.5), "fill" + at);
  check(fda::all_finite(dw), "all_finite (finite)" + at);
  thrust::fill_n(dy.begin() + long(n / 2), 1, std::numeric_limits<T>::quiet_NaN());  // (not dy[i] = x: UBSan)
  check(!fda::all_finite(dy), "all_finite (NaN)" + at);

  // The sketch of w − w0 as sketch_fda computes it, and of integer data.
  const fda::detail::sketch_hashes hashes("gpu_check", 5, 250, 42);
  std::vector<double> ch(5 * 250, 0.0);
  const double sqh = fda::detail::sketch_accumulate(hashes, ch.data(), fda::view(w), fda::view(w0));
  const sketched sd = device_sketch(hashes, dw, dw0), sd2 = device_sketch(hashes, dw, dw0);
  double scale = 0.0, diff = 0.0;
  for (std::size_t c = 0; c < ch.size(); ++c) {
    scale = std::max(scale, std::fabs(ch[c]));
    diff = std::max(diff, std::fabs(sd.counters[c] - ch[c]));
  }
  check(diff <= 1e-13 * scale, "sketch within rounding of the host's" + at);
  check(rel(sd.sq, sqh) < 1e-12, "sketch ||w - w0||^2" + at);
  check(sd2 == sd, "sketch run to run" + at);
  check(reference_sketch(hashes, w, w0) == sd, "sketch == sketch_reference (bit for bit)" + at);
  const auto iv = random_values<T>(n, 4, true);
  const thrust::device_vector<T> div(iv.begin(), iv.end());
  fda::ams_sketch<double> si(5, 250, 7), sdi(5, 250, 7);
  si.add(iv);
  sdi.add(div);
  check(si == sdi, "sketch of integers == host's" + at);

  // The tiled sketch: the host kernel's counters, ||v||² and Σ m_t², bit for bit.
  const fda::detail::tiled_hashes tiled("gpu_check tiled", 5, 250, 42);
  const sketched th = tiled_sketch_of(tiled, w, w0), td = tiled_sketch_of(tiled, dw, dw0);
  check(td == th, "tiled sketch w - w0 == host's (bit for bit)" + at);
  check(tiled_sketch_of(tiled, dw, dw0) == td, "tiled sketch run to run" + at);
  check(tiled_sketch_of(tiled, dw) == tiled_sketch_of(tiled, w), "tiled sketch of w == host's (bit for bit)" + at);
}

/// Sketch shapes whose cells live in default shared memory, in opted-in shared memory and
/// in global memory, and blocks in waves: each bit-identical to the serial reference.
void check_sketch_paths(std::size_t n) {
  const std::string at = " (n = " + std::to_string(n) + ")";
  const auto w = random_values<float>(n, 21), w0 = random_values<float>(n, 22);
  const thrust::device_vector<float> dw(w.begin(), w.end()), dw0(w0.begin(), w0.end());
  for (const auto& [depth, width] : {std::pair{5, 250}, std::pair{7, 1000}, std::pair{7, 3000}}) {
    const fda::detail::sketch_hashes hashes("gpu_check paths", depth, width, 5);
    const std::string shape = " " + std::to_string(depth) + "x" + std::to_string(width) + at;
    const sketched want = reference_sketch(hashes, w, w0), got = device_sketch(hashes, dw, dw0);
    check(got == want, "sketch == sketch_reference" + shape);
    auto& limit = fda::detail::dev::sketch_scratch_limit();
    const std::size_t saved = limit.exchange(std::size_t{1} << 20);  // 1 MiB: several waves
    check(device_sketch(hashes, dw, dw0) == want, "sketch in waves == sketch_reference" + shape);
    limit = saved;
  }
}

/// A model of many tensors of odd sizes: every kernel and the sketch as for one contiguous
/// tensor of the same values, bit for bit (the device results do not depend on segmentation).
void check_many_tensors() {
  const std::vector<std::size_t> sizes = {1, 4095, 4097, 300'000, 3, 777'777, 64, 1'000'000};
  std::size_t n = 0;
  for (std::size_t s : sizes) n += s;
  const auto w = random_values<float>(n, 31), w0 = random_values<float>(n, 32), xi = random_values<float>(n, 33);
  auto split = [&](const std::vector<float>& all) {
    std::vector<thrust::device_vector<float>> parts;
    std::size_t at = 0;
    for (std::size_t s : sizes) parts.emplace_back(all.begin() + long(at), all.begin() + long(at + s)), at += s;
    return parts;
  };
  auto pw = split(w), pw0 = split(w0), pxi = split(xi);
  const thrust::device_vector<float> dw(w.begin(), w.end()), dw0(w0.begin(), w0.end()), dxi(xi.begin(), xi.end());
  const std::string at = " (" + std::to_string(sizes.size()) + " tensors, n = " + std::to_string(n) + ")";
  const auto one = fda::drift(dw, dw0, dxi), many = fda::drift(pw, pw0, pxi);
  check(one.sq_norm == many.sq_norm && one.dot == many.dot, "drift, many tensors == one" + at);
  check(fda::sq_norm(pw) == fda::sq_norm(dw), "sq_norm, many tensors == one" + at);
  check(fda::sq_distance(pw, pw0) == fda::sq_distance(dw, dw0), "sq_distance, many tensors == one" + at);
  const fda::detail::sketch_hashes hashes("gpu_check tensors", 5, 250, 9);
  const sketched want = reference_sketch(hashes, w, w0);
  check(device_sketch(hashes, pw, pw0) == want, "sketch, many tensors == sketch_reference" + at);
  check(device_sketch(hashes, dw, pw0) == want, "sketch, one tensor - many == sketch_reference" + at);
  const fda::detail::tiled_hashes tiled("gpu_check tensors", 5, 250, 9);
  check(tiled_sketch_of(tiled, pw, pw0) == tiled_sketch_of(tiled, w, w0), "tiled sketch, many tensors == host's" + at);
  fda::axpy(0.5, pxi, pw);
  auto hw = w;
  fda::axpy(0.5, xi, hw);
  std::vector<float> back(n);
  fda::copy(pw, back);
  check(back == hw, "axpy on many tensors, copied back (bit for bit)" + at);
}

/// NaN in the parameters: NaN results, all_finite false, every sketch counter NaN.
void check_nan(std::size_t n) {
  const std::string at = " (n = " + std::to_string(n) + ")";
  auto w = random_values<float>(n, 41);
  w[n - 1] = std::numeric_limits<float>::quiet_NaN();
  const thrust::device_vector<float> dw(w.begin(), w.end()), zero(n, 0.0f);
  check(std::isnan(fda::sq_norm(dw)), "sq_norm of a NaN is NaN" + at);
  check(std::isnan(fda::drift(dw, zero, zero).sq_norm), "drift of a NaN is NaN" + at);
  check(!fda::all_finite(dw), "all_finite finds the NaN" + at);
  const fda::detail::sketch_hashes hashes("gpu_check nan", 5, 250, 3);
  const sketched s = device_sketch(hashes, dw, zero);
  check(std::all_of(s.counters.begin(), s.counters.end(), [](double c) { return std::isnan(c); }),
        "every sketch counter NaN" + at);
  check(std::isnan(s.sq), "sketch ||v||^2 NaN" + at);
}

/// A step made of dyadic increments: exact in float and double on every back end, FMA or
/// not, so host and device workers compute the same parameters.
template <class T>
struct dyadic_step {
  T* w;
  std::uint64_t k, t;
  FDA_HOST_DEVICE void operator()(std::size_t i) const {
    std::uint64_t z = (k + 1) * 0x9e3779b97f4a7c15ULL + (t + 1) * 0xbf58476d1ce4e5b9ULL + i * 0x94d049bb133111ebULL;
    z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ULL;
    const int drift = int(k % 2) * 6 - 3 + int((z >> 40) % 17) - 8;  // non-IID: workers drift apart
    w[i] = T(double(w[i]) + double(drift) * 0x1p-10);
  }
};

template <class T, bool Device>
struct dyadic_worker {
  using vector = std::conditional_t<Device, thrust::device_vector<T>, std::vector<T>>;
  vector w;
  std::uint64_t k, t = 0;
  vector& params() { return w; }
  void step() {
    ++t;
    if constexpr (Device)
      thrust::for_each(thrust::device, thrust::counting_iterator<std::size_t>(0),
                       thrust::counting_iterator<std::size_t>(w.size()), dyadic_step<T>{thrust::raw_pointer_cast(w.data()), k, t});
    else
      for (std::size_t i = 0; i < w.size(); ++i) dyadic_step<T>{w.data(), k, t}(i);
  }
};

/// fda::train with device parameters against the same run on the host.
template <class T, class Policy>
void check_train(const Policy& policy, std::size_t d) {
  const std::string at = std::string(" (") + std::string(Policy::name) + ", " + type_name<T>() + ", d = " + std::to_string(d) + ")";
  auto run = [&](auto device) {
    fda::local_cluster cluster(3);
    return fda::train(
        cluster,
        [&](std::size_t k) {
          using worker = dyadic_worker<T, decltype(device)::value>;
          return worker{typename worker::vector(d, T(0)), k};
        },
        policy,
        fda::mean{}, {.max_steps = 60, .seed = 5});
  };
  const fda::result h = run(std::false_type{}), g = run(std::true_type{});
  check(h.syncs >= 2 && h.syncs < h.steps, "train: the policy syncs sometimes (" + std::to_string(h.syncs) + ")" + at);
  check(g.syncs == h.syncs && g.steps == h.steps, "train: same syncs as the host" + at);
  bool same_steps = g.sync_log.size() == h.sync_log.size();
  for (std::size_t i = 0; same_steps && i < h.sync_log.size(); ++i) same_steps = g.sync_log[i].step == h.sync_log[i].step;
  check(same_steps, "train: syncs at the host's steps" + at);
  check(g.model == h.model, "train: the model bit for bit" + at);
}

/// 2^31 + 4097 floats (8.6 GB): sums and writes at indices past 32 bits.
void check_big() {
  const std::size_t n = (std::size_t{1} << 31) + 4097;
  const std::string at = " (n = 2^31 + 4097)";
  thrust::device_vector<float> x(n);
  fda::fill(x, 1.0);
  check(fda::sq_norm(x) == double(n), "sq_norm of ones == n" + at);
  check(fda::dot(x, x) == double(n), "dot of ones == n" + at);
  const fda::detail::sketch_hashes hashes("gpu_check big", 5, 250, 1);
  check(device_sketch(hashes, x).sq == double(n), "sketch ||ones||^2 == n" + at);
  fda::fill(x, 2.0);
  fda::scale(0.5, x);
  check(fda::sq_norm(x) == double(n), "fill 2, scale 0.5: sq_norm == n" + at);
  std::vector<float> tail(4097);
  thrust::copy(x.end() - 4097, x.end(), tail.begin());
  check(std::all_of(tail.begin(), tail.end(), [](float v) { return v == 1.0f; }), "the last elements written" + at);
}

}  // namespace

namespace {

/// Milliseconds of one call of f, on the device's clock (CUDA) or the host's (OpenMP).
class timer {
 public:
#if FDA_THRUST_CUDA
  timer() {
    cudaEventCreate(&start_);
    cudaEventCreate(&stop_);
  }
  ~timer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  double ms(const std::function<void()>& f) {
    cudaEventRecord(start_);
    f();
    cudaEventRecord(stop_);
    cudaEventSynchronize(stop_);
    float t = 0.0f;
    cudaEventElapsedTime(&t, start_, stop_);
    return t;
  }

 private:
  cudaEvent_t start_, stop_;
#else
  double ms(const std::function<void()>& f) {
    const auto a = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count();
  }
#endif
};

double median_ms(timer& t, const std::function<void()>& f, int reps) {
  f();  // warm-up: tables copied, scratch grown
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) ms.push_back(t.ms(f));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/// dst ← src, `bytes` of device memory: the bandwidth baseline.
void device_copy(void* dst, const void* src, std::size_t bytes) {
#if FDA_THRUST_CUDA
  cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
#else
  auto* s = static_cast<const unsigned char*>(src);
  thrust::copy(thrust::device, s, s + bytes, static_cast<unsigned char*>(dst));
#endif
}

struct row {
  const char* name;
  double bytes;     // moved by the kernel (a copy: read + write)
  double ms;        // median time of one call
  double copy_gbs;  // the copy baseline of the same input bytes (0: this row is a copy)
  double target;    // fraction of copy bandwidth asked for (0: none)
};

}  // namespace

/// --inject-fault: a kernel that faults on purpose; the error must come back as a FAIL line.
int inject_fault(const std::string& kind, std::size_t n) {
  if (kind == "trap") {
    const thrust::device_vector<float> w(n, 1.0f), w0(n, 0.0f);
    fda::detail::dev::injected_fault() = "sketch";
    device_sketch(fda::detail::sketch_hashes("gpu_check fault", 5, 250, 1), w, w0);
  } else {
#if FDA_THRUST_CUDA
    fda::sq_norm(fda::device_view(reinterpret_cast<const float*>(std::uintptr_t{1} << 40), n));  // unmapped
#else
    std::printf("result: SKIP (--inject-fault bad-address needs the CUDA back end)\n");
    return 0;
#endif
  }
  std::printf("result: FAIL (the injected fault was not reported)\n");
  return 1;
}

int program(int argc, char** argv) {
  std::size_t d = 100'000'000;
  int reps = 20;
  bool big = FDA_THRUST_CUDA;
  std::string fault;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i], value = i + 1 < argc ? argv[i + 1] : "";
    char* end = nullptr;
    const double number = std::strtod(value.c_str(), &end);
    const bool is_number = !value.empty() && *end == '\0' && number >= 1 && number <= 1e12;
    if (flag == "--d" && is_number) d = std::size_t(number);
    else if (flag == "--reps" && is_number && number <= 10000) reps = int(number);
    else if (flag == "--big" && (value == "on" || value == "off")) big = value == "on";
    else if (flag == "--inject-fault" && (value == "trap" || value == "bad-address")) fault = value;
    else {
      std::fprintf(stderr, "gpu_check: bad argument %s %s\nusage: gpu_check [--d N] [--reps R] [--big on|off] "
                           "[--inject-fault trap|bad-address]\n", flag.c_str(), value.c_str());
      return 2;
    }
  }
#if FDA_THRUST_CUDA
  cudaDeviceProp prop{};
  int dev = 0, driver = 0, runtime = 0;
  fda::detail::dev::check_cuda(cudaGetDevice(&dev), "no usable GPU");
  fda::detail::dev::check_cuda(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  std::printf("device: %s, sm_%d%d, %d SMs, %.1f GiB, %zu KiB shared memory per block (opt-in) (CUDA back end)\n",
              prop.name, prop.major, prop.minor, prop.multiProcessorCount, double(prop.totalGlobalMem) / (1 << 30),
              prop.sharedMemPerBlockOptin / 1024);
  std::printf("CUDA driver %d.%d, runtime %d.%d\n", driver / 1000, driver % 1000 / 10, runtime / 1000,
              runtime % 1000 / 10);
#else
  std::printf("device: Thrust OpenMP back end, %d threads\n", omp_get_max_threads());
#endif
  if (!fault.empty()) return inject_fault(fault, d);
  std::printf("d = %zu, %d timed repetitions\n\n", d, reps);

  for (std::size_t n : {std::size_t{1}, std::size_t{4097}, std::size_t{1'000'003}, std::size_t{12'582'917}, d}) {
    check_size<float>(n);
    if (n <= 1'000'003) check_size<double>(n);
  }
  const auto g = fda::detail::dev::sketch_geometry::of(12'582'917, 5, 250);
  std::printf("sketch blocks of %zu epochs checked bit for bit (n = 12,582,917)\n", g.span / fda::detail::dev::sketch_epoch);
  check_sketch_paths(1'000'003);
  check_many_tensors();
  check_nan(4097);
  check_nan(1'000'003);
  check_train<float>(fda::linear_fda{.theta = 5e-4 * 100'000}, 100'000);
  check_train<float>(fda::sketch_fda{.theta = 5e-4 * 100'000}, 100'000);
  check_train<float>(fda::sketch_fda{.theta = 5e-4 * 100'000, .sketch = fda::sketch_kind::tiled}, 100'000);
  check_train<double>(fda::linear_fda{.theta = 5e-4 * 100'000}, 100'000);
  if (big) check_big();
  std::printf("correctness: %s\n\n", failures ? "MISMATCHES (see above)" : "all kernels match the host");

  // Timing at d.
  const auto w = random_values<float>(d, 11), w0 = random_values<float>(d, 12), xi = random_values<float>(d, 13);
  thrust::device_vector<float> dw(w.begin(), w.end()), dw0(w0.begin(), w0.end()), dxi(xi.begin(), xi.end());
  thrust::device_vector<float> from(3 * d), to(3 * d);
  const fda::detail::sketch_hashes hashes("gpu_check", 5, 250, 42);
  const fda::detail::tiled_hashes tiled("gpu_check", 5, 250, 42);
  std::vector<double> counters(5 * 250);
  timer t;
  const double f = double(sizeof(float)) * double(d);
  auto copy_of = [&](std::size_t arrays) {
    return median_ms(t, [&] { device_copy(thrust::raw_pointer_cast(to.data()), thrust::raw_pointer_cast(from.data()), arrays * d * sizeof(float)); }, reps);
  };
  const double copy3 = copy_of(3), copy2 = copy_of(2);
  const double gbs3 = 2 * 3 * f / copy3 / 1e6, gbs2 = 2 * 2 * f / copy2 / 1e6;
  const std::vector<row> rows = {
      {"copy (3 arrays)", 2 * 3 * f, copy3, 0, 0},
      {"drift (fused)", 3 * f, median_ms(t, [&] { fda::drift(dw, dw0, dxi); }, reps), gbs3, 0.8},
      {"axpy", 3 * f, median_ms(t, [&] { fda::axpy(1e-3, dxi, dw); }, reps), gbs3, 0},
      {"copy (2 arrays)", 2 * 2 * f, copy2, 0, 0},
      {"sketch w-w0 5x250", 2 * f,
       median_ms(t, [&] { fda::detail::sketch_in_space(hashes, counters.data(), fda::view(dw), fda::view(dw0)); }, reps),
       gbs2, 0.5},
      {"tiled sketch 5x250", 2 * f,
       median_ms(t, [&] { fda::detail::tiled_sketch_in_space(tiled, counters.data(), fda::view(dw), fda::view(dw0)); }, reps),
       gbs2, 0},
      {"sq_distance", 2 * f, median_ms(t, [&] { fda::sq_distance(dw, dw0); }, reps), gbs2, 0},
      {"sq_norm", f, median_ms(t, [&] { fda::sq_norm(dw); }, reps), gbs2, 0},
  };
  std::printf("%-20s %10s %10s %10s %9s %9s\n", "kernel", "MB", "ms", "GB/s", "vs copy", "target");
  bool targets_met = true;
  for (const row& r : rows) {
    const double gbs = r.bytes / r.ms / 1e6;
    if (r.copy_gbs == 0) {
      std::printf("%-20s %10.1f %10.3f %10.1f %9s %9s\n", r.name, r.bytes / 1e6, r.ms, gbs, "-", "-");
      continue;
    }
    const double ratio = gbs / r.copy_gbs;
    char target[16] = "-";
    if (r.target > 0) {
      std::snprintf(target, sizeof target, "%.0f%% %s", 100 * r.target, ratio >= r.target ? "ok" : "LOW");
      targets_met = targets_met && ratio >= r.target;
    }
    std::printf("%-20s %10.1f %10.3f %10.1f %8.0f%% %9s\n", r.name, r.bytes / 1e6, r.ms, gbs, 100 * ratio, target);
  }
  std::printf("\nbandwidth targets: %s\n", targets_met ? "met" : "NOT met");
  if (failures) std::printf("result: FAIL (%d mismatches, see MISMATCH lines)\n", failures);
  else std::printf("result: PASS\n");
  return failures ? 1 : 0;
}

/// The last resort: a fault left the CUDA context unusable and a destructor's cudaFree threw
/// while unwinding. Report the first device error, then exit without running destructors.
[[noreturn]] void on_terminate() {
  std::string now = "an unknown error";
  if (auto e = std::current_exception()) try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      now = x.what();
    } catch (...) {
    }
  const std::string first = fda::first_device_error();
  std::printf("ERROR: %s\nresult: FAIL (%s)\n", now.c_str(), (first.empty() ? now : first).c_str());
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
    std::printf("ERROR: %s\nresult: FAIL (%s)\n", e.what(), e.what());
    std::fflush(stdout);
    std::_Exit(1);  // after a CUDA fault, destructors of device memory would abort
  }
}
