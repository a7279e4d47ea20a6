// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the ZeroMQ transport's frame decoder (fda/zmq/frame.hpp), what the hub and
// every worker run first on each message a peer sends. The input's first 7 bytes set the
// checks, the rest is the message:
//   byte 0         bit 0: a frame a worker sent (the hub's checks), else one the hub sent
//   byte 1         K - 1 (1 to 256 workers)
//   bytes 2-3      d, the run's parameters (little-endian; 0: before any hello)
//   bytes 4-5      the largest byte-collective part, in bytes (little-endian)
//   byte 6         the run's parameter size: 4 if even, else 8
// decode_frame must never throw nor read outside the message; a frame it accepts must keep
// the invariants below, and re-encoding its header and payload must give the message back.
#include <fda/zmq/frame.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>

namespace {

void require(bool ok) {
  if (!ok) std::abort();  // libFuzzer reports the input that broke the invariant
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 7) return 0;
  const bool from_worker = data[0] & 1;
  const fda::zmq_limits lim{.workers = std::uint64_t(data[1]) + 1,
                            .dim = std::uint64_t(data[2]) | std::uint64_t(data[3]) << 8,
                            .param_bytes = data[6] % 2 ? 8u : 4u,
                            .max_part_bytes = std::uint64_t(data[4]) | std::uint64_t(data[5]) << 8};
  const std::span<const std::byte> msg(reinterpret_cast<const std::byte*>(data + 7), size - 7);
  const fda::zmq_frame f = fda::decode_frame(msg, lim, from_worker);
  if (!f) {
    require(!f.error.empty());
    return 0;
  }
  // The payload is the message after the header, whole.
  require(msg.size() >= fda::zmq_header_bytes);
  require(f.payload.data() == msg.data() + fda::zmq_header_bytes);
  require(f.payload.size() == msg.size() - fda::zmq_header_bytes);
  const std::uint64_t n = f.payload.size();
  switch (f.header.op) {
    case fda::zmq_op::hello:
    case fda::zmq_op::refused:
    case fda::zmq_op::lost:
    case fda::zmq_op::abort:
      require(n <= fda::zmq_max_text_bytes);
      break;
    case fda::zmq_op::sum:
      require(n % 8 == 0 && n <= 8 * fda::zmq_max_sum_values);
      break;
    case fda::zmq_op::average:
      require(n % 4 == 0 && n <= 8 * lim.dim);
      break;
    case fda::zmq_op::gather:
      require(n <= (from_worker ? lim.max_part_bytes : lim.workers * (8 + lim.max_part_bytes)));
      break;
    case fda::zmq_op::welcome:
    case fda::zmq_op::barrier:
    case fda::zmq_op::ping:
    case fda::zmq_op::bye:
      require(n == 0);
      break;
    default:
      break;
  }
  if (from_worker) {
    require(f.header.rank < lim.workers);
    require(lim.dim != 0 || f.header.op == fda::zmq_op::hello);
  }
  // What was accepted encodes back to the same bytes.
  const std::string again =
      fda::encode_frame(f.header, std::string_view(reinterpret_cast<const char*>(f.payload.data()), f.payload.size()));
  require(again.size() == msg.size() && std::memcmp(again.data(), msg.data(), msg.size()) == 0);
  return 0;
}
