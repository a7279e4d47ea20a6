// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The worker concept: what fda::train needs from a user's training code.
///
/// A worker has `params()`, returning anything fda::view accepts over mutable float or
/// double parameters (the trainer views it once per run, so the storage must stay put: a
/// reference to the container, a borrowed range such as std::span, or a temporary range of
/// borrowed things such as `module->parameters()` (tensor handles), never a temporary
/// std::vector of floats), and `step()`, one local optimizer step on one mini-batch. Optional:
/// `samples()` (its number of training examples, for sample-weighted means) and
/// `on_sync()`, called on every worker right after it has taken the global model at a sync
/// (its parameters already hold it), to reset or adjust its optimizer state; without it
/// the optimizer state carries over the sync untouched.
///
/// fda::train checks a worker with detail::diagnose_worker, whose first error says what is
/// wrong: no params() or no step(), params() returning a temporary container, elements that
/// are not float or double, or const parameters.
#include <concepts>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include "params.hpp"

namespace fda {

namespace detail {

/// What a worker's params() returns: a reference, or a value.
template <class W>
using params_result_t = decltype(std::declval<W&>().params());

/// True when fda::view accepts R, the type of an expression, as the trainer uses it: viewed
/// once and kept. An lvalue, a param_view, or a borrowed type (std::span; a param_access
/// specialization with `borrowed = true`; a range of such, as a std::vector of tensor
/// handles) qualify; a temporary owning container (a std::vector of floats returned by
/// value) does not: the view would dangle.
template <class R>
concept keeps_view = !std::is_void_v<R> && viewable<R> &&
                     (std::is_lvalue_reference_v<R> || is_param_view<std::remove_cvref_t<R>>::value ||
                      borrowed_params<std::remove_cvref_t<R>>());

}  // namespace detail

/// What fda::train needs (see the header comment): params() that fda::view keeps a view
/// of, over mutable float or double parameters, and step().
template <class W>
concept worker = requires(W& w) {
  w.params();
  w.step();
} && detail::keeps_view<detail::params_result_t<W>> &&
    !std::is_const_v<typename view_t<detail::params_result_t<W>>::element_type>;

template <class W>
concept counts_samples = requires(W& w) {
  { w.samples() } -> std::convertible_to<double>;
};

/// A worker with the optional per-worker sync hook `on_sync()` (see the header comment).
template <class W>
concept has_sync_hook = requires(W& w) { w.on_sync(); };

/// The parameter type (float or double) of a worker.
template <worker W>
using param_type_t = typename view_t<decltype(std::declval<W&>().params())>::value_type;

/// The memory space of a worker's parameters: host_space, or fda::device_space for device
/// views (<fda/thrust.hpp>).
template <worker W>
using param_space_t = typename view_t<decltype(std::declval<W&>().params())>::space;

namespace detail {

/// The scalar type at the bottom of a (nested) range type R: int for std::vector<int>,
/// std::vector<std::vector<int>>&; R itself (without cv and reference) when not a range.
template <class R>
struct innermost_element {
  using type = std::remove_cvref_t<R>;
};
template <class R>
  requires std::ranges::range<std::remove_reference_t<R>&> &&
           (!std::same_as<std::remove_cvref_t<std::ranges::range_reference_t<std::remove_reference_t<R>&>>,
                          std::remove_cvref_t<R>>)
struct innermost_element<R> {
  using type = typename innermost_element<std::ranges::range_reference_t<std::remove_reference_t<R>&>>::type;
};

/// The error of params() over elements of type Element (shown in the instantiation note).
template <class Element>
constexpr bool params_element_is_not_float_or_double() {
  static_assert(always_false<Element>,
                "fda::train: the element type of the worker's params() (Element, in the note above) is not "
                "float or double: fda::view takes float or double parameters. Store them as float or "
                "double, or, for a type of your own, specialize fda::param_access<Type> with `static auto "
                "view(Type&)` returning a std::span<float> (or double), or give it an fda_view(x) function");
  return false;
}

template <class R>
inline constexpr bool is_std_vector = false;
template <class E, class A>
inline constexpr bool is_std_vector<std::vector<E, A>> = true;

/// Whether W is a worker, and if not, one static_assert that says why (the first failing of:
/// a const worker, no params(), no step(), params() that fda::view cannot view, params()
/// returning a temporary container, elements that are not float or double, const
/// parameters). Both fda::train overloads call it first; true for a worker.
template <class W>
constexpr bool diagnose_worker() {
  if constexpr (std::is_const_v<W>) {
    static_assert(!std::is_const_v<W>,
                  "fda::train: the worker is const: pass it non-const (the trainer calls step() and writes "
                  "the global model into its parameters)");
  } else if constexpr (!requires(W& w) { w.params(); }) {
    static_assert(always_false<W>,
                  "fda::train: the worker has no params(): give it a member params() returning a reference "
                  "to its float or double parameters (std::vector<float>& params() { return w; }), or anything "
                  "else fda::view accepts");
  } else if constexpr (!requires(W& w) { w.step(); }) {
    static_assert(always_false<W>,
                  "fda::train: the worker has no step(): give it a member step() that runs one local "
                  "optimizer step on one mini-batch");
  } else {
    using R = params_result_t<W>;
    if constexpr (std::is_void_v<R>) {
      static_assert(always_false<W>,
                    "fda::train: the worker's params() returns nothing: return a reference to its float or "
                    "double parameters (std::vector<float>& params() { return w; })");
    } else if constexpr (!viewable<R>) {
      if constexpr (std::ranges::range<std::remove_reference_t<R>&>)
        params_element_is_not_float_or_double<typename innermost_element<R>::type>();
      else
        static_assert(always_false<W>,
                      "fda::train: the worker's params() returns a type fda::view does not understand (not a "
                      "range of float or double): give the type an fda_view(x) function, or specialize "
                      "fda::param_access<Type> with `static auto view(Type&)` returning a std::span<float> "
                      "(or double)");
    } else if constexpr (!keeps_view<R>) {
      if constexpr (is_std_vector<R>)
        static_assert(always_false<W>,
                      "fda::train: the worker's params() returns a temporary std::vector (by value): the view "
                      "would dangle; return a reference to the container, a borrowed range such as std::span, "
                      "or specialize fda::param_access<T> with `static constexpr bool borrowed = true`");
      else
        static_assert(always_false<W>,
                      "fda::train: the worker's params() returns a temporary container (by value, or as an "
                      "rvalue reference): the view would dangle; return a reference to the container, a "
                      "borrowed range such as std::span, or specialize fda::param_access<T> with `static "
                      "constexpr bool borrowed = true`");
    } else if constexpr (std::is_const_v<typename view_t<R>::element_type>) {
      static_assert(always_false<W>,
                    "fda::train: the worker's params() gives const parameters: return them mutable (the "
                    "trainer writes the global model into them at every sync)");
    } else {
      static_assert(worker<W>, "fda::train: not a worker: it needs params() and step()");
    }
  }
  return true;
}

}  // namespace detail

}  // namespace fda
