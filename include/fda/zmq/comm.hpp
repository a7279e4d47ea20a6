// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda::zmq_comm: one worker process's handle to a run coordinated by fda::zmq_hub over
/// ZeroMQ (opt-in: <fda/zmq.hpp>, CMake target fda::zmq).
///
///   fda::zmq_comm comm({.hub = "tcp://hub.example.org:5555", .rank = r, .workers = K,
///                       .keys = "keys", .identity = {.dim = d, .run = "linear theta=2 seed=1"}});
///   auto result = fda::train(comm, worker, fda::linear_fda{}, fda::mean{}, options);
///
/// Every collective is one request to the hub and one reply; the hub adds in rank order
/// with the in-process cluster's kernels, so a run over the hub equals fda::local_cluster
/// with the same K bit for bit. Security is on by default: the worker pins the hub's CURVE
/// public key (keys/hub.pub) and authenticates with its own pair (`keys/worker-<r>.key`,
/// .pub), which the hub's allow-list binds to rank r; plaintext only with `insecure`.
///
/// Failures: the hub pings a waiting worker every `heartbeat`; a worker that hears nothing
/// for `timeout` throws fda::transport_error naming the hub. A worker lost for good (the
/// hub's --on-worker-loss exclude) is announced before the first reply that leaves it out:
/// lost_workers() lists it, the same on every live worker, and fda::train then counts the
/// live workers only (docs/federated.md). An error on this worker alone is sent to the hub
/// (on_local_error), which ends the run or excludes this worker.
#include <zmq.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "../comm/average_stats.hpp"
#include "../comm/communicator.hpp"
#include "../comm/train.hpp"
#include "../detail/traverse.hpp"
#include "../error.hpp"
#include "../params.hpp"
#include "frame.hpp"
#include "keys.hpp"

namespace fda {

/// What every worker of a run must agree on, checked by the hub when a worker joins: a
/// worker whose identity differs from the first admitted worker's is refused.
struct zmq_identity {
  std::size_t dim = 0;          ///< d: the parameters each worker averages (bounds model frames)
  std::size_t param_bytes = 4;  ///< bytes per parameter: 4 (float) or 8 (double)
  /// The largest byte string one worker may send in a byte collective (its checkpoint part);
  /// a bigger one is an error naming this limit.
  std::uint64_t max_part_bytes = std::uint64_t(256) << 20;
  std::string run = {};  ///< the rest, compared byte for byte: policy, aggregator, seed, ... (≤ 4 KiB)
};

/// Settings of a worker's connection to the hub.
struct zmq_options {
  std::string hub = {};            ///< the hub's endpoint, "tcp://host:port"
  std::size_t rank = 0;            ///< this worker's rank r, 0 ≤ r < workers
  std::size_t workers = 0;         ///< K
  std::filesystem::path keys = {};  ///< holds hub.pub, `worker-<r>.key` and `worker-<r>.pub`
  bool insecure = false;           ///< plaintext, no authentication (the hub must say so too)
  zmq_identity identity = {};      ///< what the hub checks at join
  std::chrono::milliseconds heartbeat{1000};  ///< ZMTP heartbeat interval on the connection
  std::chrono::milliseconds timeout{5000};    ///< silence from the hub after which it counts as lost
  std::chrono::milliseconds join_timeout{60000};  ///< how long to wait for the hub to admit this worker
};

/// One worker's handle to a run coordinated by fda::zmq_hub; models fda::communicator.
class zmq_comm {
 public:
  /// Connects to the hub and joins the run; throws fda::invalid_argument for bad options or
  /// key files, fda::transport_error when the hub refuses this worker or does not answer.
  explicit zmq_comm(zmq_options options);
  zmq_comm(const zmq_comm&) = delete;
  zmq_comm& operator=(const zmq_comm&) = delete;
  /// Says goodbye to the hub (after a run that ended normally) and closes the connection.
  ~zmq_comm();

