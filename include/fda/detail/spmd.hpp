// SPDX-License-Identifier: Apache-2.0
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
#include "../comm/communicator.hpp"
#include "run_checkpoint.hpp"
#include "../kernels.hpp"
#include "../options.hpp"
#include "../policy/policy.hpp"
#include "../worker.hpp"

namespace fda::detail {

/// The run's monitor: policy_traits<Policy>::monitor<T, Space>, or, for a policy without
/// one (diagnose_policy has already said why), a stand-in so that no error follows that one.
template <class Policy, class T, class Space>
struct monitor_for {
  using type = unusable_monitor;
};
template <class Policy, class T, class Space>
  requires policy_traits<Policy>::template has_monitor<T, Space>
struct monitor_for<Policy, T, Space> {
  using type = typename policy_traits<Policy>::template monitor<T, Space>;
};

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
  // The policy first, with a message naming what it lacks for this run's memory space (a
  // monitor<T> without one, host_memory_only) or, for a non-policy, the member it lacks.
  static_assert(diagnose_policy<Policy, T, Space>(), "fda::train: the policy does not model fda::sync_policy");
  static_assert(on_host || aggregator_traits<Aggregator>::template replaces_model<T>(),
                "fda::train: server optimizers (fedavgm, fedadagrad, fedadam, fedyogi) update host memory: with device parameters use fda::mean or fda::weighted_mean (docs/gpu.md)");
  static_assert(on_host || !aggregator_traits<Aggregator>::is_robust,
                "fda::train: robust aggregation (coordinate_median, trimmed_mean) needs host parameters: with device parameters use fda::mean or fda::weighted_mean (docs/gpu.md)");
  using policy_type = Policy;                                        ///< the sync policy
  using aggregator_type = Aggregator;                                ///< the aggregator
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

/// Every rank's `mine` (n values each), rank r's at [r·n, r·n + n): one all-reduce of a
/// buffer in which each rank fills its own slot (adding zeros is exact).
template <class Comm>
std::vector<double> gather_values(Comm& comm, std::span<const double> mine) {
  const std::size_t n = mine.size();
  std::vector<double> all(n * comm.size(), 0.0);
  std::copy(mine.begin(), mine.end(), all.begin() + std::ptrdiff_t(n * comm.rank()));
  comm.all_reduce_sum(all);
  return all;
}

/// The workers' average is not finite. One small all-reduce tells every worker which workers
/// hold non-finite parameters: the ranks of those the average took (weight > 0) whose
/// parameters are not finite, in order, and how many workers it took are finite. Throws
/// everywhere alike when no such worker exists (an overflow of the sum).
template <class Comm, class V>
std::pair<std::vector<std::size_t>, std::size_t> non_finite_workers(Comm& comm, const V& mine, bool left_out,
                                                                    std::size_t step) {
  // 0: averaged and finite, 1: averaged and not, 2: left out
  const double mine_status = left_out ? 2.0 : all_finite(mine) ? 0.0 : 1.0;
  const std::vector<double> status = gather_values(comm, std::span<const double>(&mine_status, 1));
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
  const std::vector<double> all = gather_values(comm, std::span<const double>(&mine, 1));
  return *std::max_element(all.begin(), all.end());
}

/// Some worker flagged its local state. A second small all-reduce carries every faulty
/// worker's {field, value, kind}, so every worker knows them all, in rank order.
template <class Comm>
std::vector<std::pair<std::size_t, state_fault>> gather_faults(Comm& comm,
                                                                 const std::optional<state_fault>& mine) {
  double own[3] = {0.0, 0.0, 0.0};
  if (mine) own[0] = double(mine->field) + 1.0, own[1] = mine->value, own[2] = double(int(mine->kind));
  const std::vector<double> all = gather_values(comm, own);
  std::vector<std::pair<std::size_t, state_fault>> faults;
  for (std::size_t r = 0; r < comm.size(); ++r)
    if (all[3 * r] != 0.0)
      faults.push_back({r, state_fault{std::size_t(all[3 * r]) - 1, all[3 * r + 1], state_fault_kind(int(all[3 * r + 2]))}});
  return faults;
}

/// Checks that every worker has d parameters; names the first that differs.
template <class Comm>
void check_same_dim(Comm& comm, std::size_t dim) {
  const double mine = double(dim);
  const std::vector<double> dims = gather_values(comm, std::span<const double>(&mine, 1));
  for (std::size_t r = 0; r < dims.size(); ++r)
    if (dims[r] != dims[0])
      throw everywhere<invalid_argument>(concat(
          "fda::train: worker ", r, " has ", std::size_t(dims[r]), " parameters but worker 0 has ",
          std::size_t(dims[0]), ": every worker must train the same model"));
}

/// A monitor that samples the clients of each sync (docs/concepts.md: Monitor, optional).
/// (A concept, not a requires-expression in a member's initializer, which nvcc reads as false.)
template <class M>
concept client_sampler = requires(M& m) {
  { m.samples_clients() } -> std::convertible_to<bool>;
  { m.clients_per_round() } -> std::convertible_to<std::size_t>;
  m.choose_clients(std::size_t(1));
  { m.takes_part(std::size_t(0)) } -> std::convertible_to<bool>;
};

/// The run of one worker (this rank's), as named phases. Every step:
///   w.step() → check_and_decide (local state → all-reduce → decide) → sync, if decided
///   (average → aggregator → every worker takes the global model and runs its own on_sync()
///   → policy's on_sync) →
///   end_of_step (epoch-end average, step and epoch callbacks) → a checkpoint when due;
/// start() before the first step, finish() after the last. `shared` is this process's
/// replica of the run state (one for all in-process workers, one per MPI rank).
template <class Comm, class W, class Policy, class Aggregator, class Space, class Callbacks>
class training_loop {
 public:
  using T = param_type_t<W>;
  using state_type = run_state<T, Policy, Aggregator, Space>;
  static constexpr bool on_host = std::same_as<Space, host_space>;
  static_assert(std::same_as<Space, param_space_t<W>>, "fda: the run state's memory space is not the worker's");

