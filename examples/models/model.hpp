// SPDX-License-Identifier: Apache-2.0
#pragma once
/// What the Fashion-MNIST job asks of a model, and the pieces the three models share:
/// the image geometry, a portable seeded initializer, the softmax cross-entropy head and
/// the dense layer.
///
/// Every model owns ONE contiguous std::vector of all its parameters, weights and biases
/// in PyTorch's state_dict order (each weight row-major, [out][in] or [out][in][kh][kw]),
/// so `fda::view(model.params())` sees every trainable scalar without a copy; `grads()`
/// has the same layout. Layers keep offsets into that buffer, never pointers, so copying
/// or moving a model is safe. Activations are Eigen column-major matrices whose columns
/// are the samples (a sample's 784 pixels are one contiguous column, as in the IDX file).
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace fda::models {

/// Fashion-MNIST: 28 × 28 grey images (floats, row after row), 10 classes.
inline constexpr std::size_t image_side = 28;
inline constexpr std::size_t image_size = image_side * image_side;
inline constexpr std::size_t num_classes = 10;

/// A trainable classifier of 28 × 28 images; `scalar` is float (training) or double (for
/// gradient checks). `loss_and_grad` returns the mean cross-entropy of a batch and fills
/// grads(); `loss`, `accuracy` and `predict` take any number of images.
template <class M>
concept model = requires(M& m, const M& cm, const float* images, const std::uint8_t* labels,
                         std::uint8_t* out, std::size_t n, std::uint64_t seed) {
  typename M::scalar;
  { cm.size() } -> std::same_as<std::size_t>;
  { m.params() } -> std::same_as<std::vector<typename M::scalar>&>;
  { m.grads() } -> std::same_as<std::vector<typename M::scalar>&>;
  { m.loss_and_grad(images, labels, n) } -> std::same_as<typename M::scalar>;
  { m.loss(images, labels, n) } -> std::same_as<double>;
  { m.accuracy(images, labels, n) } -> std::same_as<double>;
  m.predict(images, n, out);
  m.init(seed);
};

template <class T>
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
/// Column-major views (the activations); `T` may be const.
template <class T>
using matrix_map = Eigen::Map<std::conditional_t<std::is_const_v<T>, const matrix<std::remove_const_t<T>>,
                                                 matrix<T>>>;
template <class T>
using row_matrix_map = Eigen::Map<std::conditional_t<
    std::is_const_v<T>, const row_matrix<std::remove_const_t<T>>, row_matrix<T>>>;

/// Uniform in [0, 1) from the top 53 bits of one draw: u = (r >> 11) · 2⁻⁵³, exact in
/// double. std::mt19937_64 is fully specified by the standard but
/// std::uniform_real_distribution is not, so this keeps init identical on every library.
inline double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1p-53; }

/// w ~ U(−limit, limit), drawn in order.
template <class T>
void fill_uniform(std::span<T> w, double limit, std::mt19937_64& rng) {
  for (auto& x : w) x = T((2 * uniform01(rng) - 1) * limit);
}

/// He-uniform, limit = √(6 / fan_in): keeps the second moment of ReLU activations
/// constant from layer to layer (He et al. 2015).
inline double he_limit(std::size_t fan_in) { return std::sqrt(6.0 / double(fan_in)); }
/// Glorot-uniform, limit = √(6 / (fan_in + fan_out)): for the linear output layer.
inline double glorot_limit(std::size_t fan_in, std::size_t fan_out) {
  return std::sqrt(6.0 / double(fan_in + fan_out));
}

namespace detail {

inline void check_labels(const std::uint8_t* labels, std::size_t n) {
  for (std::size_t s = 0; s < n; ++s)
    if (labels[s] >= num_classes)
      throw std::invalid_argument("fda::models: label " + std::to_string(labels[s]) +
                                  " out of range [0, 10)");
}

/// Sum over the n columns of z (k × n logits) of the cross-entropy, and, when `grad`,
/// dL/dz written over z for the mean loss L = (1/n) Σ_s [lse(z_s) − z_s[y_s]]:
///   dL/dz_s = (softmax(z_s) − onehot(y_s)) / n.
/// lse(z) = m + log Σ exp(z − m) with m = max z, so no exp overflows.
/// The sum is accumulated in double at least (long double for long double models).
template <class T>
auto cross_entropy(T* z, const std::uint8_t* labels, std::size_t n, std::size_t k, bool grad) {
  std::common_type_t<T, double> total = 0;
  const T inv_n = T(1) / T(n);
  for (std::size_t s = 0; s < n; ++s) {
    T* zs = z + s * k;
    const T m = *std::max_element(zs, zs + k);
    T sum = 0;
    for (std::size_t i = 0; i < k; ++i) sum += std::exp(zs[i] - m);
    const T lse = m + std::log(sum);
    total += lse - zs[labels[s]];
    if (grad) {
      for (std::size_t i = 0; i < k; ++i) zs[i] = std::exp(zs[i] - lse) * inv_n;
      zs[labels[s]] -= inv_n;
    }
  }
  return total;
}

/// Index of the largest of each column of z (k × n) — the predicted class.
template <class T>
void argmax_columns(const T* z, std::size_t n, std::size_t k, std::uint8_t* out) {
  for (std::size_t s = 0; s < n; ++s)
    out[s] = std::uint8_t(std::max_element(z + s * k, z + s * k + k) - (z + s * k));
}

/// y ← max(y + b, 0) column by column (bias and ReLU fused in one pass over y).
template <class T>
void bias_relu(T* y, const T* b, std::size_t rows, std::size_t n) {
  for (std::size_t s = 0; s < n; ++s, y += rows)
    for (std::size_t i = 0; i < rows; ++i) y[i] = std::max(y[i] + b[i], T(0));
}

/// d ← d ∘ [a > 0]: the ReLU's derivative, read from its output a.
template <class T>
void relu_mask(T* d, const T* a, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) d[i] = a[i] > T(0) ? d[i] : T(0);
}

