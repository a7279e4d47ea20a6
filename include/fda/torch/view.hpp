// SPDX-License-Identifier: Apache-2.0
#pragma once
/// LibTorch parameters as fda views: `fda::view` of an at::Tensor, of a range of tensors
/// (`module->parameters()`, a temporary std::vector of handles, is accepted), of a
/// torch::nn::Module and of a torch::nn::ModuleHolder (`Net`, for `struct NetImpl`).
///
/// The view is zero-copy: its segments are the tensors' own storage, so writing through it
/// (a sync writing the global model) changes the tensors. It stays valid while the tensors
/// keep their storage: replacing a parameter's data (`set_data`, `.to(...)` returning a new
/// tensor, `register_parameter` again) after the trainer has viewed it leaves the view on
/// the old storage. Elements are float by default; `fda::torch::params<double>(module)`
/// views a double model, and `{.buffers = true}` adds the floating-point buffers (BatchNorm's
/// running statistics) after the parameters; integer buffers are always skipped.
///
/// Refused with fda::invalid_argument naming the parameter (its name in named_parameters(),
/// or its shape for a bare tensor) and what is wrong: an undefined or sparse tensor, a dtype
/// other than the element type, a device other than the CPU, a non-contiguous tensor, and
/// two parameters that partly overlap in memory. A parameter listed twice (tied weights:
/// the same storage, offset and length) is viewed once, as PyTorch's parameters() does.
#include <torch/torch.h>

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../error.hpp"
#include "../params.hpp"

namespace fda {
namespace torch {

/// What a view of a module holds besides its parameters.
struct view_options {
  /// Also the floating-point buffers (BatchNorm's running mean and variance), after the
  /// parameters, in registration order; integer buffers (num_batches_tracked) never.
  bool buffers = false;
};

}  // namespace torch

namespace detail {

/// The torch dtype of float or double.
template <class T>
constexpr c10::ScalarType torch_dtype() {
  return std::same_as<T, double> ? c10::ScalarType::Double : c10::ScalarType::Float;
}

/// "parameter conv1.weight [6, 1, 5, 5]": how a refusal names a tensor.
inline std::string torch_name(std::string_view what, const at::Tensor& t) {
  if (!t.defined()) return concat(what, " (undefined)");
  return concat(what, " ", t.sizes());
}

/// The storage of one tensor as a span of T, after the checks of the header comment.
template <class T>
std::span<T> torch_segment(const at::Tensor& t, std::string_view what) {
  using value = std::remove_const_t<T>;
  if (!t.defined()) fail("fda::view: ", what, " is an undefined tensor");
  if (t.layout() != c10::kStrided)
    fail("fda::view: ", torch_name(what, t), " has layout ", t.layout(), "; fda views dense (strided) tensors only");
  if (!t.device().is_cpu())
    fail("fda::view: ", torch_name(what, t), " is on ", t.device().str(),
         "; fda views CPU tensors only (docs/torch.md: CUDA tensors)");
  if (t.scalar_type() != torch_dtype<value>())
    fail("fda::view: ", torch_name(what, t), " has dtype ", c10::toString(t.scalar_type()), ", not ",
         c10::toString(torch_dtype<value>()),
         std::same_as<value, float> ? " (view a double model with fda::torch::params<double>)"
                                    : " (view a float model with fda::torch::params<float>)");
  if (!t.is_contiguous())
    fail("fda::view: ", torch_name(what, t), " is not contiguous (strides ", t.strides(),
         "); make it contiguous before training, e.g. p.set_data(p.contiguous())");
  return std::span<T>(static_cast<T*>(t.data_ptr()), std::size_t(t.numel()));
}

/// The tensors of a module in view order: each named parameter, then (with
/// options.buffers) each floating-point buffer.
inline std::vector<std::pair<std::string, at::Tensor>> torch_named_tensors(const ::torch::nn::Module& module,
                                                                           ::fda::torch::view_options options) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : module.named_parameters(true)) out.emplace_back("parameter " + item.key(), item.value());
  if (options.buffers)
    for (const auto& item : module.named_buffers(true))
      if (!item.value().defined() || at::isFloatingType(item.value().scalar_type()))
        out.emplace_back("buffer " + item.key(), item.value());
  return out;
}

