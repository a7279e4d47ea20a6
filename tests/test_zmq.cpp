// SPDX-License-Identifier: Apache-2.0
// The ZeroMQ transport in one process: a hub on a thread, K workers on threads, each with
// its own fda::zmq_comm over TCP on 127.0.0.1 (CURVE unless a test says otherwise). The
// conformance suite proves the collectives and fda::train bit for bit against the in-process
// cluster; the rest proves the refusals, the loss of a worker and the hub's end. Processes
// (fda-hub, fda-train, kill -9) are tested by tests/fda_train_zmq.sh.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fda/fda.hpp>
#include <fda/testing.hpp>
#include <fda/zmq.hpp>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// A fresh key directory for K workers, removed at the end of the test.
struct key_dir : fda_test::temp_dir {
  explicit key_dir(std::size_t k, const char* name = "zmq_keys") : fda_test::temp_dir(name) {
    fda::write_run_keys(path, k);
  }
};

/// A test problem's worker whose step throws at its step `fails_at` when it is rank `failing`.
struct failing_worker {
  fda::testing::problem_worker<float> w;
  std::size_t rank, failing, fails_at, steps = 0;
  auto& params() { return w.params(); }
  void step() {
    if (rank == failing && ++steps == fails_at)
      throw std::runtime_error("worker " + std::to_string(rank) + " failed at its step " + std::to_string(steps));
    w.step();
  }
};

/// (`p` is kept by reference: it must outlive the worker.)
failing_worker worker_failing(const fda::testing::problem& p, std::size_t rank, std::size_t failing, std::size_t at) {
  return {fda::testing::problem_worker<float>(p, rank), rank, failing, at};
}

/// A hub on its own thread, listening on a free port of 127.0.0.1; its log is kept.
struct hub_thread {
  std::vector<std::string> log;
  std::mutex mutex;
  std::optional<fda::zmq_hub> hub;
  fda::zmq_hub_report report;
  std::thread thread;
  std::string endpoint;

  explicit hub_thread(fda::zmq_hub_options o) {
    o.bind = "tcp://127.0.0.1:*";
    o.log = [this](const std::string& line) {
      std::lock_guard lock(mutex);
      log.push_back(line);
      if (std::getenv("FDA_TEST_HUB_LOG")) std::fprintf(stderr, "%s\n", line.c_str());  // (to watch a hang)
    };
    hub.emplace(std::move(o));
    endpoint = hub->endpoint();
    thread = std::thread([this] {
      report = hub->run();
      done = true;
    });
  }
  std::atomic<bool> done{false};
  /// Joins the hub's thread if it ends within `patience`; else stops it first and says false.
  bool join_within(std::chrono::milliseconds patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    const bool ended = done;
    if (!ended) hub->stop();
    join();
    return ended;
  }
  ~hub_thread() { join(); }
  void join() {
    if (thread.joinable()) thread.join();
  }
  /// True when a log line contains `text`.
  bool logged(const std::string& text) {
    std::lock_guard lock(mutex);
    for (const auto& l : log)
      if (l.find(text) != std::string::npos) return true;
    return false;
  }
  std::string all_log() {
    std::lock_guard lock(mutex);
    std::string s;
    for (const auto& l : log) s += l + "\n";
    return s;
  }
};

fda::zmq_options worker_options(const hub_thread& h, std::size_t rank, std::size_t k, const fs::path& keys,
                                std::size_t dim = 4096) {
  return {.hub = h.endpoint, .rank = rank, .workers = k, .keys = keys, .insecure = false,
          .identity = {.dim = dim, .param_bytes = 4, .max_part_bytes = 1 << 20, .run = "test run"},
          .heartbeat = 200ms, .timeout = 2000ms, .join_timeout = 10000ms};
}

