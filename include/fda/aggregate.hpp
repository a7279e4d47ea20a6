// SPDX-License-Identifier: Apache-2.0
#pragma once
/// What a sync computes: every aggregator (see aggregate/aggregator.hpp for the protocol,
/// aggregate/traits.hpp for the optional members).
///   mean, weighted_mean          x ← avg                               (FedAvg)
///   fedavgm                      m ← β m + Δ; x ← x + η m               (server momentum)
///   fedadagrad, fedadam, fedyogi x ← x + η m / (sqrt(v) + τ)            (Reddi et al. 2021)
///   coordinate_median            x_i ← median_k w_k,i                   (robust)
///   trimmed_mean{trim}           x_i ← mean_k w_k,i without the extremes (robust)
#include "aggregate/aggregator.hpp"
#include "aggregate/fedavgm.hpp"
#include "aggregate/fedopt.hpp"
#include "aggregate/mean.hpp"
#include "aggregate/robust.hpp"
#include "aggregate/traits.hpp"
