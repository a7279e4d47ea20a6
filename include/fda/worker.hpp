#pragma once
/// The worker concept: what fda::train needs from a user's training code.
///
/// A worker has `params()`, returning anything fda::view accepts over mutable float or
/// double parameters (the trainer views it once per run, so the storage must stay put),
/// and `step()`, one local optimizer step on one mini-batch. Optional:
/// `samples()` (its number of training examples, for sample-weighted means).
#include <concepts>
#include <type_traits>

#include "params.hpp"

namespace fda {

template <class W>
concept worker = requires(W& w) {
  { w.params() } -> viewable;
  w.step();
} && !std::is_const_v<typename view_t<decltype(std::declval<W&>().params())>::element_type>;

template <class W>
concept counts_samples = requires(W& w) {
  { w.samples() } -> std::convertible_to<double>;
};

/// The parameter type (float or double) of a worker.
template <worker W>
using param_type_t = typename view_t<decltype(std::declval<W&>().params())>::value_type;

/// The memory space of a worker's parameters: host_space, or fda::device_space for device
/// views (<fda/thrust.hpp>).
template <worker W>
using param_space_t = typename view_t<decltype(std::declval<W&>().params())>::space;

}  // namespace fda
