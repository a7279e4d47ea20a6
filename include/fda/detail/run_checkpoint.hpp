// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Saving and resuming a run of detail::run_spmd (the file format is in checkpoint.hpp).
///
/// Saving: every worker serialises itself, the blobs are gathered on rank 0, which adds its
/// replica of the shared state and writes the file. Resuming: rank 0 reads and verifies the
/// whole file against the run before anyone loads anything, then the shared part goes to
/// every replica and each worker gets its own part. Errors on rank 0 reach every worker.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "../aggregate/traits.hpp"
#include "../checkpoint.hpp"
#include "../error.hpp"
#include "../options.hpp"
#include "../params.hpp"
#include "../policy/traits.hpp"
#include "../worker.hpp"

namespace fda::detail {

/// What identifies a run: a checkpoint resumes only the run that wrote it. `aggregator` is
/// fda::describe_aggregator's text: the name and every setting ("fedadam{lr=0.01, ...}"),
/// so another aggregator, or the same one configured otherwise, is refused by name.
struct run_identity {
  std::string policy;
  std::string aggregator;
  std::uint64_t workers = 0, dim = 0, param_bytes = 0, seed = 0, steps_per_epoch = 0, check_every = 0;

  template <class F>
  void fields(F&& f) {
    f(policy), f(aggregator), f(workers), f(dim), f(param_bytes), f(seed), f(steps_per_epoch), f(check_every);
  }

  /// Throws checkpoint_error naming the first field that differs from `run`.
  void require_same_as(const run_identity& run, const std::string& file) const {
    auto differ = [&](const char* field, const auto& saved, const auto& now) {
      if (saved != now)
        throw checkpoint_error(concat("fda: checkpoint: ", file, " was written by a different run: its ", field,
                                      " is ", saved, " but this run's is ", now));
    };
    differ("policy", policy, run.policy);
    differ("aggregator", aggregator, run.aggregator);
    differ("number of workers K", workers, run.workers);
    differ("number of parameters d", dim, run.dim);
    differ("parameter size in bytes", param_bytes, run.param_bytes);
    differ("seed", seed, run.seed);
    differ("steps_per_epoch", steps_per_epoch, run.steps_per_epoch);
    differ("check_every", check_every, run.check_every);
  }
};

/// Where the loop stands: the step done, the step within the round, syncs and checks.
struct run_position {
  std::uint64_t step = 0, in_round = 0, syncs = 0, checks = 0;

