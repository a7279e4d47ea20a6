// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Thrust adapter (opt-in): parameters in device memory, and the kernels and the AMS sketch
/// computed where they live.
///
///   thrust::device_vector<float> w(d), w0(d);
///   fda::drift(w, w0, xi);                  // fused pass on the device, two doubles back
///   fda::ams_sketch<> s; s.add(fda::view(w));
///   fda::linear_fda::monitor<float, fda::device_space> m(policy, info);  // ξ on the device
///
/// One source, two back ends, chosen by Thrust's THRUST_DEVICE_SYSTEM: CUDA (compile with
/// nvcc) or OpenMP (any C++20 compiler, -fopenmp -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP,
/// "device" memory then being host memory worked on by OpenMP threads).
///
/// Views: thrust::device_vector and (device_ptr, n) / (device_ptr, device_ptr) ranges give a
/// param_view<T, device_space>; fda::device_view(p, n) views a raw device pointer (cudaMalloc);
/// thrust::host_vector is host memory and gives a plain host view. A range of those (a model
/// of several device tensors) is one multi-segment view, as on the host.
///
/// Kernels: drift, sq_norm, sq_distance, dot, axpy, scale, copy, fill, all_finite and the
/// sketch are the ones of kernels.hpp and sketch.hpp, written once; for device views they
/// run on the primitives of space_traits<device_space> below (detail::dev: thrust/reduce.hpp,
/// thrust/sketch.hpp). copy also moves between host and device memory.
///
/// Errors and streams (thrust/runtime.hpp, docs/gpu.md): kernels are queued on the calling
/// thread's stream (fda::current_device_stream(), set with fda::device_stream_scope;
/// default: the default stream) and each call waits once, for its result; a failed launch
/// or a fault inside a kernel throws fda::device_error naming the kernel.
///
/// Determinism (docs/gpu.md): every device result depends only on the values and n, never
/// on the views' segmentation, the number of OpenMP threads, the GPU or the run:
///   - reductions: 32 partial sums per chunk of 4096 elements (lane = index mod 32, each
///     summed in index order), then sums of 32 consecutive partials, level by level, until
///     at most 32 remain, added in order on the host. Accumulation in double; products are
///     never fused into FMAs, so the CUDA and OpenMP back ends give bit-identical results.
///     Against the host kernels (8 lanes, a sequential fold of blocks): equal up to
///     rounding, ~1e-16 relative.
///   - element-wise kernels compute the host's formula per element: bit-identical to it.
///   - the sketch: see detail::dev::sketch_geometry.
#include <thrust/copy.h>
#include <thrust/device_ptr.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <array>
#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>
#include <vector>

#include "thrust/runtime.hpp"
#include "thrust/reduce.hpp"
#include "thrust/sketch.hpp"
#include "thrust/tiled_sketch.hpp"
#include "error.hpp"
#include "kernels.hpp"
#include "params.hpp"
#include "sketch.hpp"
#include "tiled_sketch.hpp"

