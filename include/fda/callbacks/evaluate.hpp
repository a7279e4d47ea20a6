// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Evaluates the workers' averaged model at every epoch end and stores the result in the
/// epoch's metric table, for the loggers and stop_at_target that follow it.
///
/// This is an instrument of the experiment, not training traffic: the averaged model is
/// formed by the trainer for measurement only, the workers never receive it, and it adds
/// nothing to monitor_bytes or sync_bytes (docs/algorithm.md: Communication cost, Metrics).
///
///   auto eval = fda::evaluate_average([&](std::span<const float> w) { return accuracy(w); });
///   auto both = fda::evaluate_average([&](std::span<const float> w) {
///     return std::map<std::string, double>{{"test_accuracy", acc(w)}, {"train_loss", loss(w)}};
///   });
#include <concepts>
#include <map>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "callback.hpp"

namespace fda {
namespace detail {

/// A table of named metrics: anything iterable whose elements have a string-like
/// `first` and a number-like `second` (std::map<std::string, double>, unordered_map, ...).
template <class R>
concept metric_table = requires(const R& r) {
  r.begin() != r.end();
  { r.begin()->first } -> std::convertible_to<std::string>;
  { r.begin()->second } -> std::convertible_to<double>;
};

}  // namespace detail

/// The callback evaluate_average makes: at every epoch end, fn(averaged model) fills the
/// epoch's metric table (a number under `name`, or a whole table).
template <class F>
class average_evaluator {
 public:
  /// fn takes std::span<const T> (the averaged model) and returns a number or a metric table.
  average_evaluator(F fn, std::string name) : fn_(std::move(fn)), name_(std::move(name)) {}

  /// A number goes to metrics[name]; a table's entries are merged (overwriting).
  template <class T>
  void on_epoch(epoch_info<T>& info) {
    if constexpr (!std::is_invocable_v<F&, std::span<const T>>) {
      static_assert(std::is_invocable_v<F&, std::span<const T>>,
                    "fda::evaluate_average: the function must accept std::span<const T>, the "
                    "averaged model");
    } else {
      using R = std::invoke_result_t<F&, std::span<const T>>;
      if constexpr (std::is_convertible_v<R, double>) {
        info.metrics[name_] = static_cast<double>(fn_(info.averaged_model));
      } else if constexpr (detail::metric_table<R>) {
        for (auto&& [key, value] : fn_(info.averaged_model))
          info.metrics.insert_or_assign(std::string(key), static_cast<double>(value));
      } else {
        static_assert(detail::metric_table<R>,
                      "fda::evaluate_average: the function must return a number or a "
                      "std::map<std::string, double>");
      }
    }
  }

  /// The metric a number is stored under.
  const std::string& name() const { return name_; }

 private:
  F fn_;
  std::string name_;
};

/// A callback that calls fn(averaged model) at every epoch end; see average_evaluator.
template <class F>
average_evaluator<F> evaluate_average(F fn, std::string name = "test_accuracy") {
  return average_evaluator<F>(std::move(fn), std::move(name));
}

}  // namespace fda