/// Copies n images (float) into x as T: only the double models need it.
template <class T>
void convert(const float* images, std::size_t count, T* x) {
  std::copy(images, images + count, x);
}

}  // namespace detail

/// loss, accuracy and predict over any number of images, for a model `Derived` whose
/// `logits(images, n)` runs the forward pass of n ≤ capacity() images and returns their
/// logits (num_classes × n, column-major). Chunks of capacity() images keep the
/// preallocated buffers: evaluating a test set allocates nothing.
template <class Derived>
class classifier {
 public:
  /// Mean cross-entropy over the n images (0 when n = 0).
  double loss(const float* images, const std::uint8_t* labels, std::size_t n) {
    detail::check_labels(labels, n);
    double total = 0;
    for_chunks(n, [&](std::size_t at, std::size_t m) {
      total += detail::cross_entropy(self().logits(images + at * image_size, m), labels + at, m,
                                     num_classes, false);
    });
    return n == 0 ? 0.0 : total / double(n);
  }

  /// The predicted class (the largest logit) of each of the n images.
  void predict(const float* images, std::size_t n, std::uint8_t* out) {
    for_chunks(n, [&](std::size_t at, std::size_t m) {
      detail::argmax_columns(self().logits(images + at * image_size, m), m, num_classes, out + at);
    });
  }

  /// The fraction of the n images whose predicted class is their label (0 when n = 0).
  double accuracy(const float* images, const std::uint8_t* labels, std::size_t n) {
    std::size_t hits = 0;
    std::uint8_t guess[256];
    for (std::size_t at = 0; at < n; at += 256) {
      const std::size_t m = std::min<std::size_t>(256, n - at);
      predict(images + at * image_size, m, guess);
      for (std::size_t s = 0; s < m; ++s) hits += guess[s] == labels[at + s];
    }
    return n == 0 ? 0.0 : double(hits) / double(n);
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  template <class F>
  void for_chunks(std::size_t n, F f) {
    const std::size_t chunk = self().capacity();
    for (std::size_t at = 0; at < n; at += chunk) f(at, std::min(chunk, n - at));
  }
};

/// A fully connected layer y = W x + b inside a flat parameter buffer, at `offset`:
/// W is out × in row-major (PyTorch's [out][in]), then b (out).
struct dense {
  std::size_t in = 0, out = 0, offset = 0;

  constexpr std::size_t size() const { return out * in + out; }
  constexpr std::size_t end() const { return offset + size(); }

  template <class T>
  auto weight(T* base) const {
    return row_matrix_map<T>(base + offset, Eigen::Index(out), Eigen::Index(in));
  }
  template <class T>
  T* bias(T* base) const {
    return base + offset + out * in;
  }

  /// Y = act(W X + b) for the n columns of X (in × n) into Y (out × n); act = ReLU or id.
  template <class T>
  void forward(const T* params, const T* x, T* y, std::size_t n, bool relu) const {
    matrix_map<T> ym(y, Eigen::Index(out), Eigen::Index(n));
    ym.noalias() = weight(params) * matrix_map<const T>(x, Eigen::Index(in), Eigen::Index(n));
    if (relu)
      detail::bias_relu(y, bias(params), out, n);
    else
      ym.colwise() += Eigen::Map<const vector<T>>(bias(params), Eigen::Index(out));
  }

  /// From dY (out × n): dW = dY Xᵀ, db = Σ_s dY[:, s], and, when dx is not null,
  /// dX = Wᵀ dY (in × n). The 1/n of the mean loss is already in dY.
  template <class T>
  void backward(const T* params, T* grads, const T* x, const T* dy, T* dx, std::size_t n) const {
    const matrix_map<const T> dym(dy, Eigen::Index(out), Eigen::Index(n));
    weight(grads).noalias() =
        dym * matrix_map<const T>(x, Eigen::Index(in), Eigen::Index(n)).transpose();
    Eigen::Map<vector<T>>(bias(grads), Eigen::Index(out)).noalias() = dym.rowwise().sum();
    if (dx)
      matrix_map<T>(dx, Eigen::Index(in), Eigen::Index(n)).noalias() =
          weight(params).transpose() * dym;
  }

  /// Draws W from U(±limit) (row by row, as stored) and zeroes b.
  template <class T>
  void init(T* params, double limit, std::mt19937_64& rng) const {
    fill_uniform(std::span<T>(params + offset, out * in), limit, rng);
    std::fill_n(bias(params), out, T(0));
  }
};

}  // namespace fda::models