  /// This worker's rank.
  std::size_t rank() const { return options_.rank; }
  /// K, the workers of the run (lost ones included: ranks keep their numbers).
  std::size_t size() const { return options_.workers; }
  /// The settings it was made with.
  const zmq_options& options() const { return options_; }
  /// Bytes this worker has sent to the hub, frame headers included (not CURVE's overhead).
  std::uint64_t bytes_sent() const { return bytes_sent_; }

  /// Waits for every live worker.
  void barrier() { exchange(zmq_op::barrier, 0, 0.0, 0.0, ""); }

  /// values ← Σ_k values_k over the live workers, in rank order (the hub adds).
  void all_reduce_sum(std::span<double> values) {
    if (size() == 1 || values.empty()) return;
    std::string frame = request(zmq_op::sum, 0, 0.0, 0.0, values.size_bytes());
    std::memcpy(frame.data() + zmq_header_bytes, values.data(), values.size_bytes());
    const zmq_frame reply = send_and_wait(std::move(frame));
    if (reply.payload.size() != values.size_bytes())
      throw transport_error(detail::concat("fda::zmq_comm: worker ", rank(), " sent ", values.size(),
                                           " values to a sum but the hub answered ", reply.payload.size() / 8,
                                           ": the workers passed different sizes"));
    std::memcpy(values.data(), reply.payload.data(), values.size_bytes());
  }

  /// out ← the live workers' models combined by `rule` (weighted mean, or an order
  /// statistic), computed by the hub in rank order as the in-process cluster does.
  template <class T, class U>
  average_stats average(const param_view<const T>& mine, double weight, std::span<U> out, combine_rule rule = {}) {
    if (mine.size() != out.size())
      detail::fail("fda::zmq_comm::average: worker ", rank(), " has ", mine.size(), " parameters but the average has ",
                   out.size());
    if (!(weight >= 0.0 && std::isfinite(weight)))
      detail::fail("fda::zmq_comm::average: worker ", rank(), " has weight ", weight, ": it must be finite and >= 0");
    std::string frame = request(zmq_op::average, zmq_average_sizes(sizeof(T), sizeof(U)), weight, rule.trim,
                                mine.size() * sizeof(T));
    char* at = frame.data() + zmq_header_bytes;
    for (const auto& s : mine.segments()) {
      std::memcpy(at, s.data(), s.size_bytes());
      at += s.size_bytes();
    }
    const zmq_frame reply = send_and_wait(std::move(frame));
    if (reply.payload.size() != out.size_bytes())
      throw transport_error(detail::concat("fda::zmq_comm::average: worker ", rank(), " expects ", out.size_bytes(),
                                           " bytes of average but the hub sent ", reply.payload.size()));
    std::memcpy(out.data(), reply.payload.data(), out.size_bytes());
    return {(reply.header.flags & 1u) != 0, reply.header.value, std::size_t(reply.header.aux)};
  }

  /// out ← rank 0's `mine`.
  template <class T, class U>
  void broadcast(const param_view<const T>& mine, std::span<U> out) {
    if (rank() == 0) detail::for_each_element([](auto a, auto& b) { b = U(a); }, mine, fda::view(out));
    std::string frame = request(zmq_op::broadcast, 0, 0.0, 0.0, rank() == 0 ? out.size_bytes() : 0);
    if (rank() == 0) std::memcpy(frame.data() + zmq_header_bytes, out.data(), out.size_bytes());
    const zmq_frame reply = send_and_wait(std::move(frame));
    if (rank() == 0) return;
    if (reply.payload.size() != out.size_bytes())
      throw transport_error(detail::concat("fda::zmq_comm::broadcast: worker ", rank(), " expects ", out.size_bytes(),
                                           " bytes but rank 0 sent ", reply.payload.size()));
    std::memcpy(out.data(), reply.payload.data(), out.size_bytes());
  }

  /// Each process holds its own replica of the run's shared state: f runs here.
  template <class F>
  void serial(F&& f) {
    f();
  }

