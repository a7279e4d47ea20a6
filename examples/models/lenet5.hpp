// SPDX-License-Identifier: Apache-2.0
#pragma once
/// LeNet-5 for 28 × 28 images, 61,706 parameters:
///   conv 5×5 1→6 pad 2 + ReLU + max-pool 2   (28×28 → 28×28 → 14×14)
///   conv 5×5 6→16      + ReLU + max-pool 2   (14×14 → 10×10 → 5×5)
///   dense 400→120 ReLU → 84 ReLU → 10.
///
/// Each convolution is im2col + one Eigen GEMM per chunk of C samples, Y = cols · Wᵀ:
/// PyTorch's weight [Cout][Cin][5][5] row-major is Wᵀ (K × Cout, column-major) as stored,
/// so no transpose is ever materialized, and the long side of cols (pixels × samples) is
/// the GEMM's M. Layout choices make everything around the GEMMs long contiguous loops:
///   - Inside a chunk the sample index is innermost: a plane is [row][column][sample].
///   - The GEMM's rows are ordered (window corner q, pooled row i, pooled column j,
///     sample), q = (dy, dx) ∈ {0, 1}²: each channel of Y is four contiguous blocks, one
///     per corner of the 2 × 2 pooling windows, so max-pool (with argmax) and its adjoint
///     are elementwise loops over four arrays.
///   - im2col reads the input split into its four polyphase components (even/odd rows ×
///     even/odd columns, zero padding included): output pixel (2i + dy, 2j + dx) under
///     kernel tap (kh, kw) reads phase ((dy + kh) mod 2, (dx + kw) mod 2) at
///     (i + ⌊(dy + kh)/2⌋, j + ⌊(dx + kw)/2⌋), so for each i the run over (j, sample) is
///     ONE contiguous copy of pooled_side·C values, and col2im one contiguous add.
///   - A chunk goes through both convolutions, forward and backward, so its im2col
///     buffers (~0.8 MB at C = 4) stay in L2; the backward pass rebuilds them from the
///     phases (kept: 4× smaller) rather than keep 4 MB of them for the whole batch. C is compile-time, so every
///     copy has a constant length; a last partial chunk is padded with zero images, whose
///     gradients are zero.
#include <cstring>

#include "model.hpp"

namespace fda::models {

/// Where element (channel, sample, row, column) of a set of planes lives, as strides.
struct plane_strides {
  std::size_t channel = 0, sample = 0, row = 0, column = 0;
};

namespace detail {

/// a = max(max(y0, y1, y2, y3) + b, 0), arg = which y is the (first) largest — the 2 × 2
/// max-pool of the raw convolution, then bias and ReLU. Equal to pool(relu(y + b)), since
/// x ↦ max(x + b, 0) is monotone, and it touches 4× fewer values. Written without
/// branches and with __restrict (the arrays never overlap) so that it vectorizes.
template <class T>
void pool4(const T* __restrict y0, const T* __restrict y1, const T* __restrict y2,
           const T* __restrict y3, std::size_t m, T b, T* __restrict a,
           std::uint8_t* __restrict arg) {
  for (std::size_t j = 0; j < m; ++j) {
    const int r01 = y1[j] > y0[j], r23 = y3[j] > y2[j];
    const T v01 = std::max(y0[j], y1[j]), v23 = std::max(y2[j], y3[j]);
    const int low = v23 > v01;  // ties go to the first corner, as in PyTorch
    a[j] = std::max(std::max(v01, v23) + b, T(0));
    arg[j] = std::uint8_t(r01 + low * (2 + r23 - r01));
  }
}

/// The adjoint of pool4: g = da ∘ [a > 0] (the ReLU's derivative) goes to the winning
/// corner, 0 to the three others.
template <class T>
void unpool4(const T* __restrict da, const T* __restrict a, const std::uint8_t* __restrict arg,
             std::size_t m, T* __restrict d0, T* __restrict d1, T* __restrict d2,
             T* __restrict d3) {
  for (std::size_t j = 0; j < m; ++j) {
    const T g = a[j] > T(0) ? da[j] : T(0);
    d0[j] = arg[j] == 0 ? g : T(0);
    d1[j] = arg[j] == 1 ? g : T(0);
    d2[j] = arg[j] == 2 ? g : T(0);
    d3[j] = arg[j] == 3 ? g : T(0);
  }
}

}  // namespace detail

/// A 5 × 5 convolution (stride 1, zero padding Pad) of Cin planes of Side², followed by a
/// 2 × 2 max-pool, bias and ReLU, run on chunks of C samples; its parameters at
/// `offset`: W [Cout][Cin][5][5], then b [Cout]. The geometry is compile-time, so every
/// inner loop has a known trip count.
template <std::size_t Cin, std::size_t Cout, std::size_t Side, std::size_t Pad, std::size_t C>
struct conv_pool {
  static constexpr std::size_t k = 5;
  static constexpr std::size_t in_channels = Cin, out_channels = Cout;
  /// Geometry: padded input (even, so that it splits into four phases of phase_side²),
  /// convolution output out_side², pooled output pooled_side² = area.
  static constexpr std::size_t padded = Side + 2 * Pad;
  static constexpr std::size_t phase_side = padded / 2;
  static constexpr std::size_t out_side = padded - k + 1;
  static constexpr std::size_t pooled_side = out_side / 2;
  static constexpr std::size_t area = pooled_side * pooled_side;
  static_assert(Side % 2 == 0 && Pad % 2 == 0 && out_side % 2 == 0);
  /// K = Cin·25, the length of one patch; rows: the GEMM's M for one chunk.
  static constexpr std::size_t patch = Cin * k * k;
  static constexpr std::size_t rows = 4 * area * C;
  /// One chunk's phases [ci][phase][I][J][s], and its pooled output [co][i][j][s].
  static constexpr std::size_t phase_size = Cin * padded * padded * C;
  static constexpr std::size_t pooled_size = Cout * area * C;

