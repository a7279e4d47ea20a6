// SPDX-License-Identifier: Apache-2.0
// fda-keys: writes the CURVE key files of a run over fda's ZeroMQ transport (<fda/zmq/keys.hpp>):
// one pair for the hub, one per worker, and says who must receive which file.
// See `fda-keys --help`.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include <fda/zmq/keys.hpp>

#include "fda-train/cli.hpp"

namespace {

struct settings {
  std::string dir;
  std::size_t workers = 0;
  bool force = false;
};

constexpr std::size_t max_workers = 100000;  // as fda::write_run_keys
constexpr std::size_t listed_workers = 16;   // more are shown as a pattern, not one line each

void define_options(CLI::App& app, settings& s) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("dir", s.dir, "Directory to write the keys to (created with mode 0700 when new)")
      ->required()
      ->type_name("DIR");
  app.add_option("--workers,-k", s.workers, "Number of workers K: one key pair each, ranks 0 to K-1")
      ->required()
      ->transform(fda_train::number<std::size_t>(1, max_workers));
  app.add_flag("--force", s.force, "Replace key files that already exist (without it, nothing is written)");
  app.footer(
      "Writes hub.key, hub.pub, worker-<r>.key and worker-<r>.pub for r = 0 .. K-1. A .key file is a\n"
      "secret key (mode 0600; fda refuses to read one that group or others may access), a .pub file\n"
      "the matching public key (0644). Each is text: '#' comment lines and one 40-character Z85 key.\n"
      "The hub needs hub.key and every worker-*.pub; worker r needs worker-<r>.key, worker-<r>.pub\n"
      "and hub.pub. Copy each .key file only to its owner, over a private channel.\n"
      "Exit status: 0 written, 1 an error (a file exists, a directory cannot be written), 2 a bad\n"
      "command-line value.");
}

/// "worker-0.pub ... worker-(K-1).pub", or each one for a few workers.
std::string worker_files(std::size_t workers, bool secret) {
  const auto file = [&](std::size_t r) {
    return (secret ? fda::worker_secret_key_file({}, r) : fda::worker_public_key_file({}, r)).string();
  };
  if (workers > 3) return file(0) + " ... " + file(workers - 1);
  std::string list;
  for (std::size_t r = 0; r < workers; ++r) list += (r == 0 ? "" : ", ") + file(r);
  return list;
}

void report(const settings& s) {
  const std::filesystem::path dir = s.dir;
  const std::string hub_key = fda::hub_secret_key_file({}).string(), hub_pub = fda::hub_public_key_file({}).string();
  const std::string worker_pubs = worker_files(s.workers, false);
  std::printf("fda-keys: wrote %zu key files (%zu CURVE key pairs: the hub and %zu worker%s) to %s\n",
              2 * (s.workers + 1), s.workers + 1, s.workers, s.workers == 1 ? "" : "s", dir.c_str());
  std::printf("  secret (0600): %s, %s\n", hub_key.c_str(), worker_files(s.workers, true).c_str());
  std::printf("  public (0644): %s, %s\n", hub_pub.c_str(), worker_pubs.c_str());
  std::printf("Give out (a .key file only to its owner, over a private channel):\n");
  std::printf("  the hub:  %s and %s\n", hub_key.c_str(), worker_pubs.c_str());
  if (s.workers > listed_workers) {
    std::printf("  worker r: worker-<r>.key, worker-<r>.pub and %s\n", hub_pub.c_str());
    return;
  }
  for (std::size_t r = 0; r < s.workers; ++r)
    std::printf("  worker %zu: %s, %s and %s\n", r, fda::worker_secret_key_file({}, r).c_str(),
                fda::worker_public_key_file({}, r).c_str(), hub_pub.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fda-keys: writes the CURVE key pairs (hub and K workers) of a run over fda's ZeroMQ transport"};
  settings s;
  define_options(app, s);
  if (const auto status = fda_train::parse_or_exit(app, argc, argv, "fda-keys")) return *status;
  if (s.dir.empty()) {
    std::fprintf(stderr, "fda-keys: DIR is empty: name the directory to write the keys to\n");
    return 2;
  }
  try {
    fda::write_run_keys(s.dir, s.workers, s.force);
  } catch (const std::exception& e) {
    std::string_view what = e.what();
    if (what.starts_with("fda: ")) what.remove_prefix(5);  // "fda-keys: key file ...", not "fda-keys: fda: ..."
    std::fprintf(stderr, "fda-keys: %.*s\n", int(what.size()), what.data());
    return 1;
  }
  report(s);
  return 0;
}