  training_loop(Comm& comm, W& w, state_type& shared, const Policy& policy, const Aggregator& agg,
                const options& opt, Callbacks& callbacks)
      : comm_(comm), w_(w), shared_(shared), opt_(opt), callbacks_(callbacks),
        mine_(fda::view(w.params())), mine_const_(mine_), k_(comm.size()), d_(mine_.size()), rank_(comm.rank()),
        total_(opt.total_steps()), spe_(opt.steps_per_epoch), weight_(weight_of(w, agg)),
        rule_(combine_rule_of(agg)), adaptive_(policy_traits<Policy>::is_adaptive(policy)), alone_(k_ == 1),
        nothing_to_sync_(alone_ && replaces_model<T>(agg)),
        identity_{std::string(Policy::name), describe_aggregator(agg), k_, d_, sizeof(T), opt.seed, spe_,
                  opt.check_every},
        state_(shared.monitor.state_size() + 1) {}

  /// Runs the worker to the end of the run.
  void run() {
    start();
    for (std::size_t step = first_step_; step <= total_ && !stop_; ++step) {
      steps_ = step;
      if constexpr (communicator_traits<Comm>::tracks_steps) comm_.at_step(step);
      w_.step();
      ++in_round_;
      if (opt_.check_finite_every_step && opt_.on_bad_state == on_fault::fail && !all_finite(mine_))
        non_finite_params(rank_, step);
      // (Otherwise non-finite parameters show in the next local state or the next average: of
      // a sync, an epoch's end or the run's end, whatever the policy and cadence.)
      decision dec = check_and_decide();
      if (nothing_to_sync_) dec.sync = false;
      if (dec.sync) sync(dec);
      end_of_step(dec);
      if (opt_.checkpoint_every && step % opt_.checkpoint_every == 0 && !opt_.checkpoint_path.empty()) save();
    }
    finish();
  }

 private:
  static constexpr bool wants_steps = any_has_hook<on_step_hook, Callbacks, const step_info>;
  static constexpr bool wants_epochs = any_has_hook<on_epoch_hook, Callbacks, epoch_info<T>>;
  static constexpr bool calibrates_on_drift = policy_traits<Policy>::calibrates_on == calibration::max_sq_drift;
  /// The policy's monitor may sample the clients of a sync (fda::fedavg{.fraction}).
  static constexpr bool samples_clients = client_sampler<typename state_type::monitor_type>;

