// SPDX-License-Identifier: Apache-2.0
#pragma once
/// What a training run is told (options) and what it reports (result).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "error.hpp"

namespace fda {

/// What the trainer does when a worker sends an impossible local state (NaN/Inf, a negative
/// squared norm, a broken Cauchy–Schwarz: fda::find_state_fault), or when an average (at a
/// sync, an epoch's end or the run's end) finds NaN or Inf in a worker's parameters. Every
/// policy and cadence meets one of these by the end of the run at the latest.
enum class on_fault {
  fail,     ///< every worker throws fda::numeric_error naming the worker, the step, and the field and value
  exclude,  ///< log it in result::faults, estimate from the other workers, and leave the
            ///< faulty worker out of the averages until the next sync gives it the global model
};

/// A worker left out for a faulty local state, or for NaN or Inf in its parameters found by
/// an average (options::on_bad_state = on_fault::exclude).
struct fault_record {
  std::size_t step = 0;    ///< in-parallel step of the check that found it
  std::size_t worker = 0;  ///< rank of the worker left out
  std::string message;  ///< as the error would have said it: field, value and why
};

/// How long a run lasts and how it monitors: the trainer's settings, written with
/// designated initializers (`{.max_epochs = 20, .steps_per_epoch = 50}`).
struct options {
  std::size_t max_steps = 0;        ///< in-parallel local steps; 0: max_epochs · steps_per_epoch
  std::size_t max_epochs = 0;       ///< used when max_steps is 0
  std::size_t steps_per_epoch = 0;  ///< local steps per worker per epoch (whole training set once
                                    ///< across all workers); needed by fedavg, adaptive Θ, epoch hooks
  std::size_t check_every = 1;      ///< monitoring cadence m
  std::uint64_t seed = 0;           ///< shared by all workers (ξ, sketch hashes)
  bool check_finite_every_step = false;  ///< scan parameters for NaN/Inf after every step (one
                                         ///< extra pass) and fail at once (on_fault::fail only);
                                         ///< otherwise the next check or average finds them
  std::string checkpoint_path = {};      ///< save the run here (see <fda/checkpoint.hpp>); empty: never
  std::size_t checkpoint_every = 0;      ///< also save every this many steps; 0: only at the end
  bool resume = false;                   ///< continue from checkpoint_path (which must exist)
  on_fault on_bad_state = on_fault::fail;  ///< a worker's local state is impossible, or its parameters
                                           ///< are not finite at an average: fail or exclude it

  /// The number of steps the run lasts; throws if neither bound is set, or if
  /// max_epochs · steps_per_epoch does not fit in std::size_t.
  std::size_t total_steps() const {
    if (max_steps) return max_steps;
    if (max_epochs && steps_per_epoch) {
      if (max_epochs > std::numeric_limits<std::size_t>::max() / steps_per_epoch)
        detail::fail("fda::options: max_epochs = ", max_epochs, " times steps_per_epoch = ", steps_per_epoch,
                     " overflows the step counter: set fewer epochs, or max_steps");
      return max_epochs * steps_per_epoch;
    }
    detail::fail("fda::options: set max_steps, or max_epochs with steps_per_epoch (max_steps = ",
                 max_steps, ", max_epochs = ", max_epochs, ", steps_per_epoch = ", steps_per_epoch,
                 ")");
  }
};

/// One synchronization, as the trainer saw it.
struct sync_record {
  std::size_t step = 0;      ///< in-parallel step at which the sync happened
  double estimate = std::numeric_limits<double>::quiet_NaN();  ///< H that triggered it (NaN for schedules)
  /// Exact variance at sync time, (1/K') Σ_k ||w_k - w̄||² over the K' workers the average
  /// took (those left out by on_fault::exclude or weighing 0 are not counted), w̄ that average.
  double variance = 0.0;
  double theta = std::numeric_limits<double>::quiet_NaN();     ///< Θ in force during the round
};

/// Communication is counted by the cost model of docs/algorithm.md: Communication cost (star topology, 4-byte
/// floats): a sync costs 2·K·4·d bytes; a monitoring check K · state_bytes. With an
/// adaptive Θ every sync also costs 4·K bytes (each worker's ||w_k - w̄||²), counted as
/// monitoring. Evaluating the averaged model is an instrument and is never counted.
struct result {
  std::size_t steps = 0;   ///< in-parallel local steps taken (every worker took this many)
  std::size_t syncs = 0;   ///< synchronizations (rounds ended)
  std::size_t checks = 0;  ///< monitoring steps (all-reduces of local states)
  std::uint64_t monitor_bytes = 0;  ///< Σ over checks of K · state_bytes, plus 4·K per sync with an adaptive Θ
  std::uint64_t sync_bytes = 0;     ///< syncs · 2·K·4·d
  double wall_seconds = 0.0;        ///< time the run took, start to end
  double final_theta = std::numeric_limits<double>::quiet_NaN();  ///< Θ at the end (NaN for schedules)
  bool stopped_by_callback = false;  ///< a callback hook returned true before the last step
  std::vector<sync_record> sync_log = {};  ///< every sync, in order
  /// The workers' average at the end, weighted as the aggregator weights them, without the
  /// workers left out (on_fault::exclude); never silently non-finite. With fda::mean this is
  /// the model to deploy; with a server optimizer it is not (see global_model).
  std::vector<double> model = {};
  /// The server's global model x: what the last sync produced (the initial model before
  /// any sync). With a server optimizer (fedavgm, fedadam, ...) this is the FedOpt model to
  /// deploy; with a model-replacing aggregator it is the average at the last sync (with
  /// K = 1, where no sync happens, the worker's model).
  std::vector<double> global_model = {};
  /// What each rank actually handed to its transport for the others during this run, in
  /// bytes (MPI, ZeroMQ; empty in-process): measured, unlike the cost-model counters above.
  std::vector<std::uint64_t> bytes_sent_per_rank = {};
  /// Communication time on a simulated network (fda::simulated_network), in seconds: what
  /// the run's collectives would take on the modelled links; 0 on a transport that does not
  /// simulate one.
  double network_seconds = 0.0;
  std::vector<fault_record> faults = {};  ///< workers excluded for faulty local states or parameters (on_fault::exclude)
  /// What the run decided on its own that the user should know, one sentence each (e.g. an
  /// adaptive Θ that a round without variance could not calibrate). fda-train prints them.
  std::vector<std::string> notes = {};

  /// monitor_bytes + sync_bytes: the run's communication under the cost model.
  std::uint64_t total_bytes() const { return monitor_bytes + sync_bytes; }
};

}  // namespace fda
