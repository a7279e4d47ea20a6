// SPDX-License-Identifier: Apache-2.0
// The ZeroMQ transport's sync against the floor of moving the same bytes through libzmq and
// through memory, in one process on loopback: `fda_bench_zmq` (see README.md).
//
// BM_hub_sync/K:<K>/<curve|insecure>: an fda::zmq_hub on a thread and K fda::zmq_comm workers
// over tcp://127.0.0.1 (CURVE by default, or plaintext), each on its own thread; every
// iteration is one `comm.average` of every worker's d floats (what fda::train calls at a
// sync). The benchmark thread is rank 0 and times its own average() call; the K - 1 helper
// workers start theirs at the same barrier, and the next iteration waits (untimed) until
// every worker has its reply. bytes_per_second counts the cost model's 2·K·4·d bytes of a
// sync; wire_bytes_per_sync is what loopback received ("lo:" of /proc/net/dev, the whole
// machine's loopback: other traffic adds to it) and wire_over_model their ratio: framing,
// CURVE, TCP/IP headers and heartbeats included.
//
// BM_plain_zmq_send/<curve|insecure>: the same 4·d bytes in one message over a plain
// DEALER → ROUTER pair on loopback and its 1-byte reply: the floor of one worker's upload.
// BM_memcpy_d: one memcpy of 4·d bytes (a read and a write of them).
//
// --dim=N (default 10^7) sets d; the smoke test runs d = 1000.
#include <benchmark/benchmark.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <fda/zmq.hpp>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::size_t dim = 10'000'000;
constexpr auto heartbeat = 1000ms;
constexpr auto patience = 60000ms;  // 2 cores, K + 1 threads and CURVE at d = 1e7: be patient

/// The receive-bytes column of "lo:" in /proc/net/dev (0 where there is none).
std::uint64_t loopback_rx_bytes() {
  std::ifstream in("/proc/net/dev");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name != "lo") continue;
    std::istringstream fields(line.substr(colon + 1));
    std::uint64_t rx = 0;
    fields >> rx;
    return rx;
  }
  return 0;
}

