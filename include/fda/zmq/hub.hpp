// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda::zmq_hub: the coordinator of a run over ZeroMQ (the program fda-hub runs one). It
/// admits K workers (fda::zmq_comm), runs their collectives — sums, averages with the
/// aggregator's combine rule, broadcasts, byte gathers and scatters — in rank order with
/// the in-process cluster's kernels (share_averager, share by share), so that a run over
/// the hub equals fda::local_cluster bit for bit. It holds no model and no training code:
/// what a worker sends is checked against the run's identity (the first admitted worker's),
/// never trusted.
///
/// Admission: with CURVE (the default) a ZAP handler admits only the allow-listed keys
/// (`keys/worker-<r>.pub`), each bound to its rank; an unknown key, a rank out of range or
/// already taken, an identity that differs (K, d, parameter size, the run's description,
/// the wire version) is refused and logged with the peer's address, and the run goes on.
///
/// Loss: libzmq's heartbeats close a silent connection after `timeout`; a closed connection
/// of a worker that has not said goodbye is a lost worker: with zmq_worker_loss::fail every
/// other worker is told (the run ends, non-zero everywhere), with exclude the worker is left
/// out from the next collective on, announced to the others first (zmq_comm::lost_workers).
/// A worker that breaks the protocol (a malformed frame, a collective out of turn) is lost
/// the same way. Rank 0 (the callbacks, the reports) cannot be excluded: its loss ends the run.
#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "../aggregate/combine_rule.hpp"
#include "../comm/average_stats.hpp"
#include "../detail/average_share.hpp"
#include "../error.hpp"
#include "frame.hpp"
#include "keys.hpp"

namespace fda {

/// What the hub does when a worker is lost.
enum class zmq_worker_loss {
  fail,     ///< the run ends: every worker and the hub exit non-zero, naming the lost rank
  exclude,  ///< the run goes on without it (rank 0 excepted)
};

/// Settings of a hub.
struct zmq_hub_options {
  std::string bind = {};            ///< where workers connect, "tcp://ADDR:PORT" (port * : any free one)
  std::size_t workers = 0;          ///< K
  std::filesystem::path keys = {};  ///< holds hub.key and every `worker-<r>.pub`
  bool insecure = false;            ///< plaintext, no authentication (the workers must say so too)
  zmq_worker_loss on_worker_loss = zmq_worker_loss::fail;  ///< fail or exclude
  std::chrono::milliseconds heartbeat{1000};  ///< pings to waiting workers, ZMTP heartbeats
  std::chrono::milliseconds timeout{5000};    ///< a connection silent this long is closed (lost)
  std::uint64_t max_message_bytes = std::uint64_t(1) << 30;  ///< libzmq refuses longer messages before allocating
  std::function<void(const std::string&)> log = {};  ///< where the hub's log lines go (default: std::cerr)
};

/// How a hub's run ended.
struct zmq_hub_report {
  bool completed = false;              ///< every live worker said goodbye
  std::string error = {};              ///< why the run ended otherwise
  std::vector<std::size_t> lost = {};  ///< workers lost (exclude), in order
  std::uint64_t collectives = 0;       ///< collectives run
  std::uint64_t refused = 0;           ///< peers, hellos and frames refused
  std::uint64_t bytes_received = 0;    ///< frame bytes received from workers
  std::uint64_t bytes_sent = 0;        ///< frame bytes sent to workers
};

/// The coordinator of one run (see the header comment).
class zmq_hub {
 public:
  /// Checks the options, loads the keys, starts the ZAP handler and binds.
  explicit zmq_hub(zmq_hub_options options);
  zmq_hub(const zmq_hub&) = delete;
  zmq_hub& operator=(const zmq_hub&) = delete;
  /// Stops the ZAP handler.
  ~zmq_hub();

  /// The endpoint it listens on (the port chosen, when the bind asked for *).
  std::string endpoint() const { return router_.get(zmq::sockopt::last_endpoint); }

  /// Runs the run to its end: every worker's goodbye, or an error that ends it (a worker lost
  /// under fail, a protocol error of rank 0). Never throws for what peers send.
  zmq_hub_report run();

  /// Asks run() to end (from another thread or a signal handler): the workers are told.
  void stop() { stop_requested_ = true; }