  /// Runs f() -> bool on rank 0 only (the callbacks); every worker gets its value.
  template <class F>
  bool root_says(F&& f) {
    std::string said;
    if (rank() == 0) said = f() ? "1" : "0";
    broadcast_bytes(said);
    return said == "1";
  }

  /// Rank 0 gets every worker's `mine` in rank order (a lost worker's is empty); the others get nothing.
  std::vector<std::string> gather_bytes(std::string mine) {
    check_part("gather_bytes", mine.size());
    const zmq_frame reply = exchange(zmq_op::gather, 0, 0.0, 0.0, mine);
    std::vector<std::string> all;
    if (rank() != 0) return all;
    std::size_t at = 0;
    const auto* p = reinterpret_cast<const char*>(reply.payload.data());
    const std::size_t total = reply.payload.size();
    for (std::size_t r = 0; r < size(); ++r) {  // each part: its size (8 bytes), then its bytes
      std::uint64_t n = 0;
      if (total - at < 8) throw transport_error("fda::zmq_comm::gather_bytes: the hub's reply is truncated");
      std::memcpy(&n, p + at, 8);
      if (total - at - 8 < n) throw transport_error("fda::zmq_comm::gather_bytes: the hub's reply is truncated");
      all.emplace_back(p + at + 8, std::size_t(n));
      at += 8 + std::size_t(n);
    }
    return all;
  }

  /// Each worker gets its element of rank 0's `all` (all.size() == size() on rank 0).
  std::string scatter_bytes(const std::vector<std::string>& all) {
    std::string payload;
    if (rank() == 0) {
      if (all.size() != size()) detail::fail("fda::zmq_comm::scatter_bytes: ", all.size(), " strings for ", size(), " workers");
      payload.resize(8 * size());
      for (std::size_t r = 0; r < size(); ++r) {
        check_part("scatter_bytes", all[r].size());
        const std::uint64_t n = all[r].size();
        std::memcpy(payload.data() + 8 * r, &n, 8);
      }
      for (const auto& s : all) payload += s;
    }
    const zmq_frame reply = exchange(zmq_op::scatter, 0, 0.0, 0.0, payload);
    return std::string(reinterpret_cast<const char*>(reply.payload.data()), reply.payload.size());
  }

  /// s ← rank 0's s.
  void broadcast_bytes(std::string& s) {
    if (rank() == 0) check_part("broadcast_bytes", s.size());
    const zmq_frame reply = exchange(zmq_op::broadcast, 0, 0.0, 0.0, rank() == 0 ? std::string_view(s) : "");
    if (rank() != 0) s.assign(reinterpret_cast<const char*>(reply.payload.data()), reply.payload.size());
  }

  /// Every worker's bytes_sent(), in rank order (a collective; a lost worker's is 0).
  std::vector<std::uint64_t> bytes_sent_per_rank() {
    std::vector<double> all(size(), 0.0);
    all[rank()] = double(bytes_sent_);
    all_reduce_sum(all);
    return std::vector<std::uint64_t>(all.begin(), all.end());
  }

  /// The workers lost for good so far, in the order the hub announced them: the same list on
  /// every live worker after each collective (the membership hook of fda::communicator).
  const std::vector<lost_worker>& lost_workers() const { return lost_; }

  /// fda::train tells the transport the step it is at; the hub names it in its messages.
  void at_step(std::size_t step) { step_ = step; }

  /// An error on this worker alone: the hub hears of it (and ends the run, or excludes this
  /// worker); then the error propagates.
  void on_local_error(const char* what) {
    if (aborted_) return;
    aborted_ = true;
    if (hub_gone_) return;  // (nobody to tell)
    zmq_header h;
    h.op = zmq_op::abort;
    h.rank = std::uint32_t(rank());
    h.step = step_;
    send(encode_frame(h, std::string_view(what).substr(0, zmq_max_text_bytes)));
  }