  std::size_t offset = 0;

  static constexpr std::size_t size() { return Cout * patch + Cout; }
  constexpr std::size_t end() const { return offset + size(); }

  /// Wᵀ, K × Cout column-major: the stored [Cout][K] row-major weight, unmoved.
  template <class T>
  auto weight_t(T* base) const {
    return matrix_map<T>(base + offset, Eigen::Index(patch), Eigen::Index(Cout));
  }
  template <class T>
  T* bias(T* base) const {
    return base + offset + Cout * patch;
  }

  /// ph ← the first `count` samples of x (strides st), zero-padded and split into four
  /// phases: ph[ci][a][b][I][J][s] = xpad[ci][s][2I + a][2J + b]; samples ≥ count are 0.
  template <class S, class T>
  static void split(const S* x, plane_strides st, std::size_t count, T* ph) {
    constexpr std::size_t sp = phase_side;
    if (Pad != 0 || count < C) std::fill_n(ph, phase_size, T(0));
    for (std::size_t ci = 0; ci < Cin; ++ci)
      for (std::size_t r = 0; r < Side; ++r)
        for (std::size_t col = 0; col < Side; ++col) {
          const std::size_t pr = r + Pad, pc = col + Pad;
          T* to = ph + (((ci * 4 + (pr & 1) * 2 + (pc & 1)) * sp + (pr >> 1)) * sp + (pc >> 1)) * C;
          const S* from = x + ci * st.channel + r * st.row + col * st.column;
          for (std::size_t s = 0; s < count; ++s) to[s] = T(from[s * st.sample]);
        }
  }

  /// The adjoint of split (the padding dropped): dx (strides st) of all C samples.
  template <class T>
  static void merge(const T* dph, T* dx, plane_strides st) {
    constexpr std::size_t sp = phase_side;
    for (std::size_t ci = 0; ci < Cin; ++ci)
      for (std::size_t r = 0; r < Side; ++r)
        for (std::size_t col = 0; col < Side; ++col) {
          const std::size_t pr = r + Pad, pc = col + Pad;
          const T* from = dph + (((ci * 4 + (pr & 1) * 2 + (pc & 1)) * sp + (pr >> 1)) * sp + (pc >> 1)) * C;
          T* to = dx + ci * st.channel + r * st.row + col * st.column;
          for (std::size_t s = 0; s < C; ++s) to[s * st.sample] = from[s];
        }
  }

  /// Where the run of im2col column (ci, kh, kw), corner q, pooled row 0 starts in ph.
  static constexpr std::size_t source(std::size_t ci, std::size_t kh, std::size_t kw, std::size_t q) {
    const std::size_t u = q / 2 + kh, v = q % 2 + kw;
    return (((ci * 4 + (u & 1) * 2 + (v & 1)) * phase_side + (u >> 1)) * phase_side + (v >> 1)) * C;
  }
  static constexpr std::size_t run = pooled_side * C;  // one contiguous copy

