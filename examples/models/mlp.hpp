// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A multilayer perceptron 784-200-200-10 with ReLU, 199,210 parameters:
///   h1 = relu(W1 x + b1), h2 = relu(W2 h1 + b2), z = W3 h2 + b3.
/// Each layer is one GEMM over the whole batch forward and two backward.
#include "model.hpp"

namespace fda::models {

template <class T>
class basic_mlp : public classifier<basic_mlp<T>> {
 public:
  using scalar = T;
  static constexpr std::size_t hidden = 200;
  static constexpr std::size_t parameter_count =
      (image_size * hidden + hidden) + (hidden * hidden + hidden) + (hidden * num_classes + num_classes);

  /// Buffers for batches of up to `max_batch` images (a larger batch grows them once);
  /// parameters drawn by init(seed).
  explicit basic_mlp(std::size_t max_batch = 64, std::uint64_t seed = 0)
      : params_(parameter_count), grads_(parameter_count) {
    static_assert(fc3_.end() == parameter_count);
    reserve(max_batch);
    init(seed);
  }

  std::size_t size() const { return params_.size(); }
  std::vector<T>& params() { return params_; }
  const std::vector<T>& params() const { return params_; }
  std::vector<T>& grads() { return grads_; }
  const std::vector<T>& grads() const { return grads_; }

  /// He-uniform for the two ReLU layers, Glorot-uniform for the output layer; biases 0.
  void init(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    T* p = params_.data();
    fc1_.init(p, he_limit(fc1_.in), rng);
    fc2_.init(p, he_limit(fc2_.in), rng);
    fc3_.init(p, glorot_limit(fc3_.in, fc3_.out), rng);
  }

  /// Mean cross-entropy of the batch; grads() ← its gradient (backpropagation: each
  /// layer's dX = Wᵀ dY, masked by the ReLU's derivative [h > 0]).
  T loss_and_grad(const float* images, const std::uint8_t* labels, std::size_t n) {
    if (n == 0) throw std::invalid_argument("fda::models: empty batch");
    detail::check_labels(labels, n);
    reserve(n);
    T* z = logits(images, n);
    const auto total = detail::cross_entropy(z, labels, n, num_classes, true);
    const T* p = params_.data();
    T* g = grads_.data();
    fc3_.backward(p, g, h2_.data(), z, dh2_.data(), n);
    detail::relu_mask(dh2_.data(), h2_.data(), hidden * n);
    fc2_.backward(p, g, h1_.data(), dh2_.data(), dh1_.data(), n);
    detail::relu_mask(dh1_.data(), h1_.data(), hidden * n);
    fc1_.backward(p, g, x_, dh1_.data(), static_cast<T*>(nullptr), n);
    return T(total / T(n));
  }

  /// Forward pass of n ≤ capacity() images: their logits, 10 × n column-major.
  T* logits(const float* images, std::size_t n) {
    if constexpr (std::same_as<T, float>) {
      x_ = images;
    } else {
      detail::convert(images, n * image_size, input_.data());
      x_ = input_.data();
    }
    const T* p = params_.data();
    fc1_.forward(p, x_, h1_.data(), n, true);
    fc2_.forward(p, h1_.data(), h2_.data(), n, true);
    fc3_.forward(p, h2_.data(), z_.data(), n, false);
    return z_.data();
  }

  std::size_t capacity() const { return z_.size() / num_classes; }

  /// Makes room for batches of n images (allocates only when n > capacity()).
  void reserve(std::size_t n) {
    if (n <= capacity()) return;
    for (auto* b : {&h1_, &h2_, &dh1_, &dh2_}) b->resize(n * hidden);
    z_.resize(n * num_classes);
    if constexpr (!std::same_as<T, float>) input_.resize(n * image_size);
  }

 private:
  static constexpr dense fc1_{image_size, hidden, 0};
  static constexpr dense fc2_{hidden, hidden, fc1_.end()};
  static constexpr dense fc3_{hidden, num_classes, fc2_.end()};
  std::vector<T> params_, grads_;
  std::vector<T> input_, h1_, h2_, z_, dh1_, dh2_;
  const T* x_ = nullptr;
};

using mlp = basic_mlp<float>;

}  // namespace fda::models