 private:
  std::string request(zmq_op op, std::uint64_t aux, double value, double value2, std::size_t payload_bytes) {
    zmq_header h;
    h.op = op;
    h.rank = std::uint32_t(rank());
    h.seq = seq_++;
    h.step = step_;
    h.aux = aux;
    h.value = value;
    h.value2 = value2;
    return encode_frame(h, payload_bytes);
  }

  zmq_frame exchange(zmq_op op, std::uint64_t aux, double value, double value2, std::string_view payload) {
    std::string frame = request(op, aux, value, value2, payload.size());
    std::memcpy(frame.data() + zmq_header_bytes, payload.data(), payload.size());
    return send_and_wait(std::move(frame));
  }

  void check_part(const char* what, std::size_t n) const {
    if (n > options_.identity.max_part_bytes)
      detail::fail("fda::zmq_comm::", what, ": worker ", rank(), " has ", n, " bytes to send, more than the run's limit of ",
                   options_.identity.max_part_bytes, " (zmq_identity::max_part_bytes; fda-train: --max-part-mb)");
  }

  void send(std::string frame) {
    bytes_sent_ += frame.size();
    socket_.send(zmq::buffer(frame), zmq::send_flags::none);
  }

  zmq_frame send_and_wait(std::string frame);
  zmq_frame wait_for(zmq_op op, std::uint64_t seq, std::chrono::milliseconds patience);
  void join();
  [[noreturn]] void handshake_failed();
  void configure_security();
  [[noreturn]] void hub_silent(std::chrono::milliseconds patience);

