// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Parameter views: a model's trainable scalars seen as one vector, whatever holds them.
///
/// `fda::view(x)` turns `x` into a `param_view<T>`, a list of contiguous spans that the
/// kernels treat exactly like one vector of their total length. It accepts
///   - contiguous ranges of float or double (std::vector, std::span, std::array, ...),
///   - a (pointer, size) pair,
///   - a range of viewable things (a model made of several tensors),
///   - user types, through an ADL function `fda_view(x)` found next to the type, or a
///     specialization of `fda::param_access<Type>` (how <fda/eigen.hpp> adds Eigen and
///     <fda/torch.hpp> adds LibTorch).
/// A view never copies or owns the parameters: keep the container alive. A temporary may
/// be viewed only when it owns nothing: a std::span, an Eigen::Map, a tensor handle, or a
/// range of those (`module->parameters()`).
#include <concepts>
#include <cstddef>
#include <ranges>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

// Memory spaces (host_space, and space_traits: the primitives kernels run on).
#include "space.hpp"

namespace fda {

namespace detail {
template <class T>
concept real = std::same_as<T, float> || std::same_as<T, double>;
template <class T>
concept real_element = real<std::remove_const_t<T>>;
}  // namespace detail

/// A model's parameters as a sequence of contiguous segments (no ownership).
/// Empty segments are dropped; the order of segments is the order of the parameters.
template <class T, class Space = host_space>
  requires detail::real_element<T>
class param_view {
 public:
  using element_type = T;                     ///< float, double, or a const one
  using value_type = std::remove_const_t<T>;  ///< float or double
  using space = Space;                        ///< where the elements live (host_space, device_space)
  using segment = std::span<T>;               ///< one contiguous run of parameters

  /// An empty view (no parameters).
  param_view() = default;
  /// A view of one contiguous span.
  param_view(std::span<T> one) { append(one); }
  /// A view of `segments` in order (empty ones dropped).
  explicit param_view(const std::vector<segment>& segments) {
    for (auto s : segments) append(s);
  }

  /// A view of mutable parameters is also a view of const ones.
  template <class U>
    requires(std::same_as<T, const U>)
  param_view(const param_view<U, Space>& other) {
    for (auto s : other.segments()) append(s);
  }

  /// d: the number of parameters, over all segments.
  std::size_t size() const noexcept { return size_; }
  /// True when the view holds no parameter.
  bool empty() const noexcept { return size_ == 0; }
  /// The non-empty segments, in parameter order.
  std::span<const segment> segments() const noexcept { return segments_; }

  /// Appends the segments of `other` after this view's (concatenation).
  void append(const param_view& other) {
    for (auto s : other.segments()) append(s);
  }
  /// Appends one span after this view's segments (nothing when it is empty).
  void append(std::span<T> s) {
    if (s.empty()) return;
    segments_.push_back(s);
    size_ += s.size();
  }

  /// Element i of the concatenation (a linear search over segments: for tests and tools,
  /// not for kernels; host memory only). Throws std::out_of_range past the end.
  T& operator[](std::size_t i) const
    requires std::same_as<Space, host_space>
  {
    for (auto s : segments_) {
      if (i < s.size()) return s[i];
      i -= s.size();
    }
    throw std::out_of_range("fda::param_view: index past the end of the view");
  }