  /// cols, rows × K column-major: row (q, i, j, s) is output pixel (2i + dy, 2j + dx) of
  /// sample s, column (ci, kh, kw) its input xpad[ci][s][2i + dy + kh][2j + dx + kw].
  template <class T>
  static void im2col(const T* ph, T* cols) {
    for (std::size_t ci = 0; ci < Cin; ++ci)
      for (std::size_t kh = 0; kh < k; ++kh)
        for (std::size_t kw = 0; kw < k; ++kw) {
          T* col = cols + ((ci * k + kh) * k + kw) * rows;
          for (std::size_t q = 0; q < 4; ++q) {
            const T* from = ph + source(ci, kh, kw, q);
            // memcpy of a constant size is inlined as a few vector moves.
            for (std::size_t i = 0; i < pooled_side; ++i, col += run)
              std::memcpy(col, from + i * phase_side * C, run * sizeof(T));
          }
        }
  }

  /// The adjoint of im2col: dph = Σ of the dcols entries im2col copied from each place.
  template <class T>
  static void col2im(const T* dcols, T* dph) {
    std::fill_n(dph, phase_size, T(0));
    for (std::size_t ci = 0; ci < Cin; ++ci)
      for (std::size_t kh = 0; kh < k; ++kh)
        for (std::size_t kw = 0; kw < k; ++kw) {
          const T* col = dcols + ((ci * k + kh) * k + kw) * rows;
          for (std::size_t q = 0; q < 4; ++q) {
            T* to = dph + source(ci, kh, kw, q);
            for (std::size_t i = 0; i < pooled_side; ++i, col += run)
              for (std::size_t e = 0; e < run; ++e) to[i * phase_side * C + e] += col[e];
          }
        }
  }

  /// Y = cols · Wᵀ, rows × Cout: the convolution before bias (added after pooling).
  template <class T>
  void forward(const T* params, const T* cols, T* y) const {
    matrix_map<T>(y, Eigen::Index(rows), Eigen::Index(Cout)).noalias() =
        matrix_map<const T>(cols, Eigen::Index(rows), Eigen::Index(patch)) * weight_t(params);
  }

  /// Pools Y (see pool4) into a / arg, one chunk [co][i][j][s].
  template <class T>
  void pool(const T* params, const T* y, T* a, std::uint8_t* arg) const {
    constexpr std::size_t block = area * C;
    const T* b = bias(params);
    for (std::size_t co = 0; co < Cout; ++co) {
      const T* y0 = y + co * rows;
      detail::pool4(y0, y0 + block, y0 + 2 * block, y0 + 3 * block, block, b[co], a + co * block,
                    arg + co * block);
    }
  }

  /// dY (rows × Cout) from the pooled gradient da (see unpool4); db[co] += Σ dY[:, co].
  template <class T>
  void unpool(const T* da, const T* a, const std::uint8_t* arg, T* dy, T* db) const {
    constexpr std::size_t block = area * C;
    for (std::size_t co = 0; co < Cout; ++co) {
      T* d0 = dy + co * rows;
      const std::size_t at = co * block;
      detail::unpool4(da + at, a + at, arg + at, block, d0, d0 + block, d0 + 2 * block, d0 + 3 * block);
      db[co] += Eigen::Map<const vector<T>>(d0, Eigen::Index(rows)).sum();
    }
  }

  /// dWᵀ (K × Cout, in grads) = colsᵀ dY, or += when accumulating over chunks.
  /// A small dW (conv 1: 25 × 6 entries, each a dot product over 3,136 rows) is
  /// evaluated by Eigen's lazyProduct, one vectorized dot product per entry: a GEMM
  /// packs both operands first, which such a thin result never repays (1.3× slower).
  template <class T>
  void weight_grad(const T* cols, const T* dy, T* grads, bool accumulate) const {
    const auto colst = matrix_map<const T>(cols, Eigen::Index(rows), Eigen::Index(patch)).transpose();
    const matrix_map<const T> dym(dy, Eigen::Index(rows), Eigen::Index(Cout));
    auto g = weight_t(grads);
    if constexpr (patch * Cout <= 256) {
      if (accumulate)
        g.noalias() += colst.lazyProduct(dym);
      else
        g.noalias() = colst.lazyProduct(dym);
    } else {
      if (accumulate)
        g.noalias() += colst * dym;
      else
        g.noalias() = colst * dym;
    }
  }

  /// dcols = dY W, rows × K: the gradient of im2col's output.
  template <class T>
  void input_grad(const T* params, const T* dy, T* dcols) const {
    matrix_map<T>(dcols, Eigen::Index(rows), Eigen::Index(patch)).noalias() =
        matrix_map<const T>(dy, Eigen::Index(rows), Eigen::Index(Cout)) * weight_t(params).transpose();
  }

