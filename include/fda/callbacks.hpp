// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The callback protocol and every ready-made callback: progress_bar, csv_logger,
/// json_summary, stop_at_target, evaluate_average. Standard library only.
#include "callbacks/callback.hpp"
#include "callbacks/csv_logger.hpp"
#include "callbacks/evaluate.hpp"
#include "callbacks/json_summary.hpp"
#include "callbacks/progress_bar.hpp"
#include "callbacks/stop_at_target.hpp"
