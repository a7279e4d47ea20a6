// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Softmax (multinomial logistic) regression: z = W x + b, W 10 × 784, 7,850 parameters.
/// The convex baseline of the job: one GEMM forward, one backward.
#include "model.hpp"

namespace fda::models {

template <class T>
class basic_softmax_regression : public classifier<basic_softmax_regression<T>> {
 public:
  using scalar = T;
  static constexpr std::size_t parameter_count = image_size * num_classes + num_classes;

  /// Buffers for batches of up to `max_batch` images (a larger batch grows them once);
  /// parameters drawn by init(seed).
  explicit basic_softmax_regression(std::size_t max_batch = 64, std::uint64_t seed = 0)
      : params_(parameter_count), grads_(parameter_count) {
    reserve(max_batch);
    init(seed);
  }

  std::size_t size() const { return params_.size(); }
  std::vector<T>& params() { return params_; }
  const std::vector<T>& params() const { return params_; }
  std::vector<T>& grads() { return grads_; }
  const std::vector<T>& grads() const { return grads_; }

  /// Glorot-uniform W (the layer is linear), b = 0.
  void init(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    fc_.init(params_.data(), glorot_limit(fc_.in, fc_.out), rng);
  }

  /// Mean cross-entropy of the batch; grads() ← its gradient.
  T loss_and_grad(const float* images, const std::uint8_t* labels, std::size_t n) {
    if (n == 0) throw std::invalid_argument("fda::models: empty batch");
    detail::check_labels(labels, n);
    reserve(n);
    T* z = logits(images, n);
    const auto total = detail::cross_entropy(z, labels, n, num_classes, true);
    fc_.backward(params_.data(), grads_.data(), x_, z, static_cast<T*>(nullptr), n);
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
    fc_.forward(params_.data(), x_, z_.data(), n, false);
    return z_.data();
  }

  std::size_t capacity() const { return z_.size() / num_classes; }

  /// Makes room for batches of n images (allocates only when n > capacity()).
  void reserve(std::size_t n) {
    if (n <= capacity()) return;
    z_.resize(n * num_classes);
    if constexpr (!std::same_as<T, float>) input_.resize(n * image_size);
  }

 private:
  static constexpr dense fc_{image_size, num_classes, 0};
  std::vector<T> params_, grads_;
  std::vector<T> input_, z_;  // input_: the images as T (double models only)
  const T* x_ = nullptr;      // the input of the last forward pass
};

using softmax_regression = basic_softmax_regression<float>;

}  // namespace fda::models