  zmq_options options_;
  zmq_limits limits_;
  zmq::context_t context_{1};
  zmq::socket_t socket_{context_, zmq::socket_type::dealer};
  zmq::socket_t monitor_{context_, zmq::socket_type::pair};  // handshake events while joining
  zmq::message_t reply_;  // the last reply: frames returned to callers point into it
  std::vector<lost_worker> lost_;
  std::uint64_t seq_ = 0, bytes_sent_ = 0;
  std::size_t step_ = 0;
  bool aborted_ = false;   // no goodbye: the run failed here, or the hub ended it
  bool hub_gone_ = false;  // the hub fell silent: nothing more is sent to it
};

inline zmq_comm::zmq_comm(zmq_options options) : options_(std::move(options)) {
  const auto& o = options_;
  if (o.workers == 0) detail::fail("fda::zmq_comm: workers = 0 is invalid: a run needs at least one worker");
  if (o.rank >= o.workers) detail::fail("fda::zmq_comm: rank ", o.rank, " is out of range for ", o.workers, " workers");
  if (o.hub.empty()) detail::fail("fda::zmq_comm: no hub endpoint (e.g. tcp://127.0.0.1:5555)");
  if (o.identity.dim == 0) detail::fail("fda::zmq_comm: identity.dim = 0: set it to the model's number of parameters");
  if (o.identity.param_bytes != 4 && o.identity.param_bytes != 8)
    detail::fail("fda::zmq_comm: identity.param_bytes = ", o.identity.param_bytes, ": parameters are 4 (float) or 8 (double) bytes");
  if (o.identity.run.size() > zmq_max_text_bytes)
    detail::fail("fda::zmq_comm: identity.run has ", o.identity.run.size(), " bytes; at most ", zmq_max_text_bytes);
  if (o.identity.max_part_bytes > (std::uint64_t(1) << 40))
    detail::fail("fda::zmq_comm: identity.max_part_bytes = ", o.identity.max_part_bytes, " exceeds 1 TiB");
  if (o.heartbeat.count() <= 0 || o.timeout <= o.heartbeat)
    detail::fail("fda::zmq_comm: heartbeat = ", o.heartbeat.count(), " ms and timeout = ", o.timeout.count(),
                 " ms: both must be > 0 and the timeout longer than the heartbeat");
  limits_ = {o.workers, o.identity.dim, o.identity.param_bytes, o.identity.max_part_bytes};
  const std::uint64_t largest = std::max<std::uint64_t>(8 * o.identity.dim, o.workers * (8 + o.identity.max_part_bytes));
  socket_.set(zmq::sockopt::maxmsgsize, std::int64_t(zmq_header_bytes + largest));
  socket_.set(zmq::sockopt::linger, 2000);  // lets a last abort or bye reach the hub
  socket_.set(zmq::sockopt::heartbeat_ivl, int(o.heartbeat.count()));
  socket_.set(zmq::sockopt::heartbeat_timeout, int(o.timeout.count()));
  socket_.set(zmq::sockopt::heartbeat_ttl, int(o.timeout.count()));
  configure_security();
  // (The monitor must exist before the connection, to see its handshake.)
  const std::string watch = detail::concat("inproc://fda-zmq-comm-join-", static_cast<const void*>(this));
  zmq_socket_monitor(socket_.handle(), watch.c_str(),
                     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
  monitor_.connect(watch);
  socket_.connect(o.hub);
  join();
}

inline zmq_comm::~zmq_comm() {
  if (aborted_) return;
  try {
    zmq_header h;
    h.op = zmq_op::bye;
    h.rank = std::uint32_t(rank());
    h.step = step_;
    send(encode_frame(h, std::size_t(0)));
  } catch (...) {  // (nothing to do about a hub that is gone)
  }
}

inline void zmq_comm::configure_security() {
  if (options_.insecure) {
    std::fprintf(stderr, "fda: WARNING: worker %zu talks to the hub in plaintext, unauthenticated (--insecure): anyone "
                         "on the network can read and alter the run\n", rank());
    return;
  }
  if (!curve_available())
    detail::fail("fda::zmq_comm: this libzmq has no CURVE (built without libsodium): install Debian's libzmq5, or run "
                 "both sides with --insecure on a network you trust");
  if (options_.keys.empty()) detail::fail("fda::zmq_comm: no key directory (fda-keys DIR writes one); or --insecure");
  const std::string secret = read_secret_key(worker_secret_key_file(options_.keys, rank()));
  const std::string pub = read_public_key(worker_public_key_file(options_.keys, rank()));
  if (public_key_of(secret) != pub)
    detail::fail("fda::zmq_comm: ", worker_secret_key_file(options_.keys, rank()).string(), " and ",
                 worker_public_key_file(options_.keys, rank()).string(), " are not a pair");
  socket_.set(zmq::sockopt::curve_serverkey, read_public_key(hub_public_key_file(options_.keys)));
  socket_.set(zmq::sockopt::curve_publickey, pub);
  socket_.set(zmq::sockopt::curve_secretkey, secret);
}

/// Says hello and waits for the hub's welcome or refusal. A CURVE handshake that fails
/// (a key the hub does not know, a hub key that is not the hub's, --insecure on one side
/// only) never reaches the hub's code: a socket monitor reports it, so the error says which.
inline void zmq_comm::join() {
  zmq_header h;
  h.op = zmq_op::hello;
  h.rank = std::uint32_t(rank());
  h.flags = std::uint32_t(options_.identity.param_bytes);
  h.aux = options_.identity.dim;
  h.value = double(options_.identity.max_part_bytes);
  h.value2 = double(options_.workers);
  send(encode_frame(h, options_.identity.run));
  zmq::pollitem_t items[2] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}, {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
  const auto deadline = std::chrono::steady_clock::now() + options_.join_timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || zmq::poll(items, 2, left) == 0)
      throw transport_error(detail::concat(
          "fda::zmq_comm: worker ", rank(), " was not admitted by the hub at ", options_.hub, " within ",
          options_.join_timeout.count(), " ms: is fda-hub running there, and ",
          options_.insecure ? "with --insecure?" : "without --insecure?"));
    if (items[1].revents & ZMQ_POLLIN) handshake_failed();
    if (items[0].revents & ZMQ_POLLIN) break;
  }
  (void)wait_for(zmq_op::welcome, 0, options_.timeout);
  zmq_socket_monitor(socket_.handle(), nullptr, 0);  // (joined: no more handshakes to watch)
  monitor_.close();
}