namespace fda {

/// Memory space of a Thrust device system (a CUDA GPU, or memory worked on by OpenMP
/// threads): param_view<T, device_space> is a view of device memory.
struct device_space {};

/// thrust::device_vector: a view of device memory.
template <class T, class A>
  requires detail::real<T>
struct param_access<thrust::device_vector<T, A>> {
  /// The vector's elements, in device memory.
  static param_view<T, device_space> view(thrust::device_vector<T, A>& v) {
    return param_view<T, device_space>(std::span<T>(thrust::raw_pointer_cast(v.data()), v.size()));
  }
  /// The vector's elements, read-only.
  static param_view<const T, device_space> view(const thrust::device_vector<T, A>& v) {
    return param_view<const T, device_space>(std::span<const T>(thrust::raw_pointer_cast(v.data()), v.size()));
  }
};

/// thrust::host_vector: host memory, a plain host view.
template <class T, class A>
  requires detail::real<T>
struct param_access<thrust::host_vector<T, A>> {
  /// The vector's elements, in host memory.
  static param_view<T> view(thrust::host_vector<T, A>& v) { return param_view<T>(std::span<T>(v.data(), v.size())); }
  /// The vector's elements, read-only.
  static param_view<const T> view(const thrust::host_vector<T, A>& v) {
    return param_view<const T>(std::span<const T>(v.data(), v.size()));
  }
};

/// n parameters of device memory starting at a raw device pointer (cudaMalloc, a framework's tensor).
template <detail::real_element T>
param_view<T, device_space> device_view(T* p, std::size_t n) {
  return param_view<T, device_space>(std::span<T>(p, n));
}

/// n parameters of device memory starting at `first`.
template <detail::real_element T>
param_view<T, device_space> view(thrust::device_ptr<T> first, std::size_t n) {
  return device_view(thrust::raw_pointer_cast(first), n);
}

/// The device range [first, last).
template <detail::real_element T>
param_view<T, device_space> view(thrust::device_ptr<T> first, thrust::device_ptr<T> last) {
  if (last < first) detail::fail("fda::view: the device range [first, last) has last before first");
  return device_view(thrust::raw_pointer_cast(first), std::size_t(last - first));
}

/// X is viewable and its view lives in device memory.
template <class X>
concept device_viewable = viewable<X> && std::same_as<typename view_t<X>::space, device_space>;
/// X is viewable and its view lives in host memory.
template <class X>
concept host_viewable = viewable<X> && std::same_as<typename view_t<X>::space, host_space>;

namespace detail::dev {

/// dst ← src between host and device memory, piece by piece (converting on the host side
/// when the element types differ), on this thread's stream; returns when it is done.
template <class S, class SS, class D, class DS>
void copy_between(const param_view<S, SS>& src, const param_view<D, DS>& dst) {
  using s_type = std::remove_const_t<S>;
  constexpr const char* kernel = "copy between host and device memory";
  std::size_t g = 0;
  auto src_seg = src.segments().begin();
  auto dst_seg = dst.segments().begin();
  std::size_t so = 0, doff = 0;
  std::vector<s_type> staged;
  std::vector<D> converted;
  while (g < src.size()) {
    const std::size_t len = smaller(src_seg->size() - so, dst_seg->size() - doff);
    const S* from = src_seg->data() + so;
    D* to = dst_seg->data() + doff;
    if constexpr (std::same_as<s_type, D>) {
      if constexpr (std::same_as<SS, device_space>)
        download(to, from, len);
      else
        upload(to, from, len);
    } else if constexpr (std::same_as<SS, device_space>) {  // download, then convert
      staged.resize(len);
      download(staged.data(), from, len);
      finish(kernel);
      for (std::size_t j = 0; j < len; ++j) to[j] = D(staged[j]);
    } else {  // convert, then upload (waited for: `converted` is reused)
      converted.assign(from, from + len);
      upload(to, converted.data(), len);
      finish(kernel);
    }
    g += len;
    if ((so += len) == src_seg->size()) ++src_seg, so = 0;
    if ((doff += len) == dst_seg->size()) ++dst_seg, doff = 0;
  }
  finish(kernel);
}

}  // namespace detail::dev

/// Device memory's primitives (space.hpp): Thrust passes of detail::dev, deterministic
/// (see the header comment), and copies to and from host memory.
template <>
struct space_traits<device_space> {
  /// The owning container of T in device memory (per-parameter vectors of policies: ξ).
  template <class T>
  using vector = thrust::device_vector<T>;

  /// Σ of N terms over equally long device views (32 lanes per chunk, fixed-order folds).
  template <std::size_t N, class Term, class... V>
  static std::array<double, N> reduce(const Term& term, const V&... views) {
    return detail::dev::reduce<N>(term, views...);
  }

  /// op(element_of_each_view...) on every element, on the device.
  template <class Op, class... V>
  static void for_each(const Op& op, const V&... views) {
    detail::dev::for_each(op, views...);
  }

  /// counters (host memory) += sk(v), computed on the device; returns ||v||².
  template <class... V>
  static double sketch(const detail::sketch_hashes& hashes, double* counters, const V&... views) {
    return detail::dev::sketch(hashes, counters, views...);
  }

  /// counters (host memory) += tsk(v), computed on the device: the host's result bit for
  /// bit; returns ||v||² and Σ m_t² (thrust/tiled_sketch.hpp).
  template <class... V>
  static tile_sums tiled_sketch(const detail::tiled_hashes& hashes, double* counters, const V&... views) {
    return detail::dev::tiled_sketch(hashes, counters, views...);
  }

  /// dst ← src between host and device memory, either way (converting float ↔ double).
  template <class S, class SS, class D, class DS>
    requires(std::same_as<SS, device_space> != std::same_as<DS, device_space> &&
             (std::same_as<SS, host_space> || std::same_as<DS, host_space>))
  static void copy(const param_view<S, SS>& src, const param_view<D, DS>& dst) {
    detail::dev::copy_between(src, dst);
  }
};

}  // namespace fda