/// Runs f(comm) on K worker threads over the hub; returns the first error of each rank ("" if none).
std::vector<std::string> on_workers(hub_thread& h, std::size_t k, const fs::path& keys,
                                    const std::function<void(fda::zmq_comm&)>& f, std::size_t dim = 4096) {
  std::vector<std::string> errors(k);
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < k; ++r)
    threads.emplace_back([&, r] {
      try {
        fda::zmq_comm comm(worker_options(h, r, k, keys, dim));
        f(comm);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

void require_no_errors(const std::vector<std::string>& errors) {
  for (std::size_t r = 0; r < errors.size(); ++r) {
    INFO("rank " << r);
    CHECK(errors[r] == "");
  }
}

}  // namespace

TEST_CASE("the conformance suite: zmq_comm over a hub passes check_communicator and check_train_on") {
  for (const std::size_t k : {std::size_t(2), std::size_t(3), std::size_t(4)}) {
    key_dir keys(k);
    hub_thread hub({.workers = k, .keys = keys.path});
    std::vector<fda::testing::report> reports(k);
    const auto errors = on_workers(hub, k, keys.path, [&](fda::zmq_comm& comm) {
      const fda::testing::communicator_settings s{.label = "zmq_comm"};
      fda::testing::report r = fda::testing::check_communicator(comm, s);
      r.merge(fda::testing::check_train_on(comm, s));
      r.merge(fda::testing::check_train_on<double>(comm, s));
      reports[comm.rank()] = r;
    });
    hub.join();
    require_no_errors(errors);
    INFO(hub.all_log());
    CHECK(hub.report.completed);
    for (const auto& r : reports) {
      INFO(r.summary());
      CHECK(r.passed());
    }
  }
}

TEST_CASE("zmq: an uninvited key, a taken rank, a stale identity and the wrong K are refused; the run goes on") {
  const std::size_t k = 2;
  key_dir keys(k), strangers(k, "strangers");
  hub_thread hub({.workers = k, .keys = keys.path});
  std::vector<std::string> refusals(4);
  std::atomic<bool> joined{false};
  const auto errors = on_workers(hub, k, keys.path, [&](fda::zmq_comm& comm) {
    comm.barrier();  // every legitimate worker has joined
    if (comm.rank() == 0) {
      auto attempt = [&](fda::zmq_options o) {
        try {
          fda::zmq_comm intruder(std::move(o));
          return std::string("admitted");
        } catch (const fda::transport_error& e) {
          return std::string(e.what());
        }
      };
      fs::copy_file(fda::hub_public_key_file(keys.path), fda::hub_public_key_file(strangers.path),
                    fs::copy_options::overwrite_existing);  // the right hub, an uninvited worker key
      fda::zmq_options o = worker_options(hub, 1, k, strangers.path);
      refusals[0] = attempt(o);
      refusals[1] = attempt(worker_options(hub, 1, k, keys.path));  // rank 1 is taken
      o = worker_options(hub, 1, k, keys.path);
      o.identity.run = "another run";
      refusals[2] = attempt(o);                          // a stale identity (checked after the rank)
      o = worker_options(hub, 1, 3, strangers.path);
      refusals[3] = attempt(o);
      joined = true;
    }
    comm.barrier();
    std::vector<double> v{double(comm.rank() + 1)};
    comm.all_reduce_sum(v);
    if (v[0] != 3.0) throw std::runtime_error("the run was harmed: sum " + std::to_string(v[0]));
  });
  hub.join();
  require_no_errors(errors);
  INFO(hub.all_log());
  CHECK(joined);
  CHECK(hub.report.completed);
  CHECK_THAT(refusals[0], Catch::Contains("refused this worker's key"));
  CHECK(hub.logged("is not on the allow-list"));
  CHECK_THAT(refusals[1], Catch::Contains("rank 1 is already taken"));
  CHECK_THAT(refusals[2], Catch::Contains("rank 1 is already taken"));
  CHECK(refusals[3] != "admitted");
  CHECK(hub.logged("refused a worker from"));
}

TEST_CASE("zmq: a worker whose identity differs from the first admitted one is refused") {
  const std::size_t k = 2;
  key_dir keys(k);
  hub_thread hub({.workers = k, .keys = keys.path});
  std::string refusal;
  std::thread late([&] {
    std::this_thread::sleep_for(300ms);  // rank 0 is admitted first
    fda::zmq_options o = worker_options(hub, 1, k, keys.path);
    o.identity.run = "seed 2";
    try {
      fda::zmq_comm stale(o);
    } catch (const fda::transport_error& e) {
      refusal = e.what();
    }
    fda::zmq_comm right(worker_options(hub, 1, k, keys.path));  // the right one joins after
    right.barrier();
  });
  {
    fda::zmq_comm first(worker_options(hub, 0, k, keys.path));
    first.barrier();
  }
  late.join();
  hub.join();
  INFO(hub.all_log());
  CHECK_THAT(refusal, Catch::Contains("its run differs"));
  CHECK_THAT(refusal, Catch::Contains("seed 2"));
  CHECK(hub.report.completed);
}

TEST_CASE("zmq: --insecure on one side only is refused, both ways") {
  const std::size_t k = 1;
  key_dir keys(k);
  {
    hub_thread hub({.workers = k, .keys = keys.path});  // CURVE hub, plaintext worker
    fda::zmq_options o = worker_options(hub, 0, k, {});
    o.insecure = true;
    o.join_timeout = 3000ms;
    CHECK_THROWS_WITH(fda::zmq_comm(o), Catch::Contains("could not join") || Catch::Contains("was not admitted"));
    hub.hub->stop();
  }
  {
    hub_thread hub({.workers = k, .insecure = true});  // plaintext hub, CURVE worker
    fda::zmq_options o = worker_options(hub, 0, k, keys.path);
    o.join_timeout = 3000ms;
    CHECK_THROWS_WITH(fda::zmq_comm(o), Catch::Contains("could not join") || Catch::Contains("was not admitted"));
    hub.hub->stop();
  }
}

TEST_CASE("zmq: a worker that fails under exclude is left out; fda::train counts the live workers") {
  const std::size_t k = 4;
  const fda::testing::problem problem(k, 24);
  key_dir keys(k);
  hub_thread hub({.workers = k, .keys = keys.path, .on_worker_loss = fda::zmq_worker_loss::exclude});
  std::vector<fda::result> results(k);
  const auto errors = on_workers(
      hub, k, keys.path,
      [&](fda::zmq_comm& comm) {
        failing_worker f = worker_failing(problem, comm.rank(), 3, 20);
        results[comm.rank()] = fda::train(comm, f, fda::synchronous{}, fda::mean{}, {.max_steps = 40});
      },
      24);
  hub.join();
  INFO(hub.all_log());
  CHECK_THAT(errors[3], Catch::Contains("worker 3 failed at its step 20"));
  for (std::size_t r = 0; r < 3; ++r) {
    INFO("rank " << r);
    CHECK(errors[r] == "");
    const fda::result& res = results[r];
    CHECK(res.syncs == 40);
    REQUIRE(res.faults.size() == 1);
    CHECK(res.faults[0].worker == 3);
    CHECK_THAT(res.faults[0].message, Catch::Contains("worker 3 was lost after step 20"));
    CHECK_THAT(res.faults[0].message, Catch::Contains("3 of 4 workers go on"));
    // The cost model counts each live worker's share: 19 syncs of 4, 21 of 3 (2·4·d bytes each).
    CHECK(res.sync_bytes == (19 * 4 + 21 * 3) * 2 * 4 * 24);
    CHECK(res.model == results[0].model);
  }
  CHECK(hub.report.lost == std::vector<std::size_t>{3});
  CHECK(hub.report.completed);
}

TEST_CASE("zmq: after a loss the policy monitors the live workers: K / live scaling, each live worker's bytes") {
  const std::size_t k = 4, d = 24;
  const fda::linear_fda policy{.theta = 0.05};
  const fda::options opt{.max_steps = 40};
  // The cost of one worker's local state, from a run without loss.
  const fda::testing::problem problem(k, d);
  fda::local_cluster cluster(k);
  const fda::result whole = fda::train(
      cluster, [&](std::size_t r) { return fda::testing::problem_worker<float>(problem, r); }, policy, fda::mean{}, opt);
  REQUIRE(whole.checks == 40);
  const std::uint64_t state_bytes = whole.monitor_bytes / (40 * k);
  key_dir keys(k);
  hub_thread hub({.workers = k, .keys = keys.path, .on_worker_loss = fda::zmq_worker_loss::exclude});
  std::vector<fda::result> results(k);
  const auto errors = on_workers(
      hub, k, keys.path,
      [&](fda::zmq_comm& comm) {
        failing_worker f = worker_failing(problem, comm.rank(), 2, 20);
        results[comm.rank()] = fda::train(comm, f, policy, fda::mean{}, opt);
      },
      d);
  hub.join();
  INFO(hub.all_log());
  for (const std::size_t r : {std::size_t(0), std::size_t(1), std::size_t(3)}) {
    INFO("rank " << r);
    REQUIRE(errors[r] == "");
    const fda::result& res = results[r];
    CHECK(res.checks == 40);
    // Checks 1-19 with 4 workers, 20-40 with 3 (the loss is announced with check 20's sum).
    CHECK(res.monitor_bytes == (19 * 4 + 21 * 3) * state_bytes);
    CHECK(res.syncs == results[0].syncs);
    REQUIRE(res.faults.size() == 1);
    CHECK(res.faults[0].step == 20);
  }
  // The negative control: the counters of a run without loss are not these.
  CHECK(whole.monitor_bytes != results[0].monitor_bytes);
}

TEST_CASE("zmq: a worker lost after the others said goodbye still lets the hub end the run") {
  const std::size_t k = 3;
  const fda::testing::problem problem(k, 24);
  key_dir keys(k);
  hub_thread hub({.workers = k, .keys = keys.path, .on_worker_loss = fda::zmq_worker_loss::exclude});
  std::atomic<int> finished{0};
  const auto errors = on_workers(
      hub, k, keys.path,
      [&](fda::zmq_comm& comm) {
        fda::testing::problem_worker<float> w(problem, comm.rank());
        (void)fda::train(comm, w, fda::synchronous{}, fda::mean{}, {.max_steps = 5});
        if (comm.rank() != 2) return void(++finished);
        while (finished < 2) std::this_thread::sleep_for(10ms);
        std::this_thread::sleep_for(200ms);          // the others' goodbyes reach the hub first
        comm.on_local_error("crashed after the run");  // no goodbye from worker 2
      },
      24);
  require_no_errors(errors);
  INFO(hub.all_log());
  REQUIRE(hub.join_within(10000ms));
  CHECK(hub.report.completed);
  CHECK(hub.report.lost == std::vector<std::size_t>{2});
}

TEST_CASE("zmq: a worker that fails under fail ends the run everywhere, naming it") {
  const std::size_t k = 3;
  const fda::testing::problem problem(k, 24);
  key_dir keys(k);
  hub_thread hub({.workers = k, .keys = keys.path});
  const auto errors = on_workers(
      hub, k, keys.path,
      [&](fda::zmq_comm& comm) {
        failing_worker f = worker_failing(problem, comm.rank(), 1, 7);
        (void)fda::train(comm, f, fda::synchronous{}, fda::mean{}, {.max_steps = 40});
      },
      24);
  hub.join();
  INFO(hub.all_log());
  CHECK_THAT(errors[1], Catch::Contains("worker 1 failed at its step 7"));
  for (const std::size_t r : {std::size_t(0), std::size_t(2)}) {
    CHECK_THAT(errors[r], Catch::Contains("the hub ended the run"));
    CHECK_THAT(errors[r], Catch::Contains("worker 1"));
    CHECK_THAT(errors[r], Catch::Contains("lost at step 7"));
  }
  CHECK_FALSE(hub.report.completed);
}

TEST_CASE("zmq: a hub that goes silent makes its workers fail within the timeout, naming the hub") {
  const std::size_t k = 2;
  key_dir keys(k);
  // A hub that admits the workers, then stops answering: a bare ROUTER that replies welcome only.
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  std::atomic<bool> done{false};
  std::thread mute([&] {
    while (!done) {
      zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, 50ms) == 0) continue;
      zmq::message_t id, body;
      (void)router.recv(id);
      (void)router.recv(body);
      const std::span<const std::byte> bytes(static_cast<const std::byte*>(body.data()), body.size());
      const fda::zmq_frame f = fda::decode_frame(bytes, {.workers = k}, true);
      if (f && f.header.op == fda::zmq_op::hello) {
        router.send(id, zmq::send_flags::sndmore);
        router.send(zmq::buffer(fda::encode_frame(fda::zmq_header{.op = fda::zmq_op::welcome}, std::size_t(0))));
      }
    }
  });
  fda::zmq_options o{.hub = endpoint, .rank = 0, .workers = k, .insecure = true,
                     .identity = {.dim = 8, .max_part_bytes = 1024}, .heartbeat = 100ms, .timeout = 600ms};
  const auto start = std::chrono::steady_clock::now();
  std::string error;
  try {
    fda::zmq_comm comm(o);
    comm.barrier();
  } catch (const fda::transport_error& e) {
    error = e.what();
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done = true;
  mute.join();
  CHECK_THAT(error, Catch::Contains("heard nothing from the hub at " + endpoint));
  CHECK(waited < 5.0);
}

TEST_CASE("zmq: frames that are not fda's, truncated or oversized are dropped and logged; the run goes on") {
  const std::size_t k = 2;
  hub_thread hub({.workers = k, .insecure = true, .max_message_bytes = 1 << 20});
  zmq::context_t ctx;
  zmq::socket_t rogue(ctx, zmq::socket_type::dealer);
  rogue.set(zmq::sockopt::linger, 0);  // (a refused message must not hold the context open)
  rogue.connect(hub.endpoint);
  rogue.send(zmq::str_buffer("GET / HTTP/1.1\r\n\r\n"));
  zmq::socket_t rogue4(ctx, zmq::socket_type::dealer);
  rogue4.set(zmq::sockopt::linger, 0);
  rogue4.connect(hub.endpoint);
  rogue4.send(zmq::buffer(std::string(100, 'G')));
  std::string truncated = fda::encode_frame(fda::zmq_header{.op = fda::zmq_op::sum}, std::size_t(16));
  truncated.resize(truncated.size() - 3);
  zmq::socket_t rogue2(ctx, zmq::socket_type::dealer);
  rogue2.set(zmq::sockopt::linger, 0);
  rogue2.connect(hub.endpoint);
  rogue2.send(zmq::buffer(truncated));
  zmq::socket_t rogue3(ctx, zmq::socket_type::dealer);  // beyond max_message_bytes: libzmq drops the connection
  rogue3.set(zmq::sockopt::linger, 0);
  rogue3.connect(hub.endpoint);
  rogue3.send(zmq::buffer(std::string(2 << 20, 'x')));
  std::this_thread::sleep_for(300ms);
  // A worker of a bigger run (rank 5 of 6) is told why, not left waiting.
  fda::zmq_options outsider{.hub = hub.endpoint, .rank = 5, .workers = 6, .insecure = true,
                            .identity = {.dim = 8, .max_part_bytes = 1024}, .heartbeat = 200ms, .timeout = 2000ms,
                            .join_timeout = 5000ms};
  CHECK_THROWS_WITH(fda::zmq_comm(outsider), Catch::Contains("refused worker 5") && Catch::Contains("out of range"));
  fda::zmq_options o0{.hub = hub.endpoint, .rank = 0, .workers = k, .insecure = true, .identity = {.dim = 8, .max_part_bytes = 1024},
                      .heartbeat = 200ms, .timeout = 2000ms};
  std::vector<std::string> errors(k);
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < k; ++r)
    threads.emplace_back([&, r] {
      try {
        fda::zmq_options o = o0;
        o.rank = r;
        fda::zmq_comm comm(o);
        std::vector<double> v{1.0};
        comm.all_reduce_sum(v);
        if (v[0] != 2.0) errors[r] = "wrong sum";
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  hub.join();
  INFO(hub.all_log());
  require_no_errors(errors);
  CHECK(hub.report.completed);
  CHECK(hub.logged("shorter than the 64-byte header"));
  CHECK(hub.logged("not an fda frame (bad magic)"));
  CHECK(hub.logged("payload bytes but"));
}