/// A handshake event from the monitor: the hub refused this worker's key, or the two
/// sides disagree on security.
inline void zmq_comm::handshake_failed() {
  zmq::message_t event, address;
  (void)monitor_.recv(event, zmq::recv_flags::none);
  if (event.more()) (void)monitor_.recv(address, zmq::recv_flags::none);
  std::uint16_t id = 0;
  if (event.size() >= 2) std::memcpy(&id, event.data(), 2);
  const std::string who = detail::concat("fda::zmq_comm: worker ", rank(), " could not join the hub at ", options_.hub, ": ");
  if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
    throw transport_error(who + "the hub refused this worker's key (its allow-list has no such key for this rank: "
                                "give the hub this worker's .pub from the same fda-keys run)");
  throw transport_error(who + (options_.insecure
                                   ? "the handshake failed: the hub requires CURVE encryption (this worker runs --insecure)"
                                   : "the CURVE handshake failed: the hub runs --insecure, or " +
                                         hub_public_key_file(options_.keys).string() + " is not this hub's key"));
}

inline zmq_frame zmq_comm::send_and_wait(std::string frame) {
  const std::uint64_t seq = seq_ - 1;
  const auto op = zmq_op(std::uint16_t(frame[6]) | std::uint16_t(std::uint8_t(frame[7])) << 8);
  send(std::move(frame));
  return wait_for(op, seq, options_.timeout);
}

/// The hub's reply to request `seq` of kind `op`: pings reset the patience, lost workers
/// are recorded, an abort or a malformed frame ends this worker with the hub's words.
inline zmq_frame zmq_comm::wait_for(zmq_op op, std::uint64_t seq, std::chrono::milliseconds patience) {
  for (;;) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, patience) == 0) hub_silent(patience);
    reply_.rebuild();
    (void)socket_.recv(reply_, zmq::recv_flags::none);
    const std::span<const std::byte> bytes(static_cast<const std::byte*>(reply_.data()), reply_.size());
    zmq_frame f = decode_frame(bytes, limits_, false);
    if (!f)
      throw transport_error(detail::concat("fda::zmq_comm: worker ", rank(), " got a malformed frame from the hub at ",
                                           options_.hub, ": ", f.error));
    switch (f.header.op) {
      case zmq_op::ping:
        continue;
      case zmq_op::lost:
        lost_.push_back({f.header.rank, std::size_t(f.header.step), frame_text(f)});
        continue;
      case zmq_op::abort:
        aborted_ = true;
        if (f.header.aux == 1)  // an error the hub found in what every worker sent (sizes, weights)
          throw detail::everywhere<invalid_argument>(frame_text(f));
        throw detail::everywhere<transport_error>(detail::concat("fda: the hub ended the run: ", frame_text(f)));
      case zmq_op::refused:
        aborted_ = true;
        throw transport_error(detail::concat("fda::zmq_comm: the hub at ", options_.hub, " refused worker ", rank(), ": ",
                                             frame_text(f)));
      default:
        break;
    }
    if (f.header.op != op || (op != zmq_op::welcome && f.header.seq != seq))
      throw transport_error(detail::concat("fda::zmq_comm: worker ", rank(), " waited for the hub's ", zmq_op_name(std::uint16_t(op)),
                                           " reply #", seq, " but got ", zmq_op_name(std::uint16_t(f.header.op)), " #",
                                           f.header.seq));
    return f;
  }
}

inline void zmq_comm::hub_silent(std::chrono::milliseconds patience) {
  hub_gone_ = true;
  socket_.set(zmq::sockopt::linger, 0);  // (what is queued for the hub would keep this process waiting)
  throw transport_error(detail::concat("fda::zmq_comm: worker ", rank(), " at step ", step_, " heard nothing from the hub at ",
                                       options_.hub, " for ", patience.count(),
                                       " ms (no reply, no heartbeat): the hub is gone or unreachable"));
}

}  // namespace fda