 private:
  struct member {                       // an admitted worker
    std::string routing_id, address;
    int fd = -1;
    std::uint64_t last_step = 0;
    bool finished = false, lost = false;
    std::string why;                    // why it was lost
    std::optional<std::chrono::steady_clock::time_point> closed_at;  // its connection closed
  };
  struct pending {                      // a worker's request for the current collective
    zmq::message_t msg;
    zmq_frame frame;
  };

  void say(const std::string& line);
  void zap_loop();
  bool zap_answer(zmq::socket_t& zap);
  void on_message(zmq::message_t& id, zmq::message_t& body);
  void on_hello(const std::string& id, const zmq_frame& f, const std::string& address, const std::string& user, int fd);
  void on_request(std::size_t r, zmq::message_t&& body, zmq_frame f);
  void on_monitor_event();
  void lose_closed();
  void end_if_done();
  void lose(std::size_t r, const std::string& why);
  void end_run(const std::string& why, std::uint64_t kind = 0);
  void complete_round();
  void reply_sum();
  void reply_average();
  template <class T, class U>
  average_stats average_as(std::string& out, double trim);
  void reply_root(zmq_op op);
  void send_to(std::size_t r, const std::string& frame);
  void send_frame(const std::string& routing_id, const std::string& frame);
  void send_to_all(const std::string& frame, std::size_t from_rank = 0);
  std::span<const std::byte> payload_of(std::size_t r) const { return round_[r]->frame.payload; }
  zmq_header reply_header(zmq_op op) const;
  void ping_waiting();
  bool all_arrived() const;
  std::size_t live() const;
  std::optional<std::size_t> rank_of(const std::string& routing_id) const;
  std::string who(std::size_t r) const;

  zmq_hub_options options_;
  zmq::context_t context_{1};
  zmq::socket_t router_{context_, zmq::socket_type::router};
  zmq::socket_t monitor_{context_, zmq::socket_type::pair};
  std::vector<std::string> allowed_;   // the workers' public keys (Z85), by rank
  std::thread zap_thread_;
  std::mutex log_mutex_;
  std::atomic<bool> stop_requested_{false};  // (lock-free: safe to set from a signal handler)
  std::atomic<std::uint64_t> zap_refused_{0};  // keys the ZAP handler refused (its thread)
  bool zap_stop_ = false;
  std::mutex zap_mutex_;

  zmq_limits limits_;
  std::optional<std::string> identity_;  // the first admitted worker's hello payload and fields
  std::uint64_t identity_aux_ = 0, identity_flags_ = 0;
  double identity_part_ = 0.0;
  std::vector<std::optional<member>> members_;
  std::unordered_map<std::string, std::size_t> ranks_;  // routing id → rank, of the admitted
  std::size_t admitted_ = 0, lost_count_ = 0, arrived_ = 0;  // arrived_: requests of live workers this round
  std::vector<std::optional<pending>> round_;
  std::vector<std::size_t> unannounced_;  // lost, not yet told to the others
  std::map<std::string, bool> ignored_;    // peers refused: their frames are dropped
  std::uint64_t seq_ = 0;
  zmq_hub_report report_;
  bool over_ = false;
};

inline zmq_hub::zmq_hub(zmq_hub_options options) : options_(std::move(options)) {
  auto& o = options_;
  if (o.workers == 0 || o.workers > 100000) detail::fail("fda::zmq_hub: workers = ", o.workers, " is invalid: 1 to 100000");
  if (o.heartbeat.count() <= 0 || o.timeout <= o.heartbeat)
    detail::fail("fda::zmq_hub: heartbeat = ", o.heartbeat.count(), " ms and timeout = ", o.timeout.count(),
                 " ms: both must be > 0 and the timeout longer than the heartbeat");
  if (o.max_message_bytes < zmq_header_bytes + zmq_max_text_bytes)
    detail::fail("fda::zmq_hub: max_message_bytes = ", o.max_message_bytes, " is too small for a hello");
  members_.resize(o.workers);
  round_.resize(o.workers);
  limits_.workers = o.workers;
  router_.set(zmq::sockopt::router_mandatory, 1);  // a send to a vanished worker fails instead of vanishing
  router_.set(zmq::sockopt::maxmsgsize, std::int64_t(o.max_message_bytes));
  router_.set(zmq::sockopt::linger, 2000);
  router_.set(zmq::sockopt::heartbeat_ivl, int(o.heartbeat.count()));
  router_.set(zmq::sockopt::heartbeat_timeout, int(o.timeout.count()));
  router_.set(zmq::sockopt::heartbeat_ttl, int(o.timeout.count()));
  if (o.insecure) {
    say("fda-hub: WARNING: plaintext and unauthenticated (--insecure): anyone who reaches " + o.bind +
        " can read the models, alter them and join the run");
  } else {
    if (!curve_available())
      detail::fail("fda::zmq_hub: this libzmq has no CURVE (built without libsodium): install Debian's libzmq5, or run "
                   "with --insecure on a network you trust");
    if (o.keys.empty()) detail::fail("fda::zmq_hub: no key directory (fda-keys DIR writes one); or --insecure");
    const std::string secret = read_secret_key(hub_secret_key_file(o.keys));
    allowed_ = read_worker_public_keys(o.keys, o.workers);
    // The ZAP handler must be bound before the first handshake.
    zmq::socket_t zap(context_, zmq::socket_type::rep);
    zap.bind("inproc://zeromq.zap.01");
    zap_thread_ = std::thread([this, z = std::move(zap)]() mutable {
      zmq::socket_t socket = std::move(z);
      for (;;) {
        {
          std::lock_guard lock(zap_mutex_);
          if (zap_stop_) break;
        }
        zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) > 0) zap_answer(socket);
      }
    });
    router_.set(zmq::sockopt::curve_server, 1);
    router_.set(zmq::sockopt::curve_secretkey, secret);
    router_.set(zmq::sockopt::zap_domain, "fda");
  }
  const std::string watch = detail::concat("inproc://fda-zmq-hub-", static_cast<const void*>(this));
  zmq_socket_monitor(router_.handle(), watch.c_str(), ZMQ_EVENT_DISCONNECTED);
  monitor_.connect(watch);
  router_.bind(o.bind);
}

