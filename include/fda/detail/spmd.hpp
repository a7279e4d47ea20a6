#pragma once
/// The one SPMD training loop, run by every worker on every transport.
///
/// Comm is a worker's handle to the collectives (cluster_comm, mpi_comm); Shared is the
/// run state of which each process keeps one replica (the in-process cluster: one for all
/// workers; MPI: one per rank). Shared is written only inside comm.serial(), read by all
/// between collectives, so every replica sees the same sequence of states. Callbacks run
/// inside comm.root_says() on rank 0 only; the stop they ask for reaches every worker.
/// Errors found by a collective are raised on every worker alike (detail::everywhere).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "../aggregate/aggregator.hpp"
#include "../aggregate/robust.hpp"
#include "../callbacks/callback.hpp"
#include "../comm/average_stats.hpp"
#include "run_checkpoint.hpp"
#include "../kernels.hpp"
#include "../options.hpp"
#include "../policy/policy.hpp"
#include "../worker.hpp"

namespace fda::detail {

/// The monitor of Policy for T parameters in memory space Space: `monitor<T, Space>` when
/// the policy has that template (linear_fda, sketch_fda), else `monitor<T>`.
template <class Policy, class T, class Space>
struct monitor_for {
  using type = typename Policy::template monitor<T>;
};
template <class Policy, class T, class Space>
  requires requires { typename Policy::template monitor<T, Space>; }
struct monitor_for<Policy, T, Space> {
  using type = typename Policy::template monitor<T, Space>;
};

/// True for a policy whose monitor reads the parameters in host memory whatever their space
/// (it says so with `static constexpr bool host_memory_only = true`: exact_variance).
template <class Policy>
constexpr bool host_memory_policy() {
  if constexpr (requires { Policy::host_memory_only; })
    return bool(Policy::host_memory_only);
  else
    return false;
}

/// True for an aggregator with an order-statistic rule (coordinate_median, trimmed_mean).
template <class Aggregator>
constexpr bool robust_aggregator() {
  return requires(const Aggregator& a) { a.combine_rule(); };
}

/// A replica's buffer as the transports take it: a std::span of host memory (the host path,
/// unchanged), a param_view of device memory (<fda/thrust.hpp>).
template <class Vector>
auto buffer_of(Vector& v) {
  if constexpr (std::same_as<Vector, std::vector<typename Vector::value_type>>)
    return std::span<typename Vector::value_type>(v);
  else
    return fda::view(v);
}

/// A replica buffer's elements as a span of host memory: the buffer itself on the host; a
/// copy in `staged` from device memory.
template <class Vector, class T>
std::span<const T> host_span(const Vector& v, std::vector<T>& staged) {
  if constexpr (std::same_as<Vector, std::vector<T>>) {
    return v;
  } else {
    staged.resize(v.size());
    copy(fda::view(v), staged);  // (a view, so that ADL finds the space's copy)
    return staged;
  }
}

/// out ← a replica buffer's elements, converted to double (copied to the host from device memory).
template <class Vector>
void to_host_doubles(const Vector& v, std::vector<double>& out) {
  if constexpr (std::same_as<Vector, std::vector<typename Vector::value_type>>) {
    out.assign(v.begin(), v.end());
  } else {
    out.resize(v.size());
    copy(fda::view(v), out);
  }
}

/// The error of a run with checkpoints and device parameters.
inline std::string device_checkpoint_message() {
  return "fda::train: options.checkpoint_path (or resume) is set but the workers' parameters are in "
         "device memory: checkpoints need host parameters (docs/gpu.md)";
}

/// The state of a run that exists once per replica. Space: where the parameters live; w0,
/// w0_prev and avg are space_traits<Space>::vector<T> (std::vector on the host).
template <class T, class Policy, class Aggregator, class Space = host_space>
struct run_state {
  static constexpr bool on_host = std::same_as<Space, host_space>;  ///< host parameters
  static_assert(on_host || !host_memory_policy<Policy>(),
                "fda::train: this policy's monitor reads the parameters in host memory (exact_variance): with device parameters use linear_fda, sketch_fda, naive_fda, max_drift or a schedule (docs/gpu.md)");
  static_assert(on_host || replaces_model<Aggregator, T>(),
                "fda::train: server optimizers (fedavgm, fedadagrad, fedadam, fedyogi) update host memory: with device parameters use fda::mean or fda::weighted_mean (docs/gpu.md)");
  static_assert(on_host || !robust_aggregator<Aggregator>(),
                "fda::train: robust aggregation (coordinate_median, trimmed_mean) needs host parameters: with device parameters use fda::mean or fda::weighted_mean (docs/gpu.md)");
  using vector = typename space_traits<Space>::template vector<T>;  ///< a buffer of d parameters in Space
  using monitor_type = typename monitor_for<Policy, T, Space>::type;
  using server_type = typename Aggregator::template state<T>;

