// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Every sync policy: the classic schedules and the FDA family (see policy/policy.hpp
/// for the protocol the trainer uses, policy/threshold_monitor.hpp for writing a threshold
/// policy of your own, policy/traits.hpp for the optional members).
#include "policy/exact_variance.hpp"
#include "policy/fedavg.hpp"
#include "policy/linear_fda.hpp"
#include "policy/max_drift.hpp"
#include "policy/naive_fda.hpp"
#include "policy/periodic.hpp"
#include "policy/policy.hpp"
#include "policy/sketch_fda.hpp"
#include "policy/synchronous.hpp"
#include "policy/threshold_monitor.hpp"
#include "policy/traits.hpp"
