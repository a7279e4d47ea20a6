// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The Fashion-MNIST job's models and client optimizers (Eigen), in one include.
#include "lenet5.hpp"
#include "mlp.hpp"
#include "model.hpp"
#include "optimizer.hpp"
#include "softmax_regression.hpp"

namespace fda::models {
static_assert(model<softmax_regression> && model<mlp> && model<lenet5>);
static_assert(model<basic_lenet5<double>>);
}  // namespace fda::models
