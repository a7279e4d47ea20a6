// SPDX-License-Identifier: Apache-2.0
// fda-hub: the coordinator of a run over fda's ZeroMQ transport (fda::zmq_hub). It admits K
// workers (fda-train --transport zmq, or any program with fda::zmq_comm), runs their
// collectives in rank order and exits when they are done. It holds no model and no training
// code. See `fda-hub --help` and docs/federated.md.
#include <CLI/CLI.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>

#include <fda/zmq/hub.hpp>

#include "fda-train/cli.hpp"

namespace {

struct settings {
  std::string bind, keys, on_loss = "fail";
  std::size_t workers = 0, heartbeat_ms = 1000, max_message_mb = 1024;
  bool insecure = false;
};

fda::zmq_hub* running = nullptr;  // for the signal handler

extern "C" void stop_on_signal(int) {
  if (running) running->stop();
}

void define_options(CLI::App& app, settings& s) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--bind", s.bind, "where workers connect: tcp://ADDR:PORT (tcp://*:5555: every interface)")->required();
  app.add_option("--workers,-k", s.workers, "K, the workers of the run")->required()
      ->transform(fda_train::number<std::size_t>(1, 100000));
  app.add_option("--keys", s.keys, "directory with hub.key and every worker-<r>.pub (fda-keys)");
  app.add_option("--on-worker-loss", s.on_loss, "fail: the run ends, non-zero everywhere | exclude: the others go on "
                 "(not rank 0)")->check(CLI::IsMember({"fail", "exclude"}))->capture_default_str();
  app.add_option("--heartbeat-ms", s.heartbeat_ms, "heartbeat interval; a worker silent for 5 intervals is lost")
      ->transform(fda_train::number<std::size_t>(10, 60000))->capture_default_str();
  app.add_option("--max-message-mb", s.max_message_mb, "longest message accepted, MiB (libzmq drops a longer one before "
                 "allocating it); must hold a model of d parameters: 8·d bytes")
      ->transform(fda_train::number<std::size_t>(1, 65536))->capture_default_str();
  app.add_flag("--insecure", s.insecure, "plaintext, no authentication: anyone who reaches the port can read and alter "
               "the models and join (the workers must say --insecure too)");
  app.footer("Exit status: 0 when every worker finished, 1 when the run ended otherwise (a worker lost under\n"
             "--on-worker-loss fail, a stop signal, an error), 2 a bad command-line value.");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fda-hub: the coordinator of a federated run over ZeroMQ (CURVE-encrypted and authenticated by default)"};
  settings s;
  define_options(app, s);
  if (const auto status = fda_train::parse_or_exit(app, argc, argv, "fda-hub")) return *status;
  if (s.keys.empty() && !s.insecure) {
    std::fprintf(stderr, "fda-hub: --keys DIR is needed (fda-keys DIR --workers K writes it), or --insecure\n");
    return 2;
  }
  try {
    const std::chrono::milliseconds beat(s.heartbeat_ms);
    fda::zmq_hub hub({.bind = s.bind, .workers = s.workers, .keys = s.keys, .insecure = s.insecure,
                      .on_worker_loss = s.on_loss == "exclude" ? fda::zmq_worker_loss::exclude : fda::zmq_worker_loss::fail,
                      .heartbeat = beat, .timeout = 5 * beat,
                      .max_message_bytes = std::uint64_t(s.max_message_mb) << 20, .log = {}});
    running = &hub;
    std::signal(SIGINT, stop_on_signal);
    std::signal(SIGTERM, stop_on_signal);
    const fda::zmq_hub_report report = hub.run();
    running = nullptr;
    return report.completed ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fda-hub: %s\n", e.what());
    return 1;
  }
}