  /// He-uniform weights (fan_in = K: a ReLU follows), zero biases.
  template <class T>
  void init(T* params, std::mt19937_64& rng) const {
    fill_uniform(std::span<T>(params + offset, Cout * patch), he_limit(patch), rng);
    std::fill_n(bias(params), Cout, T(0));
  }
};

template <class T>
class basic_lenet5 : public classifier<basic_lenet5<T>> {
 public:
  using scalar = T;
  static constexpr std::size_t parameter_count = 61'706;
  /// Samples per pass through the convolutions (see the header comment).
  static constexpr std::size_t chunk = 4;

  /// Buffers for batches of up to `max_batch` images (a larger batch grows them once);
  /// parameters drawn by init(seed).
  explicit basic_lenet5(std::size_t max_batch = 64, std::uint64_t seed = 0)
      : params_(parameter_count),
        grads_(parameter_count),
        cols1_(conv1::rows * conv1::patch),
        y1_(conv1::rows * conv1::out_channels),
        da1_(conv1::pooled_size),
        dph2_(conv2::phase_size),
        cols2_(conv2::rows * conv2::patch),
        dcols2_(cols2_.size()),
        y2_(conv2::rows * conv2::out_channels),
        da2_(conv2::pooled_size) {
    static_assert(conv2::pooled_size == flat * chunk);
    static_assert(fc3_.end() == parameter_count, "LeNet-5 has 61,706 parameters");
    reserve(max_batch);
    init(seed);
  }

  std::size_t size() const { return params_.size(); }
  std::vector<T>& params() { return params_; }
  const std::vector<T>& params() const { return params_; }
  std::vector<T>& grads() { return grads_; }
  const std::vector<T>& grads() const { return grads_; }

  /// He-uniform for the layers followed by a ReLU, Glorot-uniform for the output layer;
  /// biases 0. Layers are drawn in parameter order.
  void init(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    T* p = params_.data();
    conv1_.init(p, rng);
    conv2_.init(p, rng);
    fc1_.init(p, he_limit(fc1_.in), rng);
    fc2_.init(p, he_limit(fc2_.in), rng);
    fc3_.init(p, glorot_limit(fc3_.in, fc3_.out), rng);
  }

  /// Mean cross-entropy of the batch; grads() ← its gradient.
  T loss_and_grad(const float* images, const std::uint8_t* labels, std::size_t n) {
    if (n == 0) throw std::invalid_argument("fda::models: empty batch");
    detail::check_labels(labels, n);
    reserve(n);
    T* z = logits(images, n);
    const auto total = detail::cross_entropy(z, labels, n, num_classes, true);
    const T* p = params_.data();
    T* g = grads_.data();

    // Dense head: dX = Wᵀ dY, masked by the ReLU's derivative [h > 0].
    fc3_.backward(p, g, h2_.data(), z, dh2_.data(), n);
    detail::relu_mask(dh2_.data(), h2_.data(), fc2_.out * n);
    fc2_.backward(p, g, h1_.data(), dh2_.data(), dh1_.data(), n);
    detail::relu_mask(dh1_.data(), h1_.data(), fc1_.out * n);
    fc1_.backward(p, g, x3_.data(), dh1_.data(), dx3_.data(), n);

    // Convolutions, chunk by chunk: unpool → im2col again (from the phases kept by the
    // forward pass) → dW += colsᵀ dY → (conv 2) dcols = dY W → col2im → merge.
    T* db1 = conv1_.bias(g);
    T* db2 = conv2_.bias(g);
    std::fill_n(db1, conv1::out_channels, T(0));
    std::fill_n(db2, conv2::out_channels, T(0));
    for (std::size_t t = 0; t * chunk < n; ++t) {
      const std::size_t s0 = t * chunk, count = std::min(chunk, n - s0);
      // fc1's input gradient, sample-major, into the chunk's [feature][s]; 0 for padding.
      std::fill(da2_.begin(), da2_.end(), T(0));
      for (std::size_t s = 0; s < count; ++s)
        for (std::size_t f = 0; f < flat; ++f) da2_[f * chunk + s] = dx3_[(s0 + s) * flat + f];
      const std::size_t at1 = t * conv1::pooled_size, at2 = t * conv2::pooled_size;
      conv2_.unpool(da2_.data(), a2_.data() + at2, arg2_.data() + at2, y2_.data(), db2);
      conv2::im2col(ph2_.data() + t * conv2::phase_size, cols2_.data());
      conv2_.weight_grad(cols2_.data(), y2_.data(), g, t != 0);
      conv2_.input_grad(p, y2_.data(), dcols2_.data());
      conv2::col2im(dcols2_.data(), dph2_.data());
      conv2::merge(dph2_.data(), da1_.data(), chunk_strides);

      conv1_.unpool(da1_.data(), a1_.data() + at1, arg1_.data() + at1, y1_.data(), db1);
      conv1::im2col(ph1_.data() + t * conv1::phase_size, cols1_.data());
      conv1_.weight_grad(cols1_.data(), y1_.data(), g, t != 0);
    }
    return T(total / T(n));
  }