/// The view of named tensors, a tensor listed twice (tied weights) viewed once, and two
/// that overlap in part refused (the drift and the average would count those elements twice).
template <class T>
param_view<T> torch_view_of(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  struct placed {
    std::span<T> span;
    std::size_t index;
  };
  std::vector<placed> all;
  all.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i)
    all.push_back({torch_segment<T>(tensors[i].second, tensors[i].first), i});
  std::vector<placed> by_address = all;
  std::sort(by_address.begin(), by_address.end(),
            [](const placed& a, const placed& b) { return std::less<>{}(a.span.data(), b.span.data()); });
  std::vector<bool> duplicate(all.size(), false);
  for (std::size_t i = 1; i < by_address.size(); ++i) {
    const placed &a = by_address[i - 1], &b = by_address[i];
    if (a.span.empty() || b.span.empty()) continue;
    if (a.span.data() == b.span.data() && a.span.size() == b.span.size()) {
      duplicate[std::max(a.index, b.index)] = true;  // the later one in view order
    } else if (std::less<>{}(b.span.data(), a.span.data() + a.span.size())) {
      fail("fda::view: ", torch_name(tensors[a.index].first, tensors[a.index].second), " and ",
           torch_name(tensors[b.index].first, tensors[b.index].second),
           " overlap in memory; fda views each element once (share whole tensors, or copy one)");
    }
  }
  param_view<T> view;
  for (const placed& p : all)
    if (!duplicate[p.index]) view.append(p.span);
  return view;
}

}  // namespace detail

namespace torch {

/// One tensor's elements (float by default, double on request).
template <class T = float>
  requires detail::real<T>
param_view<T> params(const at::Tensor& tensor) {
  return param_view<T>(detail::torch_segment<T>(tensor, "tensor"));
}

/// The parameters of a module (all of them, in registration order, recursively), and with
/// `{.buffers = true}` its floating-point buffers after them.
template <class T = float>
  requires detail::real<T>
param_view<T> params(const ::torch::nn::Module& module, view_options options = {}) {
  return detail::torch_view_of<T>(detail::torch_named_tensors(module, options));
}

/// The parameters of the module a holder (`Net` for `struct NetImpl`) holds.
template <class T = float, class Impl>
  requires detail::real<T>
param_view<T> params(const ::torch::nn::ModuleHolder<Impl>& holder, view_options options = {}) {
  return params<T>(*holder, options);
}

/// The tensors of a range (`module->parameters()`), in order; each is named by its place
/// and shape in a refusal.
template <class T = float, std::ranges::input_range R>
  requires detail::real<T> && std::convertible_to<std::ranges::range_reference_t<R>, const at::Tensor&>
param_view<T> params(R&& tensors) {
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (const at::Tensor& t : tensors) named.emplace_back(detail::concat("tensor ", named.size()), t);
  return detail::torch_view_of<T>(named);
}

}  // namespace torch

/// at::Tensor (torch::Tensor): its elements as float. A tensor is a handle: a temporary
/// may be viewed, and so may a temporary range of them (`module->parameters()`).
template <>
struct param_access<at::Tensor> {
  /// Tensors are handles to storage they share.
  static constexpr bool borrowed = true;
  /// The tensor's elements, float.
  static param_view<float> view(at::Tensor& t) { return torch::params<float>(t); }
  /// The elements of a const tensor, read-only.
  static param_view<const float> view(const at::Tensor& t) { return torch::params<float>(t); }
};

/// A range of tensors (std::vector<at::Tensor>, from `module->parameters()`): one view, and
/// tied weights viewed once.
template <>
struct param_access<std::vector<at::Tensor>> {
  /// The vector holds handles only: a temporary one may be viewed.
  static constexpr bool borrowed = true;
  /// The tensors' elements, float, in order.
  static param_view<float> view(std::vector<at::Tensor>& v) { return torch::params<float>(v); }
  /// Read-only.
  static param_view<const float> view(const std::vector<at::Tensor>& v) { return torch::params<float>(v); }
};

/// A torch::nn::Module (a user's `NetImpl`): its parameters as float, in registration order.
template <class M>
  requires std::derived_from<M, ::torch::nn::Module>
struct param_access<M> {
  /// The module's parameters, float.
  static param_view<float> view(M& m) { return torch::params<float>(m); }
  /// Read-only.
  static param_view<const float> view(const M& m) { return torch::params<float>(m); }
};

/// A torch::nn::ModuleHolder (`Net`, made by TORCH_MODULE(Net)): a shared handle to the
/// module, so a temporary may be viewed.
template <class H>
  requires std::derived_from<H, ::torch::nn::ModuleHolder<typename H::ContainedType>>
struct param_access<H> {
  /// A holder is a handle (a shared pointer to the module).
  static constexpr bool borrowed = true;
  /// The module's parameters, float.
  static param_view<float> view(H& h) { return torch::params<float>(*h); }
  /// Read-only.
  static param_view<const float> view(const H& h) { return torch::params<float>(*h); }
};

}  // namespace fda