inline zmq_hub::~zmq_hub() {
  {
    std::lock_guard lock(zap_mutex_);
    zap_stop_ = true;
  }
  if (zap_thread_.joinable()) zap_thread_.join();
}

inline void zmq_hub::say(const std::string& line) {
  std::lock_guard lock(log_mutex_);
  if (options_.log)
    options_.log(line);
  else
    std::cerr << line << std::endl;
}

/// One ZAP request (RFC 27): admits a CURVE key on the allow-list, with its rank as the
/// User-Id that the hub reads from the worker's messages; refuses and logs any other.
inline bool zmq_hub::zap_answer(zmq::socket_t& zap) {
  std::vector<zmq::message_t> parts;
  for (bool more = true; more && parts.size() < 16;) {
    zmq::message_t m;
    if (!zap.recv(m, zmq::recv_flags::none)) return false;
    more = m.more();
    parts.push_back(std::move(m));
  }
  auto text = [&](std::size_t i) { return i < parts.size() ? parts[i].to_string() : std::string(); };
  std::string status = "400", reason = "unknown key", user;
  const std::string address = text(3), mechanism = text(5);
  if (mechanism == "CURVE" && parts.size() >= 7 && parts[6].size() == 32) {
    char z85[41] = {};
    zmq_z85_encode(z85, static_cast<const std::uint8_t*>(parts[6].data()), 32);
    const auto it = std::find(allowed_.begin(), allowed_.end(), std::string(z85));
    if (it != allowed_.end()) {
      status = "200", reason = "OK", user = std::to_string(it - allowed_.begin());
    } else {
      say("fda-hub: refused a connection from " + address + ": its CURVE key " + z85 +
          " is not on the allow-list (the worker-<r>.pub files of " + options_.keys.string() + ")");
      ++zap_refused_;
    }
  } else {
    say("fda-hub: refused a connection from " + address + ": mechanism " + mechanism + ", not CURVE");
  }
  const std::string reply[6] = {"1.0", text(1), status, reason, user, ""};
  for (int i = 0; i < 6; ++i) zap.send(zmq::buffer(reply[i]), i < 5 ? zmq::send_flags::sndmore : zmq::send_flags::none);
  return true;
}

