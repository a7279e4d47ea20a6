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
/// Kernels: drift, sq_norm, sq_distance, dot, axpy, scale, copy, fill and all_finite have
/// overloads for device views, chosen when every argument is a device view (copy also
/// moves between host and device). Same names, arguments, checks and error messages as
/// kernels.hpp.
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

#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>
#include <vector>

#include "thrust/reduce.hpp"
#include "thrust/sketch.hpp"
#include "error.hpp"
#include "kernels.hpp"
#include "params.hpp"
#include "sketch.hpp"

namespace fda {

/// Memory space of a Thrust device system (a CUDA GPU, or memory worked on by OpenMP
/// threads): param_view<T, device_space> is a view of device memory.
struct device_space {};

/// Per-parameter vectors of policies (LinearFDA's ξ) live on the device next to w.
template <>
struct space_traits<device_space> {
  /// The owning container of T in device memory.
  template <class T>
  using vector = thrust::device_vector<T>;
};

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

/// X is viewable and its view lives in device memory. It refines `viewable`, so the device
/// overloads below are preferred to the host kernels when every argument satisfies it.
template <class X>
concept device_viewable = viewable<X> && std::same_as<typename view_t<X>::space, device_space>;
/// X is viewable and its view lives in host memory (copy between host and device uses it).
template <class X>
concept host_viewable = viewable<X> && std::same_as<typename view_t<X>::space, host_space>;

namespace detail::dev {

/// dst ← src between host and device memory, piece by piece (converting on the host side
/// when the element types differ).
template <class S, class SS, class D, class DS>
void copy_between(const param_view<S, SS>& src, const param_view<D, DS>& dst) {
  using s_type = std::remove_const_t<S>;
  std::size_t g = 0;
  auto src_seg = src.segments().begin();
  auto dst_seg = dst.segments().begin();
  std::size_t so = 0, doff = 0;
  std::vector<s_type> staged;
  while (g < src.size()) {
    const std::size_t len = smaller(src_seg->size() - so, dst_seg->size() - doff);
    const S* from = src_seg->data() + so;
    D* to = dst_seg->data() + doff;
    if constexpr (std::same_as<s_type, D>) {
      if constexpr (std::same_as<SS, device_space>)
        thrust::copy(thrust::device_ptr<const S>(from), thrust::device_ptr<const S>(from + len), to);
      else
        thrust::copy(from, from + len, thrust::device_ptr<D>(to));
    } else if constexpr (std::same_as<SS, device_space>) {  // download, then convert
      staged.resize(len);
      thrust::copy(thrust::device_ptr<const S>(from), thrust::device_ptr<const S>(from + len), staged.begin());
      for (std::size_t j = 0; j < len; ++j) to[j] = D(staged[j]);
    } else {  // convert, then upload
      std::vector<D> converted(from, from + len);
      thrust::copy(converted.begin(), converted.end(), thrust::device_ptr<D>(to));
    }
    g += len;
    if ((so += len) == src_seg->size()) ++src_seg, so = 0;
    if ((doff += len) == dst_seg->size()) ++dst_seg, doff = 0;
  }
}

}  // namespace detail::dev

// ---------------------------------------------------------------------------------------
// Kernels on device views: the names and semantics of kernels.hpp.

/// ||w - w0||² and xi · (w - w0) in one pass over the three device arrays.
template <device_viewable W, device_viewable W0, device_viewable Xi>
drift_stats drift(const W& w, const W0& w0, const Xi& xi) {
  const auto& vw = detail::as_view(w);
  const auto& vw0 = detail::as_view(w0);
  const auto& vxi = detail::as_view(xi);
  detail::require_same_size("fda::drift", {"w", "w0", "xi"}, vw, vw0, vxi);
  const auto t = detail::dev::reduce<2>(detail::dev::drift_term{}, vw, vw0, vxi);
  return {t[0], t[1]};
}

/// ||a - b||² on the device.
template <device_viewable A, device_viewable B>
double sq_distance(const A& a, const B& b) {
  const auto& va = detail::as_view(a);
  const auto& vb = detail::as_view(b);
  detail::require_same_size("fda::sq_distance", {"a", "b"}, va, vb);
  return detail::dev::reduce<1>(detail::dev::sq_distance_term{}, va, vb)[0];
}

/// ||v||² on the device.
template <device_viewable V>
double sq_norm(const V& v) {
  return detail::dev::reduce<1>(detail::dev::sq_norm_term{}, detail::as_view(v))[0];
}

/// a · b on the device.
template <device_viewable A, device_viewable B>
double dot(const A& a, const B& b) {
  const auto& va = detail::as_view(a);
  const auto& vb = detail::as_view(b);
  detail::require_same_size("fda::dot", {"a", "b"}, va, vb);
  return detail::dev::reduce<1>(detail::dev::dot_term{}, va, vb)[0];
}

/// y ← y + a·x on the device.
template <device_viewable X, device_viewable Y>
void axpy(double a, const X& x, Y&& y) {
  const auto& vx = detail::as_view(x);
  const auto& vy = detail::as_view(y);
  detail::require_same_size("fda::axpy", {"y", "x"}, vy, vx);
  detail::dev::for_each(detail::dev::axpy_op{a}, vx, vy);
}

/// x ← a·x on the device.
template <device_viewable X>
void scale(double a, X&& x) {
  detail::dev::for_each(detail::dev::scale_op{a}, detail::as_view(x));
}

/// dst ← src on the device (element types may differ: float ↔ double).
template <device_viewable Src, device_viewable Dst>
void copy(const Src& src, Dst&& dst) {
  const auto& vs = detail::as_view(src);
  const auto& vd = detail::as_view(dst);
  detail::require_same_size("fda::copy", {"dst", "src"}, vd, vs);
  detail::dev::for_each(detail::dev::copy_op{}, vs, vd);
}

/// dst (device) ← src (host): uploads, converting when the element types differ.
template <host_viewable Src, device_viewable Dst>
void copy(const Src& src, Dst&& dst) {
  const auto& vs = detail::as_view(src);
  const auto& vd = detail::as_view(dst);
  detail::require_same_size("fda::copy", {"dst", "src"}, vd, vs);
  detail::dev::copy_between(vs, vd);
}

/// dst (host) ← src (device): downloads, converting when the element types differ.
template <device_viewable Src, host_viewable Dst>
void copy(const Src& src, Dst&& dst) {
  const auto& vs = detail::as_view(src);
  const auto& vd = detail::as_view(dst);
  detail::require_same_size("fda::copy", {"dst", "src"}, vd, vs);
  detail::dev::copy_between(vs, vd);
}

/// x ← value everywhere, on the device.
template <device_viewable X>
void fill(X&& x, double value) {
  const auto& vx = detail::as_view(x);
  using T = typename std::remove_cvref_t<decltype(vx)>::value_type;
  detail::dev::for_each(detail::dev::fill_op<T>{T(value)}, vx);
}

/// True when every element of the device view is finite.
template <device_viewable V>
bool all_finite(const V& v) {
  return detail::dev::reduce<1>(detail::dev::finite_term{}, detail::as_view(v))[0] == 0.0;
}

namespace detail {

/// The AMS sketch of device views (ams_sketch::add, sketch_fda): computed on the device,
/// the depth × width counters (host memory) updated once per call.
template <>
struct sketch_kernel<device_space> {
  template <class... V>
  static double accumulate(const sketch_hashes& hashes, double* counters, const V&... views) {
    static_assert((std::same_as<typename V::space, device_space> && ...),
                  "fda: a sketch of a device view and a host view: pass views of one memory space");
    return dev::sketch(hashes, counters, views...);
  }
};

}  // namespace detail
}  // namespace fda
