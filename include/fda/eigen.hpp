// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Eigen adapter (opt-in): `fda::view` of Eigen vectors, matrices and arrays.
///
/// Accepts any Eigen dense object of float or double with direct memory access:
/// Matrix and Array (vectors or matrices, column- or row-major, fixed or dynamic size),
/// Map, Ref, and blocks of those. The view lists the elements in storage order
/// (column-major unless the type says RowMajor), aliases the object's memory, and is
/// const when the object is. A std::vector of matrices is a model of several tensors
/// and is viewed through the nested-range rule of params.hpp.
///
/// The memory must be contiguous; a strided Map/Ref/block throws fda::invalid_argument
/// (strides are run-time values, so this cannot be checked at compile time).
#include <Eigen/Core>
#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>

#include "error.hpp"
#include "params.hpp"

namespace fda {
namespace detail {

/// An Eigen object of float or double whose elements lie in memory at data().
template <class E>
concept eigen_direct = std::derived_from<E, Eigen::DenseBase<E>> &&
                       real<typename E::Scalar> &&
                       (int(E::Flags) & Eigen::DirectAccessBit) != 0;

/// Element (i, j) in storage order lives at data() + i·innerStride + j·outerStride; the
/// storage is one run iff each stride that is used steps to the next element.
template <class E>
bool eigen_contiguous(const E& e) {
  return (e.innerSize() <= 1 || e.innerStride() == 1) &&
         (e.outerSize() <= 1 || e.outerStride() == e.innerSize());
}

}  // namespace detail

/// Eigen dense objects with direct access: a span over their storage (checked contiguous).
template <class E>
  requires detail::eigen_direct<E>
struct param_access<E> {
  /// Map, Ref and blocks do not own their elements: a temporary of them may be viewed.
  static constexpr bool borrowed = !std::derived_from<E, Eigen::PlainObjectBase<E>>;

  /// Self is E or const E; data() gives const elements for const objects and Ref<const X>.
  template <class Self>
    requires std::same_as<std::remove_const_t<Self>, E>
  static auto view(Self& e) {
    if (!detail::eigen_contiguous(e))
      detail::fail("fda::view: this Eigen object is not contiguous (inner stride ",
                   e.innerStride(), ", outer stride ", e.outerStride(),
                   "); view a contiguous copy");
    auto* p = e.data();
    return std::span<std::remove_pointer_t<decltype(p)>>(p, std::size_t(e.size()));
  }
};

}  // namespace fda
