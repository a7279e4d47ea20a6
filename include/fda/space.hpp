// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Memory spaces: where a view's elements live, and the few primitives a space supplies so
/// that every kernel (kernels.hpp), the AMS sketch (sketch.hpp) and the policies run there.
///
/// `fda::space_traits<Space>` is the one customization point of a memory space. The kernels
/// are written once, over these primitives; a space supplies only
///   - `vector<T>`: the owning container of T in the space (LinearFDA's ξ, fda::train's
///     buffers): constructible from a size n and from a range [first, last) of host memory,
///     and viewable by fda::view as a param_view<T, Space>;
///   - `reduce<N>(term, views...)` → std::array<double, N>: Σ over the elements of N terms,
///     term(acc, element_of_each_view...) adding into acc[0 .. N) (acc[k] += x), in an
///     order that depends only on the index and n (deterministic);
///   - `for_each(op, views...)`: op(element_of_each_view...) on every element (the last
///     views' elements are references: the op writes them);
/// and, optionally,
///   - `sketch(hashes, counters, views...)` → ||v||²: counters (host memory, depth × width
///     doubles) += the AMS sketch of v = a, or v = a − b with two views (ams_sketch,
///     sketch_fda);
///   - `tiled_sketch(hashes, counters, views...)` → tile_sums {||v||², Σ_t m_t²}: counters +=
///     the tiled AMS sketch of v (tiled_sketch, sketch_fda with sketch_kind::tiled);
///   - `copy(src, dst)`: dst ← src between host memory and this space, either way.
/// The views passed to a primitive are param_view<T, Space> of one space and of equal sizes
/// (the kernels check that, and name the argument that differs). The per-element terms and
/// ops the library passes are in detail/terms.hpp (FDA_HOST_DEVICE: device code calls them).
/// host_space's primitives are below; <fda/thrust.hpp> adds fda::device_space;
/// tests/test_memory_space.cpp writes a third space in plain loops; docs/concepts.md
/// ("Memory space") lists what each member must do.
#include <array>
#include <cstddef>
#include <vector>

#include "detail/traverse.hpp"

namespace fda {

/// Memory space tag of host memory: param_view<T> (= param_view<T, host_space>) views it.
struct host_space {};

namespace detail {
template <class>
inline constexpr bool no_backend = false;
}  // namespace detail

/// The primitives of memory space Space (see the header comment). This primary template is
/// what a space without a specialization gets: using it is a compile error that names the
/// space (in the "required from" note) and lists what to supply.
template <class Space>
struct space_traits {
  static_assert(detail::no_backend<Space>,
                "fda::space_traits<Space> is not specialized for this memory space (named in the "
                "instantiation above). A memory space supplies: template <class T> using vector; "
                "reduce<N>(term, views...) -> std::array<double, N>; for_each(op, views...); "
                "optionally sketch(hashes, counters, views...) and copy(src, dst) to and from "
                "host memory. See docs/concepts.md (Memory space); device views need "
                "<fda/thrust.hpp>.");
};

namespace detail {
struct sketch_hashes;
struct tiled_hashes;
struct tile_sums;
/// The host sketch kernel (detail/sketch_host.hpp; sketch.hpp includes it).
template <class... V>
double sketch_accumulate(const sketch_hashes& hashes, double* counters, const V&... views);
/// The host tiled sketch kernel (detail/tiled_sketch_host.hpp; tiled_sketch.hpp includes it).
template <class... V>
tile_sums tiled_accumulate(const tiled_hashes& hashes, double* counters, const V&... views);

/// acc[k] of a host reduction term: lane l of the blocked sum's k-th row (traverse.hpp).
template <std::size_t N>
struct lane_acc {
  double (*rows)[lanes];
  std::size_t lane;
  FDA_HOST_DEVICE double& operator[](std::size_t k) const { return rows[k][lane]; }
};
}  // namespace detail

/// Host memory: std::vector, and the host algorithms of detail/traverse.hpp (blocked in 8
/// lanes, vectorized per instruction set, deterministic), detail/sketch_host.hpp and
/// detail/tiled_sketch_host.hpp.
template <>
struct space_traits<host_space> {
  /// The owning container of T in this space.
  template <class T>
  using vector = std::vector<T>;

  /// Σ of N terms over the elements of equally long host views (detail::reduce's order).
  template <std::size_t N, class Term, class... V>
  static std::array<double, N> reduce(const Term& term, const V&... views) {
    return detail::reduce<N>(
        [&term](auto& rows, std::size_t l, auto... x) { term(detail::lane_acc<N>{rows, l}, x...); },
        views...);
  }

  /// op(element_of_each_view...) on every element, in index order.
  template <class Op, class... V>
  static void for_each(const Op& op, const V&... views) {
    detail::for_each_element(op, views...);
  }

  /// counters += sk(v) (v = a, or a − b); returns ||v||² (detail::sketch_accumulate).
  template <class... V>
  static double sketch(const detail::sketch_hashes& hashes, double* counters, const V&... views) {
    return detail::sketch_accumulate(hashes, counters, views...);
  }

  /// counters += tsk(v) (v = a, or a − b); returns ||v||² and Σ_t m_t² (detail::tiled_accumulate).
  template <class... V>
  static auto tiled_sketch(const detail::tiled_hashes& hashes, double* counters, const V&... views) {
    return detail::tiled_accumulate(hashes, counters, views...);
  }
};

}  // namespace fda
