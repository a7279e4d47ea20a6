// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The device runtime under <fda/thrust.hpp>: the stream and the device the kernels use,
/// the device memory the library owns, and the checked synchronization that ends every
/// call. Kernels are launched without waiting (thrust::cuda::par_nosync on the stream);
/// each fda call then waits once, for its result, and a failure names the kernel.
#include <thrust/execution_policy.h>
#include <thrust/system_error.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include "../error.hpp"

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
#if !defined(__CUDACC__)
#error "fda/thrust.hpp: Thrust's CUDA back end needs nvcc. For the CPU, compile with -fopenmp -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP"
#endif
#define FDA_THRUST_CUDA 1  ///< the CUDA back end: device code, a CUDA kernel for the sketch
#else
#define FDA_THRUST_CUDA 0
#endif

// Fast math flushes subnormals, contracts and reassociates: device results would no longer
// equal the host's bit for bit (docs/gpu.md). nvcc's --use_fast_math defines no macro (CUDA
// 13); the first device call checks for it instead (detail::dev::require_ieee_floats).
#if defined(__FAST_MATH__)
#error "fda/thrust.hpp: compiled with fast math (-ffast-math, -Ofast, or -Xcompiler -ffast-math): it breaks the promise that device and host results are bit-identical (docs/gpu.md). Remove the flag."
#endif

namespace fda {

/// A CUDA error reported by a device kernel or copy of fda: the message names the kernel
/// and CUDA's error. After a fault inside a kernel (an illegal address, a trap) the CUDA
/// context is unusable: the process should report and exit.
struct device_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#if FDA_THRUST_CUDA
using device_stream = cudaStream_t;  ///< a CUDA stream
#else
using device_stream = void*;  ///< the OpenMP back end has no streams: accepted, ignored
#endif

namespace detail::dev {
inline device_stream& stream_of_this_thread() {
  thread_local device_stream stream = nullptr;
  return stream;
}
}  // namespace detail::dev

/// The stream on which the calling thread's fda device kernels run. Default: nullptr, the
/// default stream (the legacy default stream, or the per-thread one under nvcc
/// --default-stream per-thread). fda waits for its own kernels before each call returns.
inline device_stream current_device_stream() { return detail::dev::stream_of_this_thread(); }

/// Runs the calling thread's fda device kernels on `stream` while it lives, so that they
/// are ordered after the work a framework queued there (a training step on its own stream).
///
///   fda::device_stream_scope on(stream);   // in step(), or once in the worker's factory
class device_stream_scope {
 public:
  /// Switches this thread to `stream`.
  explicit device_stream_scope(device_stream stream)
      : previous_(std::exchange(detail::dev::stream_of_this_thread(), stream)) {}
  /// Switches back to the stream before.
  ~device_stream_scope() { detail::dev::stream_of_this_thread() = previous_; }
  device_stream_scope(const device_stream_scope&) = delete;
  device_stream_scope& operator=(const device_stream_scope&) = delete;