  template <class F>
  void fields(F&& f) {
    f(step), f(in_round), f(syncs), f(checks);
  }
};

/// Runs f on rank 0; if it throws, every worker raises the same checkpoint_error.
template <class Comm, class F>
void on_root_or_raise(Comm& comm, F&& f) {
  std::string error;
  const bool failed = comm.root_says([&] {
    try {
      f();
      return false;
    } catch (const std::exception& e) {
      error = e.what();
      return true;
    }
  });
  if (!failed) return;
  comm.broadcast_bytes(error);
  throw everywhere<checkpoint_error>(error);
}

/// Visits the state of the policy's monitor, then the aggregator's server state: their
/// state_fields, when they have them (fda::monitor_traits, fda::aggregator_traits).
template <class State, class F>
void shared_state_fields(State& s, F& f) {
  monitor_traits<typename State::monitor_type>::state_fields(s.monitor, f);
  aggregator_traits<typename State::aggregator_type>::state_fields(s.server, f);
}

/// The shared state of a replica: the position, w0, the previous w0, the policy's and the
/// aggregator's state, the result so far.
template <class State>
std::string save_shared(State& s, run_position pos) {
  checkpoint_writer out;
  pos.fields(out);
  out(s.w0);
  out(s.w0_prev);
  shared_state_fields(s, out);
  out(std::uint64_t(s.res.monitor_bytes));
  out(std::uint64_t(s.res.sync_bytes));
  out(std::uint64_t(s.res.sync_log.size()));
  for (const auto& r : s.res.sync_log) out(std::uint64_t(r.step)), out(r.estimate), out(r.variance), out(r.theta);
  return out.take();
}

inline run_position read_position(std::string_view shared) {
  checkpoint_reader in(shared, "the shared state");
  run_position pos;
  pos.fields(in);
  return pos;
}

template <class State>
void load_shared(State& s, std::string_view bytes) {
  checkpoint_reader in(bytes, "the shared state");
  run_position pos;
  pos.fields(in);
  in(s.w0);
  in(s.w0_prev);
  shared_state_fields(s, in);
  s.res = result{};
  s.res.steps = pos.step;
  s.res.syncs = pos.syncs;
  s.res.checks = pos.checks;
  s.res.monitor_bytes = in.get<std::uint64_t>();
  s.res.sync_bytes = in.get<std::uint64_t>();
  const auto syncs = in.get<std::uint64_t>();
  if (syncs != pos.syncs)
    throw checkpoint_error(concat("fda: checkpoint: the sync log holds ", syncs, " syncs but the counter says ", pos.syncs));
  for (std::uint64_t i = 0; i < syncs; ++i) {
    sync_record r;
    r.step = in.get<std::uint64_t>();
    in(r.estimate), in(r.variance), in(r.theta);
    s.res.sync_log.push_back(r);
  }
  in.finish();
}

/// A worker's part: its parameters, then what its save() writes.
template <class W>
std::string save_worker(W& w) {
  checkpoint_writer out;
  const auto v = fda::view(w.params());
  bool first = true;
  for (auto seg : v.segments()) {
    out.elements(seg.data(), seg.size(), first, v.size());
    first = false;
  }
  if constexpr (checkpointable_worker<W>) w.save(out);
  return out.take();
}

template <class W>
void load_worker(W& w, std::string_view bytes, std::size_t rank) {
  using T = param_type_t<W>;
  checkpoint_reader in(bytes, concat("worker ", rank, "'s part"));
  const auto v = fda::view(w.params());
  in.template elements<T>(v.size(), [&](const char* p, std::uint64_t) {
    for (auto seg : v.segments()) {
      std::memcpy(seg.data(), p, seg.size() * sizeof(T));
      p += seg.size() * sizeof(T);
    }
  });
  if constexpr (checkpointable_worker<W>) w.load(in);
  in.finish();
}

/// Saves the run to `path` (a collective: every worker calls it at the same step).
template <class Comm, class W, class State>
void save_checkpoint(Comm& comm, W& w, State& shared, run_identity id, run_position pos, const std::string& path) {
  const std::vector<std::string> parts = comm.gather_bytes(save_worker(w));
  on_root_or_raise(comm, [&] {
    checkpoint_writer out;
    id.fields(out);
    out(save_shared(shared, pos));
    for (const auto& p : parts) out(p);
    write_checkpoint_file(path, out.bytes());
  });
}

/// Loads the run from `path` into the worker and the replica; returns the position.
template <class Comm, class W, class State>
run_position resume_checkpoint(Comm& comm, W& w, State& shared, const run_identity& id, std::uint64_t total_steps,
                               const std::string& path) {
  std::string shared_part;
  std::vector<std::string> parts;
  on_root_or_raise(comm, [&] {  // everything is verified before anything is loaded
    const std::string payload = read_checkpoint_file(path);
    checkpoint_reader in(payload, "the run record of " + path);
    run_identity saved;
    saved.fields(in);
    saved.require_same_as(id, path);
    in(shared_part);
    parts.resize(id.workers);
    for (auto& p : parts) in(p);
    in.finish();
    const run_position pos = read_position(shared_part);
    if (pos.step > total_steps)
      throw checkpoint_error(concat("fda: checkpoint: ", path, " is at step ", pos.step,
                                    ", past this run's last step ", total_steps, ": raise max_steps or max_epochs"));
  });
  comm.broadcast_bytes(shared_part);
  const std::string mine = comm.scatter_bytes(parts);
  load_worker(w, mine, comm.rank());
  comm.serial([&] {
    try {
      load_shared(shared, shared_part);
    } catch (const checkpoint_error& e) {
      throw everywhere<checkpoint_error>(e.what());
    }
  });
  return read_position(shared_part);
}

}  // namespace fda::detail