  static double weight_of(W& w, const Aggregator& agg) {
    if constexpr (counts_samples<W>)
      return weights_by_samples(agg) ? double(w.samples()) : 1.0;
    else
      return 1.0;
  }

  const auto& monitor() const { return shared_.monitor; }

  /// K less the workers the transport lost for good (communicator membership); a newly lost
  /// one is logged in result::faults at the step this worker learns of it (the same step on
  /// every live worker: the transport announces it with a collective's reply).
  std::size_t live_workers() {
    if constexpr (communicator_traits<Comm>::reports_membership) {
      const std::vector<lost_worker>& lost = comm_.lost_workers();
      if (lost.size() != lost_seen_) {
        comm_.serial([&] {
          for (std::size_t i = lost_seen_; i < lost.size(); ++i)
            shared_.res.faults.push_back({steps_, lost[i].rank, concat(
                "fda: worker ", lost[i].rank, " was lost after step ", lost[i].step, " (", lost[i].why,
                "): excluded for the rest of the run; ", k_ - i - 1, " of ", k_, " workers go on")});
        });
        lost_seen_ = lost.size();
      }
      if (lost.size() >= k_) throw everywhere<transport_error>("fda::train: every worker was lost");
      return k_ - lost.size();
    } else {
      return k_;
    }
  }

  /// The rank of the i-th worker lost (membership), for messages.
  std::size_t lost_rank(std::size_t i) const {
    if constexpr (communicator_traits<Comm>::reports_membership)
      return comm_.lost_workers()[i].rank;
    else
      return i;
  }

  /// Every worker takes worker 0's model; callbacks' on_begin; a resumed run's position.
  void start() {
    if constexpr (!on_host)
      if (!opt_.checkpoint_path.empty() || opt_.resume) throw everywhere<invalid_argument>(device_checkpoint_message());
    comm_.broadcast(mine_const_, buffer_of(shared_.w0));
    copy(shared_.w0, mine_);
    const run_info info{d_, k_, spe_, opt_.check_every, opt_.seed};
    comm_.serial([&] { shared_.res = result{}; });
    // Callbacks run on one worker (rank 0); what they decide reaches every worker.
    stop_ = comm_.root_says([&] { return call_hooks(on_begin_hook{}, callbacks_, info); });
    if (opt_.resume) {
      if (opt_.checkpoint_path.empty())
        throw everywhere<invalid_argument>("fda::train: options.resume is set but options.checkpoint_path is empty");
      if constexpr (on_host) {  // (device parameters: refused above)
        const run_position pos = resume_checkpoint(comm_, w_, shared_, identity_, total_, opt_.checkpoint_path);
        steps_ = pos.step, in_round_ = pos.in_round, syncs_ = pos.syncs, checks_ = pos.checks;
        restore_counts();
        first_step_ = steps_ + 1;
      }
    }
    // One worker: its variance is 0, so no estimate is worth sending, and a sync that only
    // replaces the model by the average of one model changes nothing: none happens. With a
    // server optimizer a sync is still a server step, taken as the policy schedules it (a
    // threshold policy: when an adaptive Θ's round limits force it; a fixed Θ: never).
    if (alone_)
      comm_.serial([&] {
        shared_.res.notes.push_back(nothing_to_sync_
            ? "K = 1: one worker has nothing to average with, so the run took no syncs and sent no monitoring"
            : "K = 1: the variance of one worker is 0, so no monitoring was sent; a sync is a server step, taken "
              "only when the policy's schedule or an adaptive theta's round limit forces it");
      });
  }

  /// At a check: this worker's local state, then one flag (faulty?) that travels with it,
  /// summed over the workers; then the decision, identical on every worker.
  decision check_and_decide() {
    const std::span<double> fields(state_.data(), monitor().state_size());
    const bool check = !alone_ && monitor().checks_at(in_round_);
    if (check) {
      monitor().local_state(mine_, shared_.w0, fields);
      const auto fault = find_state_fault(monitor(), fields);
      if (fault) std::fill(fields.begin(), fields.end(), 0.0);  // (fail: unused; exclude: no vote)
      state_.back() = fault ? 1.0 : 0.0;
      comm_.all_reduce_sum(state_);
      const std::size_t live = live_workers();
      if (state_.back() != 0.0) {
        handle_faults(fault, fields, live);
      } else if (live != k_) {  // the lost workers' states are missing: as if they were average
        const double scale = double(k_) / double(live);
        for (auto& x : fields) x *= scale;
      }
      ++checks_;
      worker_checks_ += live;
    }
    return monitor().decide(check ? std::span<const double>(fields) : std::span<const double>(), in_round_);
  }