inline zmq_hub_report zmq_hub::run() {
  say(detail::concat("fda-hub: listening on ", endpoint(), " for ", options_.workers, " workers",
                     options_.insecure ? " (INSECURE: plaintext)" : " (CURVE)", ", on worker loss: ",
                     options_.on_worker_loss == zmq_worker_loss::fail ? "fail" : "exclude"));
  auto last_ping = std::chrono::steady_clock::now();
  while (!over_) {
    if (stop_requested_) {
      end_run("the hub was stopped (signal)");
      break;
    }
    zmq::pollitem_t items[2] = {{router_.handle(), 0, ZMQ_POLLIN, 0}, {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, options_.heartbeat);
    if (items[1].revents & ZMQ_POLLIN) on_monitor_event();
    if (items[0].revents & ZMQ_POLLIN) {
      zmq::message_t id, body;
      (void)router_.recv(id, zmq::recv_flags::none);
      if (id.more()) (void)router_.recv(body, zmq::recv_flags::none);
      while (body.more()) {  // (a worker sends one part: more is a peer that does not speak fda)
        zmq::message_t rest;
        (void)router_.recv(rest, zmq::recv_flags::none);
        body.rebuild(0);
        if (!rest.more()) break;
      }
      on_message(id, body);
    }
    lose_closed();
    if (std::chrono::steady_clock::now() - last_ping >= options_.heartbeat) {
      ping_waiting();
      last_ping = std::chrono::steady_clock::now();
    }
  }
  report_.refused += zap_refused_.exchange(0);
  return report_;
}

namespace detail {
/// A message's metadata property (libzmq's: Peer-Address, User-Id), or `otherwise`.
inline std::string zmq_property(zmq::message_t& msg, const char* name, const char* otherwise) {
  const char* value = zmq_msg_gets(msg.handle(), name);
  return value ? value : otherwise;
}
}  // namespace detail

inline void zmq_hub::on_message(zmq::message_t& id, zmq::message_t& body) {
  const std::string routing_id = id.to_string();
  if (ignored_.count(routing_id)) return;
  report_.bytes_received += body.size();
  const std::span<const std::byte> bytes(static_cast<const std::byte*>(body.data()), body.size());
  zmq_frame f = decode_frame(bytes, limits_, true);
  const std::optional<std::size_t> r = rank_of(routing_id);
  const std::string address = detail::zmq_property(body, "Peer-Address", "unknown address");
  if (!f) {
    ++report_.refused;
    if (r) return lose(*r, "sent a malformed frame: " + f.error);
    say("fda-hub: dropped a frame from " + address + " (not an admitted worker): " + f.error);
    send_frame(routing_id, encode_frame(reply_header(zmq_op::refused), f.error));  // (a worker of another version, K, ...)
    ignored_[routing_id] = true;
    return;
  }
  if (f.header.op == zmq_op::hello) {
    const std::string user = options_.insecure ? std::string() : detail::zmq_property(body, "User-Id", "");
    return on_hello(routing_id, f, address, user, zmq_msg_get(body.handle(), ZMQ_SRCFD));
  }
  if (!r) {
    ++report_.refused;
    say(detail::concat("fda-hub: dropped a ", zmq_op_name(std::uint16_t(f.header.op)), " frame from ", address,
                       ": it has not joined"));
    ignored_[routing_id] = true;
    return;
  }
  member& m = *members_[*r];
  m.last_step = f.header.step;
  if (f.header.rank != *r) return lose(*r, detail::concat("sent a frame as rank ", f.header.rank));
  switch (f.header.op) {
    case zmq_op::bye:
      m.finished = true;
      return end_if_done();
    case zmq_op::abort:
      return lose(*r, "failed: " + frame_text(f));
    case zmq_op::barrier:
    case zmq_op::sum:
    case zmq_op::average:
    case zmq_op::broadcast:
    case zmq_op::gather:
    case zmq_op::scatter:
      return on_request(*r, std::move(body), std::move(f));
    default:
      return lose(*r, detail::concat("sent a ", zmq_op_name(std::uint16_t(f.header.op)), " frame, which only the hub sends"));
  }
}

/// Admits a worker, or refuses it (logged; the run goes on).
inline void zmq_hub::on_hello(const std::string& id, const zmq_frame& f, const std::string& address,
                              const std::string& user, int fd) {
  const std::size_t r = f.header.rank;
  auto refuse = [&](const std::string& why) {
    ++report_.refused;
    say(detail::concat("fda-hub: refused a worker from ", address, " claiming rank ", r, ": ", why));
    zmq_header h = reply_header(zmq_op::refused);
    send_frame(id, encode_frame(h, why));
  };
  if (rank_of(id)) return refuse("this connection has joined already");
  if (!options_.insecure && user != std::to_string(r))
    return refuse(detail::concat("its key is worker ", user, "'s, not rank ", r, "'s"));
  if (f.header.value2 != double(options_.workers))
    return refuse(detail::concat("it belongs to a run of ", f.header.value2, " workers; this hub runs ", options_.workers));
  if (members_[r]) {
    const member& m = *members_[r];
    return refuse(m.lost ? detail::concat("rank ", r, " was lost at step ", m.last_step, " and cannot rejoin this run")
                         : detail::concat("rank ", r, " is already taken by the worker at ", m.address));
  }
  const std::string run = frame_text(f);
  if (!identity_) {  // (the first worker sets the run's bounds: check them before trusting them)
    const double part = f.header.value;
    if (f.header.aux == 0) return refuse("its model has d = 0 parameters");
    if (f.header.flags != 4 && f.header.flags != 8)
      return refuse(detail::concat("its parameters have ", f.header.flags, " bytes: 4 or 8"));
    if (f.header.aux > (options_.max_message_bytes - zmq_header_bytes) / 8)
      return refuse(detail::concat("d = ", f.header.aux, " parameters need messages of up to ", 8 * f.header.aux,
                                   " bytes, more than this hub accepts (--max-message-mb)"));
    if (!(part >= 0.0 && part <= double(options_.max_message_bytes)))
      return refuse(detail::concat("its checkpoint part limit of ", part, " bytes is not within the hub's message limit"));
    identity_ = run, identity_aux_ = f.header.aux, identity_flags_ = f.header.flags, identity_part_ = f.header.value;
    limits_.dim = f.header.aux, limits_.param_bytes = f.header.flags, limits_.max_part_bytes = std::uint64_t(f.header.value);
    say(detail::concat("fda-hub: the run: d = ", limits_.dim, " parameters of ", limits_.param_bytes, " bytes, ", run));
  } else if (run != *identity_ || f.header.aux != identity_aux_ || f.header.flags != identity_flags_ ||
             f.header.value != identity_part_) {
    return refuse(detail::concat("its run differs from the admitted workers' (d = ", f.header.aux, " of ", f.header.flags,
                                 " bytes, \"", run, "\"; the run: d = ", identity_aux_, " of ", identity_flags_,
                                 " bytes, \"", *identity_, "\")"));
  }
  members_[r] = member{id, address, fd, f.header.step, false, false, {}, std::nullopt};
  ranks_[id] = r;
  ++admitted_;
  say(detail::concat("fda-hub: worker ", r, " joined from ", address));
  send_frame(id, encode_frame(reply_header(zmq_op::welcome), std::size_t(0)));
}

/// A worker's request for the current collective; the round completes when every live worker's is in.
inline void zmq_hub::on_request(std::size_t r, zmq::message_t&& body, zmq_frame f) {
  if (f.header.seq != seq_)
    return lose(r, detail::concat("asked for collective #", f.header.seq, " while the run is at #", seq_));
  if (round_[r]) return lose(r, detail::concat("asked twice for collective #", seq_));
  round_[r] = pending{std::move(body), std::move(f)};
  ++arrived_;
  const zmq::message_t& kept = round_[r]->msg;  // (the payload, pointed to where the message now lives)
  round_[r]->frame.payload = std::span<const std::byte>(static_cast<const std::byte*>(kept.data()), kept.size())
                                 .subspan(zmq_header_bytes);
  if (all_arrived()) complete_round();
}

inline bool zmq_hub::all_arrived() const { return admitted_ == members_.size() && arrived_ == live(); }

inline std::size_t zmq_hub::live() const { return admitted_ - lost_count_; }

inline std::optional<std::size_t> zmq_hub::rank_of(const std::string& routing_id) const {
  const auto it = ranks_.find(routing_id);
  return it == ranks_.end() ? std::nullopt : std::optional<std::size_t>(it->second);
}

inline std::string zmq_hub::who(std::size_t r) const {
  return detail::concat("worker ", r, " (", members_[r] ? members_[r]->address : "not joined", ")");
}

inline zmq_header zmq_hub::reply_header(zmq_op op) const {
  zmq_header h;
  h.op = op;
  h.seq = seq_;
  return h;
}

inline void zmq_hub::send_frame(const std::string& routing_id, const std::string& frame) {
  try {
    router_.send(zmq::buffer(routing_id), zmq::send_flags::sndmore);
    router_.send(zmq::buffer(frame), zmq::send_flags::none);
    report_.bytes_sent += frame.size();
  } catch (const zmq::error_t&) {  // EHOSTUNREACH: the peer is gone; its disconnection says so
  }
}

inline void zmq_hub::send_to(std::size_t r, const std::string& frame) {
  if (members_[r] && !members_[r]->lost && !members_[r]->finished) send_frame(members_[r]->routing_id, frame);
}

/// One frame to every live worker of rank >= from_rank: one copy into a message, shared by the sends (libzmq
/// counts references to a large message instead of copying it again).
inline void zmq_hub::send_to_all(const std::string& frame, std::size_t from_rank) {
  zmq::message_t shared(frame.data(), frame.size());
  for (std::size_t r = from_rank; r < members_.size(); ++r) {
    const auto& m = members_[r];
    if (!m || m->lost || m->finished) continue;
    zmq::message_t part;
    part.copy(shared);
    try {
      router_.send(zmq::buffer(m->routing_id), zmq::send_flags::sndmore);
      router_.send(part, zmq::send_flags::none);
      report_.bytes_sent += frame.size();
    } catch (const zmq::error_t&) {  // the peer is gone; its disconnection says so
    }
  }
}

/// Pings every worker waiting for a collective, so that it knows the hub is alive.
inline void zmq_hub::ping_waiting() {
  const std::string ping = encode_frame(reply_header(zmq_op::ping), std::size_t(0));
  for (std::size_t r = 0; r < members_.size(); ++r)
    if (round_[r] || (members_[r] && !identity_)) send_to(r, ping);
  // (workers admitted but not yet in a collective are computing: libzmq's heartbeats watch them)
}

/// A DISCONNECTED event: the connection of an admitted worker that has not said goodbye is a loss.
inline void zmq_hub::on_monitor_event() {
  zmq::message_t event, address;
  (void)monitor_.recv(event, zmq::recv_flags::none);
  if (event.more()) (void)monitor_.recv(address, zmq::recv_flags::none);
  if (event.size() < 6) return;
  std::uint16_t id = 0;
  std::int32_t fd = -1;
  std::memcpy(&id, event.data(), 2);
  std::memcpy(&fd, static_cast<const char*>(event.data()) + 2, 4);
  if (id != ZMQ_EVENT_DISCONNECTED) return;
  for (std::size_t r = 0; r < members_.size(); ++r)
    if (members_[r] && members_[r]->fd == fd && !members_[r]->lost && !members_[r]->finished) {
      members_[r]->fd = -1;  // (a goodbye sent just before closing may still be queued: wait for it a little)
      members_[r]->closed_at = std::chrono::steady_clock::now();
    }
}

/// Workers whose connection closed a while ago without a goodbye are lost.
inline void zmq_hub::lose_closed() {
  const auto grace = std::min<std::chrono::milliseconds>(options_.heartbeat, std::chrono::milliseconds(500));
  for (std::size_t r = 0; r < members_.size() && !over_; ++r) {
    const auto& m = members_[r];
    if (m && m->closed_at && !m->lost && !m->finished && std::chrono::steady_clock::now() - *m->closed_at >= grace)
      lose(r, "its connection closed: the process ended, or the network or heartbeats failed");
  }
}

/// Worker r is gone: the run ends (fail, or rank 0), or goes on without it (exclude).
inline void zmq_hub::lose(std::size_t r, const std::string& why) {
  member& m = *members_[r];
  if (m.lost || over_) return;
  const std::string what = detail::concat(who(r), " was lost at step ", m.last_step, ": ", why);
  say("fda-hub: " + what);
  if (options_.on_worker_loss == zmq_worker_loss::fail || r == 0 || live() <= 1) {
    send_to(r, encode_frame(reply_header(zmq_op::abort), "you were dropped from the run: " + why));
    m.lost = true;
    ++lost_count_;
    return end_run(what + (options_.on_worker_loss == zmq_worker_loss::fail ? " (--on-worker-loss fail)"
                                                                             : r == 0 ? " (rank 0 runs the callbacks: it cannot be excluded)"
                                                                                      : " (no worker is left)"));
  }
  send_to(r, encode_frame(reply_header(zmq_op::abort), "you were excluded from the run: " + why));
  m.lost = true;
  ++lost_count_;
  m.why = why;
  if (round_[r]) --arrived_;  // (its request, if any, is dropped)
  round_[r].reset();
  unannounced_.push_back(r);
  report_.lost.push_back(r);
  if (identity_ && all_arrived()) complete_round();
  end_if_done();  // (the others may have finished already)
}

/// The run is complete once every worker has said goodbye or is lost.
inline void zmq_hub::end_if_done() {
  const bool done = std::all_of(members_.begin(), members_.end(), [](const auto& m) { return m && (m->finished || m->lost); });
  if (!done || over_) return;
  report_.completed = true;
  over_ = true;
  say(detail::concat("fda-hub: the run completed: ", report_.collectives, " collectives, ", report_.bytes_received,
                     " bytes received, ", report_.bytes_sent, " sent"));
}

/// Tells every live worker why the run ends; run() returns.
inline void zmq_hub::end_run(const std::string& why, std::uint64_t kind) {
  zmq_header h = reply_header(zmq_op::abort);
  h.aux = kind;
  send_to_all(encode_frame(h, why));
  report_.error = why;
  over_ = true;
  say("fda-hub: the run ends: " + why);
}

/// Every live worker has asked for the same collective: compute it in rank order, announce
/// newly lost workers, reply.
inline void zmq_hub::complete_round() {
  std::optional<std::size_t> first;
  for (std::size_t r = 0; r < round_.size(); ++r)
    if (round_[r]) {
      if (!first) first = r;
      const zmq_header& a = round_[*first]->frame.header;
      const zmq_header& b = round_[r]->frame.header;
      if (a.op != b.op || a.aux != b.aux || (a.op == zmq_op::average && a.value2 != b.value2))
        return end_run(detail::concat("collective #", seq_, ": ", who(r), " asked for ", zmq_op_name(std::uint16_t(b.op)),
                                      " but ", who(*first), " for ", zmq_op_name(std::uint16_t(a.op)),
                                      ": the workers run different programs"));
    }
  if (!first) return;
  for (const std::size_t gone : unannounced_) {
    zmq_header h = reply_header(zmq_op::lost);
    h.rank = std::uint32_t(gone);
    h.step = members_[gone]->last_step;
    send_to_all(encode_frame(h, members_[gone]->why));
  }
  unannounced_.clear();
  const zmq_op op = round_[*first]->frame.header.op;
  switch (op) {
    case zmq_op::barrier: {
      send_to_all(encode_frame(reply_header(op), std::size_t(0)));
      break;
    }
    case zmq_op::sum:
      reply_sum();
      break;
    case zmq_op::average:
      reply_average();
      break;
    default:
      reply_root(op);
  }
  if (over_) return;
  ++seq_;
  ++report_.collectives;
  for (auto& p : round_) p.reset();
  arrived_ = 0;
}

/// Σ_r payload_r over the live workers, in rank order, as the in-process cluster adds.
inline void zmq_hub::reply_sum() {
  const std::size_t n = payload_of(0).size() / 8;
  for (std::size_t r = 0; r < round_.size(); ++r)
    if (round_[r] && payload_of(r).size() != 8 * n)
      return end_run(detail::concat("fda::zmq_hub: worker ", r, " passed ", payload_of(r).size() / 8,
                                    " values to a sum but worker 0 passed ", n), 1);
  zmq_header h = reply_header(zmq_op::sum);
  std::string frame = encode_frame(h, 8 * n);
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (std::size_t r = 0; r < round_.size(); ++r) {
      if (!round_[r]) continue;  // lost: as if it had sent zeros
      double x;
      std::memcpy(&x, payload_of(r).data() + 8 * i, 8);
      s += x;
    }
    std::memcpy(frame.data() + zmq_header_bytes + 8 * i, &s, 8);
  }
  send_to_all(frame);
}

