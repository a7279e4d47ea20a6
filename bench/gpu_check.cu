// gpu_check: the device kernels and the device sketch of <fda/thrust.hpp>, checked against
// the host kernels and timed against a device-to-device copy of the same bytes, in one run.
// Needs no test framework (scripts/gpu-check builds it with nvcc alone).
//
//   gpu_check [--d N] [--reps R]      (defaults: d = 1e8, 20 timed repetitions)
//
// Checks, at odd sizes and at d: drift, sq_norm, sq_distance, dot within 1e-12 relative of
// the host kernels; axpy, scale, copy, fill bit-identical to them; all_finite finds a NaN;
// the sketch within rounding of the host's (exactly equal for integer data) and bit-identical
// to detail::dev::sketch_reference, the serial run of the same algorithm; every result the
// same run to run. Exit status 1 on any mismatch.
// Timing: median of R calls of each kernel as the policies call it (result back on the
// host), against cudaMemcpy device-to-device of the kernel's input bytes. Bandwidth counts
// bytes read (and written) once: copy = 2 × bytes / time; drift reads 3 arrays; the sketch
// of w − w0 reads 2. Targets on an H100: drift ≥ 80% of copy, sketch ≥ 50%.
//
// The same source builds with Thrust's OpenMP back end (tests/gpu_check_omp.cpp), where
// "device" memory is host memory and the clock is std::chrono: CI runs it at small d.
#include <fda/policy/sketch_fda.hpp>
#include <fda/thrust.hpp>

#if !FDA_THRUST_CUDA
#include <omp.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <string>
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

/// Every kernel at size n against the host kernels; `reference` also runs the serial
/// sketch algorithm (slow: for moderate n).
void check_size(std::size_t n, bool reference) {
  const std::string at = " at n = " + std::to_string(n);
  const auto w = random_values<float>(n, 1), w0 = random_values<float>(n, 2), xi = random_values<float>(n, 3);
  const thrust::device_vector<float> dw(w.begin(), w.end()), dw0(w0.begin(), w0.end()), dxi(xi.begin(), xi.end());

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
  thrust::device_vector<float> dy = dw;
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
  check(to_host(dd) == hd, "copy float -> double" + at);
  fda::fill(dd, 0.5);
  check(to_host(dd) == std::vector<double>(n, 0.5), "fill" + at);
  check(fda::all_finite(dw), "all_finite (finite)" + at);
  thrust::fill_n(dy.begin() + long(n / 2), 1, std::numeric_limits<float>::quiet_NaN());  // (not dy[i] = x: UBSan)
  check(!fda::all_finite(dy), "all_finite (NaN)" + at);

  // The sketch of w − w0 as sketch_fda computes it, and of integer data.
  const fda::detail::sketch_hashes hashes("gpu_check", 5, 250, 42);
  std::vector<double> ch(5 * 250, 0.0), cd(5 * 250, 0.0), cd2(5 * 250, 0.0);
  const double sqh = fda::detail::sketch_accumulate(hashes, ch.data(), fda::view(w), fda::view(w0));
  const double sqd = fda::detail::sketch_in_space(hashes, cd.data(), fda::view(dw), fda::view(dw0));
  fda::detail::sketch_in_space(hashes, cd2.data(), fda::view(dw), fda::view(dw0));
  double scale = 0.0, diff = 0.0;
  for (std::size_t c = 0; c < ch.size(); ++c) {
    scale = std::max(scale, std::fabs(ch[c]));
    diff = std::max(diff, std::fabs(cd[c] - ch[c]));
  }
  check(diff <= 1e-13 * scale, "sketch within rounding of the host's" + at);
  check(rel(sqd, sqh) < 1e-12, "sketch ||w - w0||^2" + at);
  check(cd2 == cd, "sketch run to run" + at);
  if (reference) {
    std::vector<double> cr(5 * 250, 0.0);
    const double sqr = fda::detail::dev::sketch_reference(hashes, cr.data(), fda::view(w), fda::view(w0));
    check(cr == cd && sqr == sqd, "sketch == sketch_reference (bit for bit)" + at);
  }
  const auto iv = random_values<float>(n, 4, true);
  const thrust::device_vector<float> div(iv.begin(), iv.end());
  fda::ams_sketch<double> si(5, 250, 7), sdi(5, 250, 7);
  si.add(iv);
  sdi.add(div);
  check(si == sdi, "sketch of integers == host's" + at);
}

struct row {
  const char* name;
  double bytes;     // moved by the kernel (a copy: read + write)
  double ms;        // median time of one call
  double copy_gbs;  // the copy baseline of the same input bytes (0: this row is a copy)
  double target;    // fraction of copy bandwidth asked for (0: none)
};

}  // namespace

int program(int argc, char** argv) {
  std::size_t d = 100'000'000;
  int reps = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--d")) d = std::size_t(std::atof(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: gpu_check [--d N] [--reps R]\n");
      return 2;
    }
  }
#if FDA_THRUST_CUDA
  cudaDeviceProp prop{};
  int dev = 0;
  cudaGetDevice(&dev);
  cudaGetDeviceProperties(&prop, dev);
  std::printf("device: %s, %d SMs, %.1f GiB (CUDA back end)\n", prop.name, prop.multiProcessorCount,
              double(prop.totalGlobalMem) / (1 << 30));
#else
  std::printf("device: Thrust OpenMP back end, %d threads\n", omp_get_max_threads());
#endif
  std::printf("d = %zu, %d timed repetitions\n\n", d, reps);

  for (std::size_t n : {std::size_t{1}, std::size_t{4097}, std::size_t{1'000'003}}) check_size(n, true);
  check_size(d, d <= 20'000'000);
  std::printf("correctness: %s\n\n", failures ? "MISMATCHES (see above)" : "all kernels match the host");

  // Timing at d.
  const auto w = random_values<float>(d, 11), w0 = random_values<float>(d, 12), xi = random_values<float>(d, 13);
  thrust::device_vector<float> dw(w.begin(), w.end()), dw0(w0.begin(), w0.end()), dxi(xi.begin(), xi.end());
  thrust::device_vector<float> from(3 * d), to(3 * d);
  const fda::detail::sketch_hashes hashes("gpu_check", 5, 250, 42);
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
  std::printf("result: %s\n", failures ? "FAIL (mismatch)" : "PASS");
  return failures ? 1 : 0;
}

int main(int argc, char** argv) {
  try {
    return program(argc, argv);
  } catch (const std::exception& e) {  // no usable GPU, out of memory, a CUDA error
    std::printf("ERROR: %s\nresult: FAIL (error)\n", e.what());
    return 1;
  }
}
