// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The per-element work of the kernels, written once for every memory space: the reduction
/// terms that space_traits<Space>::reduce sums, and the element-wise ops that
/// space_traits<Space>::for_each applies (space.hpp). FDA_HOST_DEVICE: device code calls them.
///
/// A term is called as term(acc, element_of_each_view...) and adds its N values into
/// acc[0 .. N) (`acc[k] += x`; acc is a double* on the device, a lane of the host's blocked
/// sum on the host). An op is called as op(element_of_each_view...), the elements it writes
/// by reference. Products go through mul(), rounded on their own: a fused multiply-add
/// would round once instead of twice and change the last bit with the build (isa.hpp).
#include <cstddef>

#include "host_device.hpp"

// Clang contracts a*b+c within one expression wherever the ISA has FMA (-march=native):
// not in these terms, whose results must not depend on the build (detail/isa.hpp).
#if defined(__clang__)
#pragma float_control(push)
#pragma clang fp contract(off)
#endif

namespace fda::detail {

/// a·b rounded on its own: nvcc would otherwise fuse `acc + a·b` into an FMA (the host's
/// clones are compiled without contraction: isa.hpp).
FDA_HOST_DEVICE inline double mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

/// drift: acc[0] += (a − b)², acc[1] += x · (a − b), with a = w, b = w0, x = ξ.
struct drift_term {
  static constexpr const char* kernel = "drift";  ///< its name in error messages
  template <class Acc, class A, class B, class X>
  FDA_HOST_DEVICE void operator()(Acc&& acc, A a, B b, X x) const {
    const double u = double(a) - double(b);
    acc[0] += mul(u, u);
    acc[1] += mul(double(x), u);
  }
};

/// sq_distance: acc[0] += (a − b)².
struct sq_distance_term {
  static constexpr const char* kernel = "sq_distance";  ///< its name in error messages
  template <class Acc, class A, class B>
  FDA_HOST_DEVICE void operator()(Acc&& acc, A a, B b) const {
    const double u = double(a) - double(b);
    acc[0] += mul(u, u);
  }
};

/// sq_norm: acc[0] += a².
struct sq_norm_term {
  static constexpr const char* kernel = "sq_norm";  ///< its name in error messages
  template <class Acc, class A>
  FDA_HOST_DEVICE void operator()(Acc&& acc, A a) const {
    acc[0] += mul(double(a), double(a));
  }
};

/// dot: acc[0] += a · b.
struct dot_term {
  static constexpr const char* kernel = "dot";  ///< its name in error messages
  template <class Acc, class A, class B>
  FDA_HOST_DEVICE void operator()(Acc&& acc, A a, B b) const {
    acc[0] += mul(double(a), double(b));
  }
};

/// all_finite: acc[0] += a · 0, which is 0 for finite a and NaN otherwise (branch-free).
struct finite_term {
  static constexpr const char* kernel = "all_finite";  ///< its name in error messages
  template <class Acc, class A>
  FDA_HOST_DEVICE void operator()(Acc&& acc, A a) const {
    acc[0] += mul(double(a), 0.0);
  }
};

/// axpy: y ← y + a·x, rounded once to y's type.
struct axpy_op {
  static constexpr const char* kernel = "axpy";  ///< its name in error messages
  double a;  ///< the scalar
  template <class X, class Y>
  FDA_HOST_DEVICE void operator()(X x, Y& y) const {
    y = Y(double(y) + mul(a, double(x)));
  }
};

/// scale: x ← a·x.
struct scale_op {
  static constexpr const char* kernel = "scale";  ///< its name in error messages
  double a;  ///< the scalar
  template <class X>
  FDA_HOST_DEVICE void operator()(X& x) const {
    x = X(mul(a, double(x)));
  }
};

/// copy: d ← s, converted to d's type.
struct copy_op {
  static constexpr const char* kernel = "copy";  ///< its name in error messages
  template <class S, class D>
  FDA_HOST_DEVICE void operator()(S s, D& d) const {
    d = D(s);
  }
};

/// fill: x ← value (converted to T once, by the kernel).
template <class T>
struct fill_op {
  static constexpr const char* kernel = "fill";  ///< its name in error messages
  T value;  ///< the value, in the view's element type
  FDA_HOST_DEVICE void operator()(T& x) const { x = value; }
};

/// LinearFDA's ξ after a sync: x ← (a − b) / step, a = new w0, b = old w0.
struct step_direction_op {
  static constexpr const char* kernel = "step_direction";  ///< its name in error messages
  double step;  ///< ||a − b||
  template <class A, class B, class X>
  FDA_HOST_DEVICE void operator()(A a, B b, X& x) const {
    x = X((double(a) - double(b)) / step);
  }
};

/// LinearFDA's normalization: x ← x / n.
struct divide_op {
  static constexpr const char* kernel = "divide";  ///< its name in error messages
  double n;  ///< the divisor (a norm)
  template <class X>
  FDA_HOST_DEVICE void operator()(X& x) const {
    x = X(double(x) / n);
  }
};

}  // namespace fda::detail

#if defined(__clang__)
#pragma float_control(pop)
#endif