/// The average of the live workers' models into `out` (a reply frame), share by share as
/// the in-process cluster's K workers take them, so that every rounding is the same.
template <class T, class U>
average_stats zmq_hub::average_as(std::string& out, double trim) {
  const std::size_t k = round_.size(), d = payload_of(0).size() / sizeof(T);
  for (std::size_t r = 0; r < k; ++r)
    if (round_[r] && payload_of(r).size() != d * sizeof(T)) {
      end_run(detail::concat("fda::zmq_hub: worker ", r, " averages ", payload_of(r).size() / sizeof(T),
                             " parameters but worker 0 averages ", d), 1);
      return {};
    }
  out = encode_frame(reply_header(zmq_op::average), d * sizeof(U));
  std::vector<double> weights(k, 0.0);
  std::vector<const T*> models(k, nullptr);
  std::vector<std::vector<T>> aligned(k);  // (a payload not aligned for T is copied)
  for (std::size_t r = 0; r < k; ++r) {
    if (!round_[r]) continue;
    weights[r] = round_[r]->frame.header.value;
    const std::byte* p = payload_of(r).data();
    if (reinterpret_cast<std::uintptr_t>(p) % alignof(T)) {
      aligned[r].resize(d);
      std::memcpy(aligned[r].data(), p, d * sizeof(T));
      models[r] = aligned[r].data();
    } else {
      models[r] = reinterpret_cast<const T*>(p);
    }
  }
  double total = 0.0;
  for (const double w : weights) total += w;
  if (!(total > 0.0)) {
    end_run("fda::zmq_hub: the workers' weights sum to 0", 1);
    return {};
  }
  const std::vector<double> coeff = averaging_coefficients(weights);
  const std::span<U> avg(reinterpret_cast<U*>(out.data() + zmq_header_bytes), d);
  average_stats stats{true, 0.0, count_contributors(weights)};
  for (std::size_t s = 0; s < k; ++s) {
    const auto [lo, hi] = share_of(d, k, s);
    share_averager share(coeff, combine_rule{trim});
    share.add(lo, hi, avg, [&](std::size_t r, std::size_t from, std::size_t n, auto&& f) { f(std::size_t(0), models[r] + from, n); });
    stats.finite = stats.finite && share.finite();
    stats.spread += share.spread();
  }
  return stats;
}