  /// Faulty local states: fail, or (on_fault::exclude) estimate from the others and leave
  /// the faulty workers out of the averages until the next sync. `live`: the workers not lost.
  void handle_faults(const std::optional<state_fault>& mine_fault, std::span<double> fields, std::size_t live) {
    const auto faults = gather_faults(comm_, mine_fault);
    const auto& [first, f] = faults.front();
    if (opt_.on_bad_state == on_fault::fail || faults.size() == live)
      throw everywhere<numeric_error>(describe_state_fault(monitor(), Policy::name, first, f, steps_) +
                                      (faults.size() == live ? " (every worker's state is faulty: nothing to go on)" : ""));
    const double scale = double(k_) / double(live - faults.size());  // as if they were average
    for (auto& x : fields) x *= scale;
    if (mine_fault) excluded_ = true;
    comm_.serial([&] {
      for (const auto& [r, fr] : faults)
        shared_.res.faults.push_back({steps_, r, describe_state_fault(monitor(), Policy::name, r, fr, steps_)});
    });
  }

  /// Averages the workers' models into shared.avg, weighted as the aggregator asks, without
  /// the workers left out. NaN or Inf in the average means some worker's parameters hold
  /// them: on_fault::fail throws everywhere naming the first; exclude logs them, leaves them
  /// out until the next sync gives them the global model, and averages the others again.
  average_stats average_models() {
    for (;;) {
      const bool left_out = excluded_ || sitting_out_;
      const average_stats avg = comm_.average(mine_const_, left_out ? 0.0 : weight_, buffer_of(shared_.avg), rule_);
      if (avg.finite) return avg;
      const auto found = non_finite_workers(comm_, mine_, left_out, steps_);
      const std::vector<std::size_t>& bad = found.first;  // (a plain name: lambdas capture it)
      const std::size_t finite = found.second - (k_ - live_workers());  // (a lost worker's slot reads 0: "finite")
      if (opt_.on_bad_state == on_fault::fail || finite == 0)
        throw everywhere<numeric_error>(non_finite_average_message(bad.front(), steps_) +
                                        (finite == 0 ? " (no worker with finite parameters is left to average)" : ""));
      if (std::find(bad.begin(), bad.end(), rank_) != bad.end()) excluded_ = true;
      comm_.serial([&] {
        for (const std::size_t r : bad)
          shared_.res.faults.push_back({steps_, r, non_finite_average_message(r, steps_) + ": left out of the average"});
      });
    }
  }

  /// A policy that samples clients (fda::fedavg with fraction < 1) draws this sync's, once
  /// per replica; the others sit out its average. Returns whether it sampled.
  bool choose_clients() {
    if constexpr (samples_clients) {
      if (monitor().samples_clients()) {
        comm_.serial([&] { shared_.monitor.choose_clients(syncs_); });
        sitting_out_ = !monitor().takes_part(rank_);
        return true;
      }
    }
    return false;
  }
  std::size_t monitor_clients_per_round() const {
    if constexpr (samples_clients) return monitor().clients_per_round();
    return k_;
  }