/// A fresh key directory for K workers, removed at the end.
struct key_dir {
  fs::path path;
  explicit key_dir(std::size_t k) {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("fda_bench_zmq_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fda::write_run_keys(path, k);
  }
  ~key_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// A hub on its own thread on a free port of 127.0.0.1; its log is kept for errors.
struct hub_thread {
  std::mutex mutex;
  std::string log;
  std::optional<fda::zmq_hub> hub;
  fda::zmq_hub_report report;
  std::thread thread;
  std::string endpoint;

  explicit hub_thread(fda::zmq_hub_options o) {
    o.bind = "tcp://127.0.0.1:*";
    o.log = [this](const std::string& line) {
      std::lock_guard lock(mutex);
      log += line + "\n";
    };
    hub.emplace(std::move(o));
    endpoint = hub->endpoint();
    thread = std::thread([this] { report = hub->run(); });
  }
  ~hub_thread() {
    if (thread.joinable()) {
      hub->stop();
      thread.join();
    }
  }
  void join() { thread.join(); }
};

fda::zmq_options worker_options(const std::string& hub, std::size_t rank, std::size_t k, const fs::path& keys,
                                bool insecure) {
  return {.hub = hub, .rank = rank, .workers = k, .keys = keys, .insecure = insecure,
          .identity = {.dim = dim, .param_bytes = 4, .max_part_bytes = 1 << 20, .run = "fda_bench_zmq"},
          .heartbeat = heartbeat, .timeout = patience, .join_timeout = patience};
}

/// One worker's parameters: distinct per rank, so the average does real work.
std::vector<float> params_of(std::size_t rank) {
  std::vector<float> v(dim);
  for (std::size_t i = 0; i < dim; ++i) v[i] = float(rank + 1) * 1e-3f * float(i % 1000);
  return v;
}

void hub_sync(benchmark::State& state, std::size_t k, bool insecure) {
  const key_dir keys(k);
  hub_thread hub({.workers = k, .keys = keys.path, .insecure = insecure, .heartbeat = heartbeat,
                  .timeout = patience});
  // Each iteration: every worker arrives at `start`, averages, arrives at `done`.
  std::barrier<> start{std::ptrdiff_t(k)}, done{std::ptrdiff_t(k)};
  std::atomic<bool> stop{false};
  std::mutex errors_mutex;
  std::string errors;
  std::vector<std::thread> helpers;
  for (std::size_t r = 1; r < k; ++r)
    helpers.emplace_back([&, r] {
      try {
        const std::vector<float> mine = params_of(r);
        std::vector<float> out(dim);
        fda::zmq_comm comm(worker_options(hub.endpoint, r, k, keys.path, insecure));
        for (;;) {
          start.arrive_and_wait();
          if (stop) break;
          comm.average(fda::param_view<const float>(std::span<const float>(mine)), 1.0, std::span<float>(out));
          done.arrive_and_wait();
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(errors_mutex);
        errors += "worker " + std::to_string(r) + ": " + e.what() + "\n";
        hub.hub->stop();  // rank 0 is told, wherever it waits
        start.arrive_and_drop();  // (rank 0's collective then fails too: the hub ends the run)
        done.arrive_and_drop();
      }
    });
  std::string error;
  std::uint64_t wire = 0, frame_bytes = 0;
  try {
    const std::vector<float> mine = params_of(0);
    std::vector<float> out(dim);
    fda::zmq_comm comm(worker_options(hub.endpoint, 0, k, keys.path, insecure));
    auto sync = [&] {
      comm.average(fda::param_view<const float>(std::span<const float>(mine)), 1.0, std::span<float>(out));
    };
    start.arrive_and_wait();  // a first sync, untimed: connections, buffers, page faults
    sync();
    done.arrive_and_wait();
    const std::uint64_t rx0 = loopback_rx_bytes(), sent0 = comm.bytes_sent();
    for (auto _ : state) {
      state.PauseTiming();
      start.arrive_and_wait();
      state.ResumeTiming();
      sync();
      benchmark::DoNotOptimize(out.data());
      state.PauseTiming();
      done.arrive_and_wait();  // every worker has its average: the loopback is quiet
      state.ResumeTiming();
    }
    wire = loopback_rx_bytes() - rx0;
    frame_bytes = comm.bytes_sent() - sent0;
    stop = true;
    start.arrive_and_wait();
  } catch (const std::exception& e) {
    error = std::string("rank 0: ") + e.what();
    hub.hub->stop();
    stop = true;
    start.arrive_and_drop();
    done.arrive_and_drop();
  }
  for (auto& t : helpers) t.join();
  if (error.empty() && errors.empty()) hub.join();  // every worker said goodbye
  else hub.hub->stop();                             // (~hub_thread joins)
  if (!error.empty() || !errors.empty()) {
    std::lock_guard lock(hub.mutex);
    state.SkipWithError((error + "\n" + errors + "hub log:\n" + hub.log).c_str());
    return;
  }
  const double model = 2.0 * double(k) * 4.0 * double(dim);  // the cost model's bytes of one sync
  const double n = double(state.iterations());
  state.SetBytesProcessed(std::int64_t(n * model));
  state.counters["model_bytes_per_sync"] = model;
  state.counters["wire_bytes_per_sync"] = double(wire) / n;
  state.counters["wire_over_model"] = double(wire) / n / model;
  state.counters["rank0_frame_bytes_per_sync"] = double(frame_bytes) / n;  // what rank 0 sent, its frame header included
}

/// The ROUTER side of BM_plain_zmq_send: answers each message with 1 byte; an empty one ends it.
void plain_server(zmq::socket_t& router) {
  for (;;) {
    zmq::message_t id, body;
    (void)router.recv(id, zmq::recv_flags::none);
    (void)router.recv(body, zmq::recv_flags::none);
    if (body.size() == 0) return;
    router.send(id, zmq::send_flags::sndmore);
    router.send(zmq::str_buffer("k"), zmq::send_flags::none);
  }
}

void plain_zmq_send(benchmark::State& state, bool curve) {
  // Two contexts, as a hub and a worker have: each its own I/O thread.
  zmq::context_t server_context(1), client_context(1);
  zmq::socket_t router(server_context, zmq::socket_type::router);
  zmq::socket_t dealer(client_context, zmq::socket_type::dealer);
  if (curve) {
    const fda::curve_key_pair server = fda::make_curve_key_pair(), client = fda::make_curve_key_pair();
    router.set(zmq::sockopt::curve_server, 1);
    router.set(zmq::sockopt::curve_secretkey, server.secret_key);
    dealer.set(zmq::sockopt::curve_serverkey, server.public_key);
    dealer.set(zmq::sockopt::curve_publickey, client.public_key);
    dealer.set(zmq::sockopt::curve_secretkey, client.secret_key);
  }
  router.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  dealer.connect(router.get(zmq::sockopt::last_endpoint));
  std::thread server([&] { plain_server(router); });

  std::vector<float> payload = params_of(0);
  zmq::message_t reply;
  auto round_trip = [&] {
    dealer.send(zmq::const_buffer(payload.data(), payload.size() * sizeof(float)), zmq::send_flags::none);
    (void)dealer.recv(reply, zmq::recv_flags::none);
  };
  round_trip();  // the handshake, untimed
  const std::uint64_t rx0 = loopback_rx_bytes();
  for (auto _ : state) {
    round_trip();
    benchmark::DoNotOptimize(reply.data());
  }
  const std::uint64_t wire = loopback_rx_bytes() - rx0;
  dealer.send(zmq::message_t(), zmq::send_flags::none);
  server.join();
  const double bytes = 4.0 * double(dim), n = double(state.iterations());
  state.SetBytesProcessed(std::int64_t(n * bytes));
  state.counters["wire_bytes_per_send"] = double(wire) / n;
  state.counters["wire_over_payload"] = double(wire) / n / bytes;
}

void memcpy_d(benchmark::State& state) {
  const std::vector<float> from = params_of(0);
  std::vector<float> to(dim, 0.0f);
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), dim * sizeof(float));
    benchmark::DoNotOptimize(to.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(std::int64_t(double(state.iterations()) * 4.0 * double(dim)));
}

}  // namespace

int main(int argc, char** argv) {
  // --dim=N: our own flag, taken out before Google Benchmark sees the rest.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--dim=", 0) == 0) {
      dim = std::size_t(std::strtod(a.c_str() + 6, nullptr));
      if (dim == 0) {
        std::fprintf(stderr, "fda_bench_zmq: --dim must be a positive number of floats\n");
        return 2;
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  const bool curve = fda::curve_available();
  if (!curve) std::fprintf(stderr, "fda_bench_zmq: this libzmq has no CURVE: the curve benchmarks are left out\n");
  for (const std::size_t k : {std::size_t(2), std::size_t(4)})
    for (const bool insecure : {false, true}) {
      if (!insecure && !curve) continue;
      const std::string name = "BM_hub_sync/K:" + std::to_string(k) + (insecure ? "/insecure" : "/curve");
      benchmark::RegisterBenchmark(name.c_str(), hub_sync, k, insecure)
          ->Iterations(5)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  for (const bool with_curve : {true, false}) {
    if (with_curve && !curve) continue;
    benchmark::RegisterBenchmark(with_curve ? "BM_plain_zmq_send/curve" : "BM_plain_zmq_send/insecure",
                                 plain_zmq_send, with_curve)
        ->Iterations(10)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("BM_memcpy_d", memcpy_d)->MinTime(0.2)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("d", std::to_string(dim));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