inline void zmq_hub::reply_average() {
  const zmq_header& first = round_[0]->frame.header;
  const std::uint64_t in = first.aux & 0xff, out = (first.aux >> 8) & 0xff;
  std::string frame;  // (average_as sizes it: header, then the average in place)
  average_stats stats;
  if (in == 4 && out == 4) stats = average_as<float, float>(frame, first.value2);
  if (in == 4 && out == 8) stats = average_as<float, double>(frame, first.value2);
  if (in == 8 && out == 4) stats = average_as<double, float>(frame, first.value2);
  if (in == 8 && out == 8) stats = average_as<double, double>(frame, first.value2);
  if (over_) return;
  zmq_header h = reply_header(zmq_op::average);
  h.flags = stats.finite ? 1u : 0u;
  h.aux = stats.contributors;
  h.value = stats.spread;
  const std::string head = encode_frame(h, frame.size() - zmq_header_bytes);
  std::memcpy(frame.data(), head.data(), zmq_header_bytes);
  send_to_all(frame);
}

/// Broadcast, gather and scatter: rank 0 (always live) gives or takes.
inline void zmq_hub::reply_root(zmq_op op) {
  const std::size_t k = round_.size();
  const std::string ack = encode_frame(reply_header(op), std::size_t(0));
  auto bytes = [](std::span<const std::byte> b) { return std::string_view(reinterpret_cast<const char*>(b.data()), b.size()); };
  if (op == zmq_op::broadcast) {
    send_to(0, ack);
    send_to_all(encode_frame(reply_header(op), bytes(payload_of(0))), 1);
  } else if (op == zmq_op::gather) {
    std::string all;
    for (std::size_t r = 0; r < k; ++r) {
      const std::string_view part = round_[r] ? bytes(payload_of(r)) : std::string_view();
      const std::uint64_t n = part.size();
      all.append(reinterpret_cast<const char*>(&n), 8);
      all.append(part);
    }
    send_to(0, encode_frame(reply_header(op), all));
    for (std::size_t r = 1; r < k; ++r) send_to(r, ack);
  } else {  // scatter: sizes, then the parts (decode_frame checked that they add up)
    const std::string_view p = bytes(payload_of(0));
    std::size_t at = 8 * k;
    for (std::size_t r = 0; r < k; ++r) {
      std::uint64_t n = 0;
      std::memcpy(&n, p.data() + 8 * r, 8);
      send_to(r, encode_frame(reply_header(op), p.substr(at, std::size_t(n))));
      at += std::size_t(n);
    }
  }
}

}  // namespace fda
