// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The wire format between fda::zmq_comm (a worker) and fda::zmq_hub: one ZeroMQ message
/// per frame, a fixed 64-byte header then the payload. Standard library only, so that the
/// decoder can be fuzzed without a network (fuzz/zmq_frame.cpp).
///
///   offset  size  field
///   0       4     magic "FDAZ"
///   4       2     version (zmq_wire_version; a frame of another version is refused)
///   6       2     op (zmq_op)
///   8       4     rank: the sender's (worker → hub) or the lost worker's (lost)
///   12      4     flags (average reply: bit 0 = every element finite)
///   16      8     seq: the collective's number, counted from 0 by every worker
///   24      8     step: the sender's training step (worker → hub)
///   32      8     aux: op-specific (average: element sizes; average reply: contributors)
///   40      8     value: op-specific double (average: weight; reply: spread)
///   48      8     value2: op-specific double (average: the combine rule's trim)
///   56      8     payload bytes (must equal the message's size minus 64)
///
/// Integers and doubles are little-endian; model payloads are the parameters' bytes in the
/// host's order, so every host of a run must be little-endian (checked at compile time).
/// decode_frame() checks a frame against the limits a run allows before anyone allocates
/// for its payload: a frame that fails is dropped and logged, never trusted.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"

namespace fda {

static_assert(std::endian::native == std::endian::little,
              "fda's ZeroMQ transport sends parameters in the host's byte order: little-endian hosts only");

/// The wire format's version: a hub and its workers must agree on it.
inline constexpr std::uint16_t zmq_wire_version = 1;

/// What a frame asks or answers.
enum class zmq_op : std::uint16_t {
  hello = 1,      ///< worker → hub: join as `rank`; payload: the run's identity (text)
  welcome = 2,    ///< hub → worker: admitted
  refused = 3,    ///< hub → worker: not admitted; payload: why
  barrier = 4,    ///< collective: nothing
  sum = 5,        ///< collective: payload n doubles; reply: their sum over the workers, in rank order
  average = 6,    ///< collective: payload d parameters; reply: the average and its stats
  broadcast = 7,  ///< collective: rank 0's payload to every worker (the others send none)
  gather = 8,     ///< collective: every worker's payload to rank 0, in rank order
  scatter = 9,    ///< collective: rank 0 sends K parts; each worker gets its own
  ping = 10,      ///< hub → waiting worker: the hub is alive
  lost = 11,      ///< hub → worker: worker `rank` is gone for good (payload: why)
  abort = 12,     ///< either way: the run ends (payload: why)
  bye = 13,       ///< worker → hub: finished cleanly
};

/// The op's name, for messages ("average"); "unknown" for a value outside zmq_op.
inline const char* zmq_op_name(std::uint16_t op) {
  constexpr std::array<const char*, 14> names{"unknown", "hello", "welcome", "refused", "barrier", "sum",    "average",
                                              "broadcast", "gather", "scatter", "ping",    "lost",    "abort", "bye"};
  return op < names.size() ? names[op] : "unknown";
}

/// A frame's header, decoded.
struct zmq_header {
  zmq_op op = zmq_op::ping;    ///< what it asks or answers
  std::uint32_t rank = 0;      ///< the sender's rank (worker → hub) or the worker it names
  std::uint32_t flags = 0;     ///< op-specific bits
  std::uint64_t seq = 0;       ///< the collective's number
  std::uint64_t step = 0;      ///< the sender's training step
  std::uint64_t aux = 0;       ///< op-specific
  double value = 0.0;          ///< op-specific
  double value2 = 0.0;         ///< op-specific
};

/// The bytes of a frame's header.
inline constexpr std::size_t zmq_header_bytes = 64;

/// Longest text payload (hello's identity, refused, lost, abort).
inline constexpr std::size_t zmq_max_text_bytes = 4096;

/// Most doubles in a sum (local states, the trainer's small gathers).
inline constexpr std::uint64_t zmq_max_sum_values = std::uint64_t(1) << 22;

/// What a run allows in a frame: the hub's and each worker's bounds, known before a payload
/// is read. dim = 0 until the run's identity is known (only hello is then accepted).
struct zmq_limits {
  std::uint64_t workers = 0;          ///< K: ranks must be below it
  std::uint64_t dim = 0;              ///< d: the parameters each worker averages
  std::uint64_t param_bytes = 4;      ///< bytes of one parameter of the run's model (4: float, 8: double)
  std::uint64_t max_part_bytes = 0;   ///< the largest byte string one worker may send (checkpoints)
};

/// Element sizes of an average request: aux = in | out << 8 (4 or 8 each).
inline std::uint64_t zmq_average_sizes(std::size_t in, std::size_t out) { return std::uint64_t(in) | std::uint64_t(out) << 8; }

namespace detail {

inline void put_le(std::string& out, std::size_t at, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[at + i] = char((v >> (8 * i)) & 0xff);
}

inline std::uint64_t get_le(std::span<const std::byte> in, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t(std::to_integer<unsigned>(in[at + i])) << (8 * i);
  return v;
}

/// The payload's byte size in an average frame, if the sizes are 4 or 8; 0 otherwise.
inline std::uint64_t element_bytes(std::uint64_t code) { return code == 4 || code == 8 ? code : 0; }

}  // namespace detail

/// The frame's header bytes followed by `payload_bytes` bytes of room (to fill in place).
inline std::string encode_frame(const zmq_header& h, std::size_t payload_bytes) {
  std::string out(zmq_header_bytes + payload_bytes, '\0');
  std::memcpy(out.data(), "FDAZ", 4);
  detail::put_le(out, 4, zmq_wire_version, 2);
  detail::put_le(out, 6, std::uint16_t(h.op), 2);
  detail::put_le(out, 8, h.rank, 4);
  detail::put_le(out, 12, h.flags, 4);
  detail::put_le(out, 16, h.seq, 8);
  detail::put_le(out, 24, h.step, 8);
  detail::put_le(out, 32, h.aux, 8);
  detail::put_le(out, 40, std::bit_cast<std::uint64_t>(h.value), 8);
  detail::put_le(out, 48, std::bit_cast<std::uint64_t>(h.value2), 8);
  detail::put_le(out, 56, payload_bytes, 8);
  return out;
}

/// A frame with `payload` after the header.
inline std::string encode_frame(const zmq_header& h, std::string_view payload) {
  std::string out = encode_frame(h, payload.size());
  std::memcpy(out.data() + zmq_header_bytes, payload.data(), payload.size());
  return out;
}

/// A decoded frame: the header and where its payload lies in the message; or why it was refused.
struct zmq_frame {
  zmq_header header;                    ///< the header
  std::span<const std::byte> payload;   ///< the payload, in the message's memory
  std::string error;                    ///< empty when the frame is valid
  /// True when the frame passed every check.
  explicit operator bool() const { return error.empty(); }
};

namespace detail {

/// Why a frame of op h.op with `n` payload bytes breaks the limits (empty: it does not).
/// `from_worker`: a frame a worker sends to the hub (else one the hub sends to a worker).
inline std::string payload_problem(const zmq_header& h, std::uint64_t n, std::span<const std::byte> payload,
                                   const zmq_limits& lim, bool from_worker) {
  const std::uint64_t model_bytes = lim.dim * 8;
  const std::uint64_t bytes_bound = std::max(model_bytes, lim.max_part_bytes);
  auto too_long = [&](std::uint64_t most) {
    return n > most ? concat("a payload of ", n, " bytes exceeds the ", most, " that a ", zmq_op_name(std::uint16_t(h.op)),
                                  " frame may carry in this run")
                    : std::string();
  };
  if (from_worker && h.rank >= lim.workers && lim.workers)
    return concat("rank ", h.rank, " is out of range: the run has ", lim.workers, " workers");
  if (lim.dim == 0 && h.op != zmq_op::hello && from_worker)
    return concat("a ", zmq_op_name(std::uint16_t(h.op)), " frame before the worker said hello");
  switch (h.op) {
    case zmq_op::hello:
    case zmq_op::refused:
    case zmq_op::lost:
    case zmq_op::abort:
      return too_long(zmq_max_text_bytes);
    case zmq_op::welcome:
    case zmq_op::barrier:
    case zmq_op::ping:
    case zmq_op::bye:
      return too_long(0);
    case zmq_op::sum:
      if (n % 8) return concat("a sum of ", n, " bytes is not a whole number of doubles");
      return too_long(zmq_max_sum_values * 8);
    case zmq_op::average: {
      if (!from_worker)  // (the reply: aux counts contributors; the average's element size is the worker's choice)
        return n % 4 || n > lim.dim * 8 ? concat("an average reply of ", n, " bytes, not at most the run's ", lim.dim,
                                                 " parameters") : std::string();
      const std::uint64_t in = element_bytes(h.aux & 0xff), out = element_bytes((h.aux >> 8) & 0xff);
      if (!in || !out || (h.aux >> 16)) return concat("element sizes code ", h.aux, " is not 4 or 8 bytes in and out");
      if (!(std::isfinite(h.value) && h.value >= 0.0)) return concat("weight ", h.value, " is not finite and >= 0");
      if (std::isnan(h.value2)) return "a combine rule's trim of NaN";
      if (n % in || n > lim.dim * 8)
        return concat("an average of ", n, " bytes, not at most the run's ", lim.dim, " parameters of at most 8 bytes");
      return {};
    }
    case zmq_op::broadcast:
      return too_long(bytes_bound);
    case zmq_op::gather:
      return too_long(from_worker ? lim.max_part_bytes : lim.workers * (8 + lim.max_part_bytes));
    case zmq_op::scatter: {
      if (!from_worker) return too_long(lim.max_part_bytes);
      if (h.rank != 0) return too_long(0);
      if (n < 8 * lim.workers) return concat("a scatter of ", n, " bytes cannot hold ", lim.workers, " part sizes");
      std::uint64_t total = 8 * lim.workers;
      for (std::uint64_t r = 0; r < lim.workers; ++r) {
        const std::uint64_t part = get_le(payload, std::size_t(8 * r), 8);
        if (part > lim.max_part_bytes) return concat("scatter part ", r, " of ", part, " bytes exceeds the run's ", lim.max_part_bytes);
        total += part;
      }
      return total == n ? std::string() : concat("scatter parts that add up to ", total, " bytes in a payload of ", n);
    }
  }
  return concat("unknown op ", std::uint16_t(h.op));
}

}  // namespace detail

/// Decodes one message and checks it against `lim`: magic, version, op, declared and actual
/// sizes, and what the op may carry in this run. `from_worker`: checks for the hub (a
/// frame a worker sent), else for a worker (a frame the hub sent). Never throws.
inline zmq_frame decode_frame(std::span<const std::byte> msg, const zmq_limits& lim, bool from_worker) {
  zmq_frame f;
  auto refuse = [&f](std::string why) {
    f.error = std::move(why);
    return f;
  };
  if (msg.size() < zmq_header_bytes)
    return refuse(detail::concat("a frame of ", msg.size(), " bytes is shorter than the ", zmq_header_bytes, "-byte header"));
  if (std::memcmp(msg.data(), "FDAZ", 4) != 0) return refuse("not an fda frame (bad magic)");
  const auto version = std::uint16_t(detail::get_le(msg, 4, 2));
  if (version != zmq_wire_version)
    return refuse(detail::concat("wire format version ", version, ", this program speaks ", zmq_wire_version));
  const auto op = std::uint16_t(detail::get_le(msg, 6, 2));
  if (op < 1 || op > 13) return refuse(detail::concat("unknown op ", op));
  zmq_header& h = f.header;
  h.op = zmq_op(op);
  h.rank = std::uint32_t(detail::get_le(msg, 8, 4));
  h.flags = std::uint32_t(detail::get_le(msg, 12, 4));
  h.seq = detail::get_le(msg, 16, 8);
  h.step = detail::get_le(msg, 24, 8);
  h.aux = detail::get_le(msg, 32, 8);
  h.value = std::bit_cast<double>(detail::get_le(msg, 40, 8));
  h.value2 = std::bit_cast<double>(detail::get_le(msg, 48, 8));
  const std::uint64_t declared = detail::get_le(msg, 56, 8);
  if (declared != msg.size() - zmq_header_bytes)
    return refuse(detail::concat("the header declares ", declared, " payload bytes but ", msg.size() - zmq_header_bytes,
                                 " follow it"));
  f.payload = msg.subspan(zmq_header_bytes);
  const std::string problem = detail::payload_problem(h, declared, f.payload, lim, from_worker);
  if (!problem.empty()) return refuse(std::string(zmq_op_name(op)) + " frame: " + problem);
  return f;
}

/// The payload of a text frame (hello, refused, lost, abort) as a string.
inline std::string frame_text(const zmq_frame& f) {
  return std::string(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
}

}  // namespace fda