 private:
  std::vector<segment> segments_;
  std::size_t size_ = 0;
};

/// Customization point for third-party types: specialise with `static auto view(Type&)`
/// (and `view(const Type&)`, for const objects) returning anything `fda::view` accepts,
/// and `static constexpr bool borrowed = true` when Type does not own its elements (so a
/// temporary of it may be viewed).
template <class Type, class Enable = void>
struct param_access {};

namespace detail {

template <class X>
struct is_param_view : std::false_type {};
template <class T, class S>
struct is_param_view<param_view<T, S>> : std::true_type {};

template <class R>
concept real_contiguous_range =
    std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
    real_element<std::remove_reference_t<std::ranges::range_reference_t<R>>>;

template <class X>
concept has_adl_view = requires(X& x) { fda_view(x); };

template <class X>
concept has_param_access = requires(X& x) { param_access<std::remove_cv_t<X>>::view(x); };

enum class view_kind { none, param_view, contiguous, access, adl, nested };

template <class X>
constexpr view_kind kind_of();

template <class R>
concept nested_range = std::ranges::input_range<R> && !real_contiguous_range<R> &&
                       (kind_of<std::remove_reference_t<std::ranges::range_reference_t<R>>>() !=
                        view_kind::none);

/// How `fda::view` handles an lvalue of type X (the first rule that applies).
template <class X>
constexpr view_kind kind_of() {
  using bare = std::remove_cv_t<X>;
  // An explicit customization wins over the generic range rules.
  if constexpr (is_param_view<bare>::value) return view_kind::param_view;
  else if constexpr (has_param_access<X>) return view_kind::access;
  else if constexpr (has_adl_view<X>) return view_kind::adl;
  else if constexpr (real_contiguous_range<X&>) return view_kind::contiguous;
  else if constexpr (std::ranges::input_range<X&>) {
    using ref = std::remove_reference_t<std::ranges::range_reference_t<X&>>;
    if constexpr (!std::same_as<std::remove_cv_t<ref>, bare> && kind_of<ref>() != view_kind::none)
      return view_kind::nested;
    else
      return view_kind::none;
  } else
    return view_kind::none;
}

template <class>
inline constexpr bool always_false = false;

/// Whether a temporary X may be viewed: true for non-owning types (std::span, Eigen::Map,
/// a tensor handle), and for a range whose elements are all of such a type (a temporary
/// std::vector of spans or of tensors: the view refers to what the elements refer to,
/// never to the vector). A param_access specialization says so with `static constexpr bool
/// borrowed`.
template <class X>
constexpr bool borrowed_params() {
  if constexpr (requires { param_access<X>::borrowed; })
    return param_access<X>::borrowed;
  else if constexpr (std::ranges::enable_borrowed_range<X>)
    return true;
  else if constexpr (kind_of<X>() == view_kind::nested)
    return borrowed_params<std::remove_cvref_t<std::ranges::range_reference_t<X&>>>();
  else
    return false;
}

}  // namespace detail

/// True when `fda::view(x)` accepts an lvalue of type X.
template <class X>
concept viewable = detail::kind_of<std::remove_reference_t<X>>() != detail::view_kind::none;

/// A (pointer, size) pair: `n` contiguous parameters starting at `p`.
template <detail::real_element T>
param_view<T> view(T* p, std::size_t n) {
  return param_view<T>(std::span<T>(p, n));
}

/// The parameters held by `x` as a param_view (see the header comment for what is accepted).
template <class X>
auto view(X&& x) {
  using bare = std::remove_reference_t<X>;
  constexpr auto kind = detail::kind_of<bare>();
  if constexpr (kind == detail::view_kind::none) {
    static_assert(detail::always_false<X>,
                  "fda::view: this type holds no parameters fda understands. Pass a contiguous "
                  "range of float or double (std::vector, std::span, std::array), a (pointer, "
                  "size) pair, a range of those, or give the type an fda_view(x) function or an "
                  "fda::param_access specialization.");
  } else if constexpr (kind == detail::view_kind::param_view) {
    return std::remove_cv_t<bare>(x);
  } else {
    static_assert(std::is_lvalue_reference_v<X> || detail::borrowed_params<std::remove_cv_t<bare>>(),
                  "fda::view: the argument is a temporary container; the view would dangle. "
                  "Keep the container in a variable and view that.");
    if constexpr (kind == detail::view_kind::contiguous) {
      using T = std::remove_reference_t<std::ranges::range_reference_t<bare&>>;
      return param_view<T>(std::span<T>(std::ranges::data(x), std::ranges::size(x)));
    } else if constexpr (kind == detail::view_kind::access) {
      return fda::view(param_access<std::remove_cv_t<bare>>::view(x));
    } else if constexpr (kind == detail::view_kind::adl) {
      return fda::view(fda_view(x));
    } else {  // nested: a model made of several tensors
      using ref = std::ranges::range_reference_t<bare&>;
      using part = decltype(fda::view(std::declval<ref>()));
      part all;
      for (auto&& piece : x) all.append(fda::view(piece));
      return all;
    }
  }
}

/// The param_view type `fda::view` makes from an lvalue of type X.
template <viewable X>
using view_t = decltype(fda::view(std::declval<X&>()));

namespace detail {
/// Borrows a param_view as is and views anything else: kernels call this so that
/// passing a param_view costs no copy of its segment list.
template <class X>
decltype(auto) as_view(X& x) {
  if constexpr (is_param_view<std::remove_cv_t<X>>::value)
    return static_cast<const std::remove_cv_t<X>&>(x);
  else
    return fda::view(x);
}
}  // namespace detail

}  // namespace fda