  /// Forward pass of n ≤ capacity() images: their logits, 10 × n column-major.
  T* logits(const float* images, std::size_t n) {
    const T* p = params_.data();
    for (std::size_t t = 0; t * chunk < n; ++t) {
      const std::size_t s0 = t * chunk, count = std::min(chunk, n - s0);
      const std::size_t at1 = t * conv1::pooled_size, at2 = t * conv2::pooled_size;
      T* ph1 = ph1_.data() + t * conv1::phase_size;
      T* ph2 = ph2_.data() + t * conv2::phase_size;
      T* a2 = a2_.data() + at2;
      conv1::split(images + s0 * image_size, image_strides, count, ph1);
      conv1::im2col(ph1, cols1_.data());
      conv1_.forward(p, cols1_.data(), y1_.data());
      conv1_.pool(p, y1_.data(), a1_.data() + at1, arg1_.data() + at1);
      conv2::split(a1_.data() + at1, chunk_strides, chunk, ph2);
      conv2::im2col(ph2, cols2_.data());
      conv2_.forward(p, cols2_.data(), y2_.data());
      conv2_.pool(p, y2_.data(), a2, arg2_.data() + at2);
      // fc1's input, sample s's 400 features (channel, row, column: PyTorch's flatten).
      for (std::size_t s = 0; s < count; ++s)
        for (std::size_t f = 0; f < flat; ++f) x3_[(s0 + s) * flat + f] = a2[f * chunk + s];
    }
    fc1_.forward(p, x3_.data(), h1_.data(), n, true);
    fc2_.forward(p, h1_.data(), h2_.data(), n, true);
    fc3_.forward(p, h2_.data(), z_.data(), n, false);
    return z_.data();
  }

  std::size_t capacity() const { return z_.size() / num_classes; }

  /// Makes room for batches of n images (allocates only when n > capacity()).
  void reserve(std::size_t n) {
    if (n <= capacity()) return;
    const std::size_t chunks = (n + chunk - 1) / chunk;
    ph1_.resize(chunks * conv1::phase_size);
    ph2_.resize(chunks * conv2::phase_size);
    a1_.resize(chunks * conv1::pooled_size);
    arg1_.resize(a1_.size());
    a2_.resize(chunks * conv2::pooled_size);
    arg2_.resize(a2_.size());
    x3_.resize(n * flat);
    dx3_.resize(x3_.size());
    h1_.resize(n * fc1_.out);
    dh1_.resize(h1_.size());
    h2_.resize(n * fc2_.out);
    dh2_.resize(h2_.size());
    z_.resize(n * num_classes);
  }

 private:
  using conv1 = conv_pool<1, 6, image_side, 2, chunk>;
  using conv2 = conv_pool<6, 16, conv1::pooled_side, 0, chunk>;
  static constexpr conv1 conv1_{0};
  static constexpr conv2 conv2_{conv1_.end()};
  static constexpr std::size_t flat = 16 * 5 * 5;
  static constexpr dense fc1_{flat, 120, conv2_.end()};
  static constexpr dense fc2_{120, 84, fc1_.end()};
  static constexpr dense fc3_{84, num_classes, fc2_.end()};

  /// The images, sample-major [s][row][column]; a chunk's planes, [c][row][column][s].
  static constexpr plane_strides image_strides{0, image_size, image_side, 1};
  static constexpr plane_strides chunk_strides{conv1::area * chunk, 1, conv1::pooled_side * chunk, chunk};

  std::vector<T> params_, grads_;
  // One chunk: im2col, Y (then dY), gradients of the phases and pooled outputs.
  std::vector<T> cols1_, y1_, da1_, dph2_, cols2_, dcols2_, y2_, da2_;
  // The whole batch, chunk after chunk: input phases, pooled activations and argmax.
  std::vector<T> ph1_, ph2_, a1_, a2_;
  std::vector<std::uint8_t> arg1_, arg2_;
  // The dense head, column-major features × samples.
  std::vector<T> x3_, dx3_, h1_, dh1_, h2_, dh2_, z_;
};

using lenet5 = basic_lenet5<float>;

}  // namespace fda::models