 private:
  device_stream previous_;
};

namespace detail::dev {

inline std::mutex& first_error_mutex() {
  static std::mutex m;
  return m;
}
inline std::string& first_error() {
  static std::string* message = new std::string;  // never destroyed: read by terminate handlers
  return *message;
}

/// Throws device_error(message), remembering the process's first one (first_device_error()).
[[noreturn]] inline void raise(const std::string& message) {
  {
    std::lock_guard lock(first_error_mutex());
    if (first_error().empty()) first_error() = message;
  }
  throw device_error(message);
}

}  // namespace detail::dev

/// The message of the first device_error this process raised (empty if none). A CUDA fault
/// is sticky: what follows it (a cudaFree that fails while unwinding, which std::terminate
/// ends) hides the cause, which a terminate handler can still print from here.
inline std::string first_device_error() {
  std::lock_guard lock(detail::dev::first_error_mutex());
  return detail::dev::first_error();
}

namespace detail::dev {

/// Test switch (bench/gpu_check --inject-fault): the kernel of this name fails at its next
/// checked synchronization. On CUDA a trapping kernel is queued after it, a real fault that
/// leaves the context unusable; on the OpenMP back end the check reports it.
inline std::atomic<const char*>& injected_fault() {
  static std::atomic<const char*> kernel{nullptr};
  return kernel;
}

inline bool fault_injected_into(const char* kernel) {
  const char* target = injected_fault().load(std::memory_order_relaxed);
  return target != nullptr && std::strcmp(target, kernel) == 0;
}

/// The name of a kernel's term or op (Op::kernel, detail/terms.hpp), for error messages.
template <class Op>
constexpr const char* kernel_name() {
  if constexpr (requires { Op::kernel; })
    return Op::kernel;
  else
    return "element-wise";
}

#if FDA_THRUST_CUDA
/// Throws device_error "fda: <what>: <CUDA's name and words>" unless e is cudaSuccess.
inline void check_cuda(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess)
    raise(concat("fda: ", what, ": ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")"));
}

template <int = 0>
__global__ void trap_kernel() {
  __trap();
}
#endif

/// The device the calling thread works on (0 on the OpenMP back end).
inline int current_device() {
  int device = 0;
#if FDA_THRUST_CUDA
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
#endif
  return device;
}

/// The execution policy of fda's Thrust passes: launched on this thread's stream without
/// waiting (CUDA), or the OpenMP threads.
inline auto policy() {
#if FDA_THRUST_CUDA
  return thrust::cuda::par_nosync.on(current_device_stream());
#else
  return thrust::device;
#endif
}

/// Runs `launch` (Thrust passes), turning Thrust's error into device_error naming `kernel`.
template <class Launch>
void launch(const char* kernel, const Launch& launch) {
  try {
    launch();
  } catch (const thrust::system_error& e) {
    raise(concat("fda: the ", kernel, " kernel failed: ", e.what()));
  }
}

/// Waits for everything queued on this thread's stream; throws device_error naming
/// `kernel` if a launch or a kernel failed (a fault inside a kernel surfaces here).
inline void finish(const char* kernel) {
  const bool inject = fault_injected_into(kernel);
#if FDA_THRUST_CUDA
  if (inject) trap_kernel<<<1, 1, 0, current_device_stream()>>>();
  check_cuda(cudaGetLastError(), concat("the ", kernel, " kernel did not start"));
  check_cuda(cudaStreamSynchronize(current_device_stream()), concat("the ", kernel, " kernel failed"));
#else
  if (inject) raise(concat("fda: the ", kernel, " kernel failed: injected fault (test switch)"));
#endif
}

/// count elements from `from` to `to`, queued on this thread's stream (complete after the
/// next finish(); host memory read must stay valid until then).
template <class T>
void transfer(T* to, const T* from, std::size_t count, bool to_device) {
#if FDA_THRUST_CUDA
  check_cuda(cudaMemcpyAsync(to, from, count * sizeof(T), to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost,
                             current_device_stream()),
             to_device ? "a copy to device memory did not start" : "a copy from device memory did not start");
#else
  (void)to_device;
  std::copy(from, from + count, to);
#endif
}
/// transfer() from host memory to device memory.
template <class T>
void upload(T* device, const T* host, std::size_t count) {
  transfer(device, host, count, true);
}
/// transfer() from device memory to host memory.
template <class T>
void download(T* host, const T* device, std::size_t count) {
  transfer(host, device, count, false);
}

/// Device memory the library owns (scratch, the sketch's tables), on the device current
/// when it was allocated. Freeing never throws: after a fault the CUDA context refuses
/// cudaFree, and a throwing destructor during unwinding would end the program
/// (std::terminate) before the error is reported. The memory then leaks, with the context.
template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  /// count elements, contents undefined.
  explicit device_buffer(std::size_t count) : size_(count) {
    if (count == 0) return;
#if FDA_THRUST_CUDA
    void* p = nullptr;
    check_cuda(cudaMalloc(&p, count * sizeof(T)), concat("cudaMalloc of ", count * sizeof(T), " bytes"));
    data_ = static_cast<T*>(p);
#else
    data_ = new T[count];
#endif
  }
  device_buffer(device_buffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  device_buffer& operator=(device_buffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~device_buffer() { release(); }

  T* data() const { return data_; }
  std::size_t size() const { return size_; }
  /// Frees the memory (errors ignored, see above).
  void release() noexcept {
#if FDA_THRUST_CUDA
    if (data_) (void)cudaFree(data_);
#else
    delete[] data_;
#endif
    data_ = nullptr;
    size_ = 0;
  }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

#if FDA_THRUST_CUDA
template <int = 0>
__global__ void ftz_probe(float* out, double d, float f) {
  out[0] = float(d);  // cvt.rn.ftz.f32.f64 under -ftz=true
  out[1] = f * 0.5f;  // mul.ftz.f32
}
#endif

/// Throws device_error if the device code flushes subnormal floats to zero (nvcc
/// --use_fast_math or -ftz=true): device results would then differ from the host's. Once
/// per device and process, at the first scratch of a thread on that device.
inline void require_ieee_floats(int device) {
#if FDA_THRUST_CUDA
  static std::mutex mutex;
  static std::set<int> checked;
  std::lock_guard lock(mutex);
  if (checked.count(device)) return;
  device_buffer<float> out(2);
  float got[2] = {};
  ftz_probe<<<1, 1, 0, current_device_stream()>>>(out.data(), 0x1p-140, 0x1p-126f);
  download(got, out.data(), 2);
  finish("subnormal probe");
  if (got[0] == 0.0f || got[1] == 0.0f)
    raise(
        "fda: this program's device code flushes subnormal floats to zero (nvcc --use_fast_math or -ftz=true): "
        "device results would no longer equal the host's bit for bit (docs/gpu.md). Build without those flags.");
  checked.insert(device);
#else
  (void)device;
#endif
}

/// Device memory reused by the kernels called from one host thread, one buffer per device:
/// grown to the largest request, so that kernels called every step allocate nothing after
/// the first call; fda::release_device_scratch() frees it. The sketch bounds what it asks
/// for (sketch_scratch_limit); a reduction asks for about 1/64 of its input's doubles.
class scratch {
 public:
  /// The calling thread's scratch on its current device.
  static scratch& mine() {
    auto& all = of_this_thread();
    const int device = current_device();
    const auto found = all.find(device);
    if (found != all.end()) return found->second;
    require_ieee_floats(device);
    return all[device];
  }
  /// Every device's scratch of the calling thread.
  static std::map<int, scratch>& of_this_thread() {
    thread_local std::map<int, scratch> all;
    return all;
  }
  /// At least `count` doubles of device memory (contents undefined).
  double* doubles(std::size_t count) {
    if (buffer_.size() < count) {
      buffer_.release();
      buffer_ = device_buffer<double>(count);
    }
    return buffer_.data();
  }
  /// Frees the memory.
  void release() noexcept { buffer_.release(); }

 private:
  device_buffer<double> buffer_;
};

}  // namespace detail::dev

/// Frees the device scratch memory of the calling thread's fda kernels, on every device
/// (the next call allocates it again). For a thread that is done with fda's device kernels
/// but lives on; a thread's scratch is freed anyway when the thread ends.
inline void release_device_scratch() {
  for (auto& [device, s] : detail::dev::scratch::of_this_thread()) s.release();
}

}  // namespace fda