  run_state(const Policy& p, const Aggregator& a, const run_info& info)
      : w0(info.dim), w0_prev(info.dim), avg(info.dim), monitor(p, info), server(a, info.dim) {}

  vector w0;       ///< the global model: read-only for workers during a round
  vector w0_prev;  ///< the global model of the previous round (for ξ)
  vector avg;      ///< the workers' mean at a sync, or at an epoch's end
  monitor_type monitor;
  server_type server;
  result res;
};

template <class Policy>
constexpr bool adaptive_threshold(const Policy& p) {
  if constexpr (requires { p.theta.is_adaptive(); })
    return p.theta.is_adaptive();
  else
    return false;
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// check_finite_every_step found NaN or Inf (on_fault::fail; exclude waits for the next check or average).
[[noreturn]] inline void non_finite_params(std::size_t worker, std::size_t step) {
  throw numeric_error(concat("fda: worker ", worker, " has NaN or Inf in its parameters at step ",
                             step, " (found by the check at that step; it may have appeared "
                             "earlier: set options.check_finite_every_step to find the first)"));
}

/// "fda: worker 2 has NaN or Inf in its parameters at step 8 (found when averaging ...)".
inline std::string non_finite_average_message(std::size_t worker, std::size_t step) {
  return concat("fda: worker ", worker, " has NaN or Inf in its parameters at step ", step,
                " (found when averaging the models; it may have appeared earlier: set "
                "options.check_finite_every_step to find the first)");
}

/// The workers' average is not finite. One small all-reduce tells every worker which workers
/// hold non-finite parameters: the ranks of those the average took (weight > 0) whose
/// parameters are not finite, in order, and how many workers it took are finite. Throws
/// everywhere alike when no such worker exists (an overflow of the sum).
template <class Comm, class V>
std::pair<std::vector<std::size_t>, std::size_t> non_finite_workers(Comm& comm, const V& mine, bool left_out,
                                                                    std::size_t step) {
  std::vector<double> status(comm.size(), 0.0);  // 0: averaged and finite, 1: averaged and not, 2: left out
  status[comm.rank()] = left_out ? 2.0 : all_finite(mine) ? 0.0 : 1.0;
  comm.all_reduce_sum(status);
  std::vector<std::size_t> bad;
  std::size_t finite = 0;
  for (std::size_t r = 0; r < status.size(); ++r) {
    if (status[r] == 1.0) bad.push_back(r);
    if (status[r] == 0.0) ++finite;
  }
  if (bad.empty())
    throw everywhere<numeric_error>(concat("fda: the average of the workers' models at step ", step,
                                           " is not finite although every worker's parameters are: an overflow"));
  return {bad, finite};
}

/// max_k ||w_k - w0||² over the workers, each passing its own (0 when left out): one small
/// all-reduce (what max_drift's adaptive Θ calibrates on).
template <class Comm>
double largest_drift(Comm& comm, double mine) {
  std::vector<double> all(comm.size(), 0.0);
  all[comm.rank()] = mine;
  comm.all_reduce_sum(all);
  double largest = 0.0;
  for (const double x : all) largest = std::max(largest, x);
  return largest;
}

/// Some worker flagged its local state. A second small all-reduce carries every faulty
/// worker's {field, value, kind}, so every worker knows them all, in rank order.
template <class Comm>
std::vector<std::pair<std::size_t, state_fault>> gather_faults(Comm& comm,
                                                                 const std::optional<state_fault>& mine) {
  std::vector<double> all(3 * comm.size(), 0.0);
  if (mine) {
    all[3 * comm.rank()] = double(mine->field) + 1.0;
    all[3 * comm.rank() + 1] = mine->value;
    all[3 * comm.rank() + 2] = double(int(mine->kind));
  }
  comm.all_reduce_sum(all);
  std::vector<std::pair<std::size_t, state_fault>> faults;
  for (std::size_t r = 0; r < comm.size(); ++r)
    if (all[3 * r] != 0.0)
      faults.push_back({r, state_fault{std::size_t(all[3 * r]) - 1, all[3 * r + 1], state_fault_kind(int(all[3 * r + 2]))}});
  return faults;
}

/// Checks that every worker has d parameters; names the first that differs.
template <class Comm>
void check_same_dim(Comm& comm, std::size_t dim) {
  std::vector<double> dims(comm.size(), 0.0);
  dims[comm.rank()] = double(dim);
  comm.all_reduce_sum(dims);
  for (std::size_t r = 0; r < dims.size(); ++r)
    if (dims[r] != dims[0])
      throw everywhere<invalid_argument>(concat(
          "fda::train: worker ", r, " has ", std::size_t(dims[r]), " parameters but worker 0 has ",
          std::size_t(dims[0]), ": every worker must train the same model"));
}

/// Runs worker `w` (this rank's) to the end. `shared` is this process's replica, already
/// constructed; the caller returns shared->res from one replica.
template <class Comm, class W, class Policy, class Aggregator, class Space, class Callbacks>
void run_spmd(Comm& comm, W& w, run_state<param_type_t<W>, Policy, Aggregator, Space>& shared,
              const Policy& policy, const Aggregator& agg, const options& opt,
              Callbacks& callbacks) {
  using T = param_type_t<W>;
  static_assert(std::same_as<Space, param_space_t<W>>, "fda: the run state's memory space is not the worker's");
  constexpr bool on_host = std::same_as<Space, host_space>;
  if constexpr (!on_host)
    if (!opt.checkpoint_path.empty() || opt.resume)
      throw everywhere<invalid_argument>(device_checkpoint_message());
  const auto start = std::chrono::steady_clock::now();
  const auto mine = fda::view(w.params());
  const param_view<const T, Space> mine_const = mine;
  const std::size_t k = comm.size(), d = mine.size(), rank = comm.rank();
  const std::size_t total = opt.total_steps(), spe = opt.steps_per_epoch;
  const auto& monitor = shared.monitor;
  const double weight = [&] {
    if constexpr (counts_samples<W>)
      return weights_by_samples(agg) ? double(w.samples()) : 1.0;
    else
      return 1.0;
  }();
  const auto rule = combine_rule_of(agg);  // the mean, or an order statistic (robust.hpp)
  const std::uint64_t sync_cost = 2ull * k * 4ull * d;
  const std::uint64_t check_cost = std::uint64_t(k) * monitor.state_bytes();
  const bool adaptive = adaptive_threshold(policy);
  const std::uint64_t variance_cost = adaptive ? 4ull * k : 0ull;
  // One worker: its variance is 0, so no estimate is worth sending, and a sync that only
  // replaces the model by the average of one model changes nothing: none happens. With a
  // server optimizer a sync is still a server step, taken as the policy schedules it (a
  // threshold policy: when an adaptive Θ's round limits force it; a fixed Θ: never).
  const bool alone = k == 1;
  const bool nothing_to_sync = alone && replaces_model<T>(agg);
  constexpr bool wants_steps = any_has_hook<on_step_hook, Callbacks, const step_info>;
  constexpr bool wants_epochs = any_has_hook<on_epoch_hook, Callbacks, epoch_info<T>>;

  // Every worker starts from worker 0's model.
  comm.broadcast(mine_const, buffer_of(shared.w0));
  copy(shared.w0, mine);
  const run_info info{d, k, spe, opt.check_every, opt.seed};
  comm.serial([&] { shared.res = result{}; });
  // Callbacks run on one worker (rank 0); what they decide reaches every worker.
  bool stop = comm.root_says([&] { return call_hooks(on_begin_hook{}, callbacks, info); });

  const run_identity identity{std::string(Policy::name), detail::describe_aggregator(agg), k, d, sizeof(T), opt.seed, spe, opt.check_every};
  std::size_t first_step = 1;
  std::size_t in_round = 0, syncs = 0, checks = 0, steps = 0;
  if (opt.resume) {
    if (opt.checkpoint_path.empty())
      throw everywhere<invalid_argument>("fda::train: options.resume is set but options.checkpoint_path is empty");
    if constexpr (on_host) {  // (device parameters: refused above)
      const run_position pos = resume_checkpoint(comm, w, shared, identity, total, opt.checkpoint_path);
      steps = pos.step, in_round = pos.in_round, syncs = pos.syncs, checks = pos.checks;
      first_step = steps + 1;
    }
  }
  if (alone)
    comm.serial([&] {
      shared.res.notes.push_back(nothing_to_sync
          ? "K = 1: one worker has nothing to average with, so the run took no syncs and sent no monitoring"
          : "K = 1: the variance of one worker is 0, so no monitoring was sent; a sync is a server step, taken "
            "only when the policy's schedule or an adaptive theta's round limit forces it");
    });
  std::size_t saved_at = std::size_t(-1);
  auto save = [&] {
    saved_at = steps;
    if constexpr (on_host)
      save_checkpoint(comm, w, shared, identity, run_position{steps, in_round, syncs, checks}, opt.checkpoint_path);
  };


  // The local state, then one flag: whether it is faulty (so the all-reduce tells everyone).
  std::vector<double> state(monitor.state_size() + 1);
  const std::span<double> fields(state.data(), monitor.state_size());
  // Faulty local states: fail, or (on_fault::exclude) estimate from the others and leave
  // the faulty workers out of the averages until the next sync.
  bool excluded = false;
  auto handle_faults = [&](const std::optional<state_fault>& mine_fault, std::size_t step) {
    const auto faults = gather_faults(comm, mine_fault);
    const auto& [first, f] = faults.front();
    if (opt.on_bad_state == on_fault::fail || faults.size() == k)
      throw everywhere<numeric_error>(describe_state_fault(monitor, Policy::name, first, f, step) +
                                      (faults.size() == k ? " (every worker's state is faulty: nothing to go on)" : ""));
    const double scale = double(k) / double(k - faults.size());  // as if they were average
    for (auto& x : fields) x *= scale;
    if (mine_fault) excluded = true;
    comm.serial([&] {
      for (const auto& [r, fr] : faults)
        shared.res.faults.push_back({step, r, describe_state_fault(monitor, Policy::name, r, fr, step)});
    });
  };
  // Averages the workers' models into shared.avg, weighted as the aggregator asks, without
  // the workers left out. NaN or Inf in the average means some worker's parameters hold
  // them: on_fault::fail throws everywhere naming the first; exclude logs them, leaves them
  // out until the next sync gives them the global model, and averages the others again.
  auto average_models = [&](std::size_t step) {
    for (;;) {
      const average_stats avg = comm.average(mine_const, excluded ? 0.0 : weight, buffer_of(shared.avg), rule);
      if (avg.finite) return avg;
      const auto found = non_finite_workers(comm, mine, excluded, step);
      const std::vector<std::size_t>& bad = found.first;  // (a plain name: lambdas capture it)
      if (opt.on_bad_state == on_fault::fail || found.second == 0)
        throw everywhere<numeric_error>(non_finite_average_message(bad.front(), step) +
                                        (found.second == 0 ? " (no worker with finite parameters is left to average)" : ""));
      if (std::find(bad.begin(), bad.end(), rank) != bad.end()) excluded = true;
      comm.serial([&] {
        for (const std::size_t r : bad)
          shared.res.faults.push_back({step, r, non_finite_average_message(r, step) + ": left out of the average"});
      });
    }
  };
  // An adaptive Θ that a round could not calibrate (no variance) stays as it was: say so once.
  bool noted_uncalibrated = false;
  auto note_if_uncalibrated = [&](double measure, std::size_t step) {
    if (!adaptive || noted_uncalibrated || (std::isfinite(measure) && measure > 0.0)) return;
    noted_uncalibrated = true;
    comm.serial([&] {
      shared.res.notes.push_back(concat(
          "adaptive theta: the round that ended at step ", step, " measured ",
          calibration_of<Policy>() == calibration::max_sq_drift ? "a largest drift" : "a variance", " of ", measure,
          ", which cannot calibrate theta (it would be 0); theta stays ", monitor.theta(),
          std::isfinite(monitor.theta()) ? "" : " (rounds last the adaptive max_round, with no monitoring)",
          " until a round measures a positive value; later such rounds are not noted"));
    });
  };
  // The counters of the cost model (fda-spec.md §7), derived from what happened.
  auto count = [&](result& res) {
    res.steps = steps;
    res.syncs = syncs;
    res.checks = checks;
    res.sync_bytes = syncs * sync_cost;
    res.monitor_bytes = checks * check_cost + syncs * variance_cost;
    res.wall_seconds = seconds_since(start);
  };
  for (std::size_t step = first_step; step <= total && !stop; ++step) {
    steps = step;
    w.step();
    ++in_round;
    if (opt.check_finite_every_step && opt.on_bad_state == on_fault::fail && !all_finite(mine))
      non_finite_params(rank, step);
    // (Otherwise non-finite parameters show in the next local state or the next average: of
    // a sync, an epoch's end or the run's end, whatever the policy and cadence.)

    const bool check = !alone && monitor.checks_at(in_round);
    if (check) {
      monitor.local_state(mine, shared.w0, fields);
      const auto fault = find_state_fault(monitor, fields);
      if (fault) std::fill(fields.begin(), fields.end(), 0.0);  // (fail: unused; exclude: no vote)
      state.back() = fault ? 1.0 : 0.0;
      comm.all_reduce_sum(state);
      if (state.back() != 0.0) handle_faults(fault, step);
      ++checks;
    }
    decision dec = monitor.decide(check ? std::span<const double>(fields) : std::span<const double>(), in_round);
    if (nothing_to_sync) dec.sync = false;

    if (dec.sync) {
      ++syncs;
      const average_stats avg = average_models(step);
      sync_info measured{avg.contributors ? avg.spread / double(avg.contributors) : 0.0, in_round};
      if constexpr (calibration_of<Policy>() == calibration::max_sq_drift)  // (w0 is still the old one)
        if (adaptive) measured.max_sq_drift = largest_drift(comm, excluded ? 0.0 : sq_distance(mine, shared.w0));
      comm.serial([&] {
        if constexpr (replaces_model<Aggregator, T>()) {
          // w0_prev ← w0, w0 ← avg, the old w0_prev becomes scratch: no pass over d.
          std::swap(shared.w0_prev, shared.w0);
          std::swap(shared.w0, shared.avg);
        } else {
          copy(shared.w0, shared.w0_prev);
          shared.server.apply(shared.w0, shared.avg);
        }
      });
      copy(shared.w0, mine);  // every worker takes the new global model
      excluded = false;       // which readmits an excluded one
      const sync_record rec{step, dec.estimate, measured.variance, monitor.theta()};
      comm.serial([&] {
        shared.monitor.on_sync(shared.w0, shared.w0_prev, measured);
        shared.res.sync_log.push_back(rec);
      });
      note_if_uncalibrated(calibration_of<Policy>() == calibration::max_sq_drift ? measured.max_sq_drift
                                                                                  : measured.variance, step);
      if (comm.root_says([&] { return call_hooks(on_sync_hook{}, callbacks, rec); })) stop = true;
      in_round = 0;
    }

    const bool epoch_end = spe && step % spe == 0;
    if constexpr (wants_epochs)
      if (epoch_end) average_models(step);
    if (wants_steps || (wants_epochs && epoch_end)) {
      comm.serial([&] { count(shared.res); });
      const bool said_stop = comm.root_says([&] {
        const auto& res = shared.res;
        bool halt = false;
        if constexpr (wants_steps) {
          const step_info s{step, total, syncs, res.monitor_bytes, res.sync_bytes, dec.sync,
                            dec.estimate, monitor.theta(), res.wall_seconds};
          halt = call_hooks(on_step_hook{}, callbacks, s);
        }
        if constexpr (wants_epochs)
          if (epoch_end) {
            std::vector<T> staged, staged_global;  // device parameters: copied to the host
            const std::span<const T> averaged = host_span(shared.avg, staged);
            const std::span<const T> global = nothing_to_sync ? averaged : host_span(shared.w0, staged_global);
            epoch_info<T> e{step / spe, step, total, syncs, res.monitor_bytes, res.sync_bytes,
                            monitor.theta(), res.wall_seconds, averaged, global, {}};
            halt = call_hooks(on_epoch_hook{}, callbacks, e) || halt;
          }
        return halt;
      });
      if (said_stop) stop = true;
    }
    if (opt.checkpoint_every && step % opt.checkpoint_every == 0 && !opt.checkpoint_path.empty()) save();
  }
  if (!opt.checkpoint_path.empty() && saved_at != steps) save();

  // The final model: the workers' average, weighted as the aggregator weights them (an
  // instrument, not counted), and the server's global model.
  average_models(steps);
  comm.serial([&] {
    auto& res = shared.res;
    count(res);
    res.stopped_by_callback = stop;
    res.final_theta = monitor.theta();
    to_host_doubles(shared.avg, res.model);
    to_host_doubles(nothing_to_sync ? shared.avg : shared.w0, res.global_model);
  });
  comm.root_says([&] {
    call_hooks(on_end_hook{}, callbacks, std::as_const(shared.res));
    return false;
  });
}

}  // namespace fda::detail