  /// The sync: average, the aggregator's update of w0 (every replica alike), every worker
  /// takes the new global model, the policy's on_sync with what the sync measured, callbacks.
  void sync(const decision& dec) {
    ++syncs_;
    const bool sampled = choose_clients();
    const average_stats avg = average_models();
    sitting_out_ = false;
    // (after the average: a worker lost in it no longer counts)
    worker_syncs_ += sampled ? std::min(monitor_clients_per_round(), live_workers()) : live_workers();
    sync_info measured{avg.contributors ? avg.spread / double(avg.contributors) : 0.0, in_round_};
    if constexpr (calibrates_on_drift)  // (w0 is still the old one)
      if (adaptive_) measured.max_sq_drift = largest_drift(comm_, excluded_ ? 0.0 : sq_distance(mine_, shared_.w0));
    comm_.serial([&] {
      if constexpr (replaces_model<Aggregator, T>()) {
        // w0_prev ← w0, w0 ← avg, the old w0_prev becomes scratch: no pass over d.
        std::swap(shared_.w0_prev, shared_.w0);
        std::swap(shared_.w0, shared_.avg);
      } else {
        copy(shared_.w0, shared_.w0_prev);
        shared_.server.apply(shared_.w0, shared_.avg);
      }
    });
    copy(shared_.w0, mine_);  // every worker takes the new global model
    excluded_ = false;        // which readmits an excluded one
    if constexpr (has_sync_hook<W>) w_.on_sync();  // e.g. to reset or adjust its optimizer state
    const sync_record rec{steps_, dec.estimate, measured.variance, monitor().theta()};
    comm_.serial([&] {
      shared_.monitor.on_sync(shared_.w0, shared_.w0_prev, measured);
      shared_.res.sync_log.push_back(rec);
    });
    note_if_uncalibrated(calibrates_on_drift ? measured.max_sq_drift : measured.variance);
    if (comm_.root_says([&] { return call_hooks(on_sync_hook{}, callbacks_, rec); })) stop_ = true;
    in_round_ = 0;
  }

  /// An adaptive Θ that a round could not calibrate (no variance) stays as it was: say so once.
  void note_if_uncalibrated(double measure) {
    if (!adaptive_ || noted_uncalibrated_ || (std::isfinite(measure) && measure > 0.0)) return;
    noted_uncalibrated_ = true;
    comm_.serial([&] {
      shared_.res.notes.push_back(concat(
          "adaptive theta: the round that ended at step ", steps_, " measured ",
          calibrates_on_drift ? "a largest drift" : "a variance", " of ", measure,
          ", which cannot calibrate theta (it would be 0); theta stays ", monitor().theta(),
          std::isfinite(monitor().theta()) ? "" : " (rounds last the adaptive max_round, with no monitoring)",
          " until a round measures a positive value; later such rounds are not noted"));
    });
  }

  /// The step's callbacks (on_step; at an epoch's end on_epoch, with the averaged model),
  /// run on rank 0, and the stop they may ask for. Nothing when no callback has these hooks.
  void end_of_step(const decision& dec) {
    const bool epoch_end = spe_ && steps_ % spe_ == 0;
    if constexpr (wants_epochs)
      if (epoch_end) average_models();
    if (!(wants_steps || (wants_epochs && epoch_end))) return;
    comm_.serial([&] { count(shared_.res); });
    const bool said_stop = comm_.root_says([&] {
      const auto& res = shared_.res;
      bool halt = false;
      if constexpr (wants_steps) {
        const step_info s{steps_, total_, syncs_, res.monitor_bytes, res.sync_bytes, dec.sync,
                          dec.estimate, monitor().theta(), res.wall_seconds};
        halt = call_hooks(on_step_hook{}, callbacks_, s);
      }
      if constexpr (wants_epochs)
        if (epoch_end) {
          std::vector<T> staged, staged_global;  // device parameters: copied to the host
          const std::span<const T> averaged = host_span(shared_.avg, staged);
          const std::span<const T> global = nothing_to_sync_ ? averaged : host_span(shared_.w0, staged_global);
          epoch_info<T> e{steps_ / spe_, steps_, total_, syncs_, res.monitor_bytes, res.sync_bytes,
                          monitor().theta(), res.wall_seconds, averaged, global, {}};
          if constexpr (communicator_traits<Comm>::reports_network_seconds) e.network_seconds = comm_.network_seconds();
          halt = call_hooks(on_epoch_hook{}, callbacks_, e) || halt;
        }
      return halt;
    });
    if (said_stop) stop_ = true;
  }

  /// After a resume: the workers that took part in the syncs and checks so far — every
  /// worker (no checkpoint is taken after a loss), or, when the policy samples clients, as
  /// many as the restored sync bytes say (a checkpoint counts them before it is written).
  void restore_counts() {
    worker_syncs_ = syncs_ * k_, worker_checks_ = checks_ * k_;
    if constexpr (samples_clients)
      if (monitor().samples_clients()) worker_syncs_ = shared_.res.sync_bytes / (2ull * 4ull * d_);
  }

