// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The Fashion-MNIST job's LibTorch models (fda-train --backend torch), for 28 × 28 images
/// as [N, 1, 28, 28] float tensors; each returns logits [N, 10]. Both are one
/// torch::nn::Sequential, so the job has one module type whatever the model.
///   - lenet5: the architecture of the Eigen model (lenet5.hpp), 61,706 parameters in the
///     same order, so fda views of the two are interchangeable element by element.
///   - cnn: a VGG-style network of 1,174,250 parameters, 99.8% of them in eight 3 × 3
///     convolutions (32-32, 64-64, 128-128 channels at 28², 14², 7², then 256-256 at 3²),
///     global average pooling and one 256 → 10 layer: its compute is the convolutions.
// (Outside namespace fda: there `torch` names fda::torch.)
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace torch_models {

namespace nn = ::torch::nn;

/// LeNet-5 (see lenet5.hpp): conv 5×5 1→6 pad 2, ReLU, max-pool 2; conv 5×5 6→16, ReLU,
/// max-pool 2; flatten (channel, row, column); dense 400 → 120 → 84 → 10 with ReLU between.
inline nn::Sequential lenet5() {
  return nn::Sequential({{"conv1", nn::Conv2d(nn::Conv2dOptions(1, 6, 5).padding(2))},
                         {"relu1", nn::ReLU()},
                         {"pool1", nn::MaxPool2d(2)},
                         {"conv2", nn::Conv2d(nn::Conv2dOptions(6, 16, 5))},
                         {"relu2", nn::ReLU()},
                         {"pool2", nn::MaxPool2d(2)},
                         {"flatten", nn::Flatten()},
                         {"fc1", nn::Linear(400, 120)},
                         {"relu3", nn::ReLU()},
                         {"fc2", nn::Linear(120, 84)},
                         {"relu4", nn::ReLU()},
                         {"fc3", nn::Linear(84, 10)}});
}

/// The VGG-style CNN of the header comment (1,174,250 parameters): blocks of two 3 × 3
/// convolutions (padding 1) with ReLU, named block<b>_conv1/2 (one flat Sequential: LibTorch
/// cannot nest a Sequential in another).
inline nn::Sequential cnn() {
  nn::Sequential net;
  const std::int64_t channels[] = {1, 32, 64, 128, 256};
  for (int b = 1; b <= 4; ++b) {
    const std::int64_t in = channels[b - 1], out = channels[b];
    const std::string block = "block" + std::to_string(b);
    net->push_back(block + "_conv1", nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)));
    net->push_back(block + "_relu1", nn::ReLU());
    net->push_back(block + "_conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1)));
    net->push_back(block + "_relu2", nn::ReLU());
    if (b < 4) net->push_back("pool" + std::to_string(b), nn::MaxPool2d(2));  // 28 → 14 → 7 → 3
  }
  net->push_back("pool4", nn::AdaptiveAvgPool2d(1));  // global average pooling
  net->push_back("flatten", nn::Flatten());
  net->push_back("head", nn::Linear(256, 10));
  return net;
}

/// The model named `name` (lenet5 or cnn).
inline nn::Sequential make(const std::string& name) { return name == "cnn" ? cnn() : lenet5(); }

/// The number of elements of a module's parameters.
inline std::size_t parameter_count(const nn::Module& m) {
  std::size_t n = 0;
  for (const auto& p : m.parameters()) n += std::size_t(p.numel());
  return n;
}

}  // namespace torch_models