  /// The counters of the cost model (docs/algorithm.md: Communication cost), derived from
  /// what happened: per sync and per check, each live worker's share.
  void count(result& res) const {
    const std::uint64_t sync_cost = 2ull * 4ull * d_, check_cost = monitor().state_bytes();
    const std::uint64_t variance_cost = adaptive_ ? 4ull : 0ull;  // each worker's ||w_k - w̄||² at a sync
    res.steps = steps_;
    res.syncs = syncs_;
    res.checks = checks_;
    res.sync_bytes = worker_syncs_ * sync_cost;
    res.monitor_bytes = worker_checks_ * check_cost + worker_syncs_ * variance_cost;
    res.wall_seconds = seconds_since(start_);
  }

  void save() {
    saved_at_ = steps_;
    if (lost_seen_) {  // a checkpoint holds every worker's state
      if (!noted_no_checkpoint_)
        comm_.serial([&] {
          shared_.res.notes.push_back(concat("checkpoints stopped at step ", steps_, ": worker ",
                                             lost_rank(0), " was lost, and a checkpoint holds every worker's state"));
        });
      noted_no_checkpoint_ = true;
      return;
    }
    if constexpr (on_host) {
      comm_.serial([&] { count(shared_.res); });  // (the bytes so far go into the checkpoint)
      save_checkpoint(comm_, w_, shared_, identity_, run_position{steps_, in_round_, syncs_, checks_},
                      opt_.checkpoint_path);
    }
  }

  /// The last checkpoint; the final models: the workers' average, weighted as the
  /// aggregator weights them (an instrument, not counted), and the server's global model;
  /// the result; on_end.
  void finish() {
    if (!opt_.checkpoint_path.empty() && saved_at_ != steps_) save();
    average_models();
    comm_.serial([&] {
      auto& res = shared_.res;
      count(res);
      res.stopped_by_callback = stop_;
      res.final_theta = monitor().theta();
      to_host_doubles(shared_.avg, res.model);
      to_host_doubles(nothing_to_sync_ ? shared_.avg : shared_.w0, res.global_model);
    });
    comm_.root_says([&] {
      call_hooks(on_end_hook{}, callbacks_, std::as_const(shared_.res));
      return false;
    });
  }

  Comm& comm_;
  W& w_;
  state_type& shared_;
  const options& opt_;
  Callbacks& callbacks_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  const decltype(fda::view(std::declval<W&>().params())) mine_;  // this worker's parameters
  const param_view<const T, Space> mine_const_;
  const std::size_t k_, d_, rank_, total_, spe_;
  const double weight_;           // in the averages (sample count for weighted aggregators)
  const combine_rule rule_;       // the mean, or an order statistic (robust.hpp)
  const bool adaptive_, alone_, nothing_to_sync_;
  const run_identity identity_;   // what a checkpoint must match
  std::vector<double> state_;     // the local state, then the faulty flag
  std::size_t first_step_ = 1, in_round_ = 0, syncs_ = 0, checks_ = 0, steps_ = 0;
  std::size_t saved_at_ = std::size_t(-1);
  std::uint64_t worker_syncs_ = 0, worker_checks_ = 0;  // Σ live workers over the syncs, the checks
  std::size_t lost_seen_ = 0;                           // workers lost for good, as logged so far
  bool sitting_out_ = false;  // not among the clients this sync averages (client sampling)
  bool stop_ = false, excluded_ = false, noted_uncalibrated_ = false, noted_no_checkpoint_ = false;
};

/// Runs worker `w` (this rank's) to the end. `shared` is this process's replica, already
/// constructed; the caller returns shared->res from one replica.
template <class Comm, class W, class Policy, class Aggregator, class Space, class Callbacks>
void run_spmd(Comm& comm, W& w, run_state<param_type_t<W>, Policy, Aggregator, Space>& shared,
              const Policy& policy, const Aggregator& agg, const options& opt, Callbacks& callbacks) {
  training_loop<Comm, W, Policy, Aggregator, Space, Callbacks>(comm, w, shared, policy, agg, opt, callbacks).run();
}

}  // namespace fda::detail
