// What one client connection may hold on a node, with the defaults the
// README's limits table documents.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "size_limits.h"

namespace discache::node {

struct ConnectionLimits {
  // A connection that moved no message either way for this long is closed
  // (--idle-timeout; zero: never). A client reconnects on its next op, so
  // this only reclaims sockets and buffers of clients that went quiet or
  // stopped reading.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  // Calls a peer may have open on one connection: sent and not yet finished
  // (a Cap'n Proto call is finished once the caller has its answer). Each
  // open call costs the node an answer-table entry, so a peer past this is
  // disconnected (--max-calls-in-flight). The client library batches
  // operations into a few calls per node, far below the default.
  std::uint64_t max_calls_in_flight = 16384;
  // A message must arrive within this long of its first byte (time the node
  // itself paused reading does not count), or the connection is closed
  // (--read-timeout; zero: never). This, not the idle timeout, ends senders
  // that trickle bytes to hold a connection and its buffers (slowloris). 20 s
  // lets a largest (64 MiB) message through at 3.4 MB/s.
  std::chrono::milliseconds read_timeout{std::chrono::seconds(20)};
  // The largest message a peer may send (Cap'n Proto's traversal limit):
  // fixed, above a full batch and the largest value --max-value-bytes
  // allows. A bigger one closes the connection.
  static constexpr std::uint64_t kMaxMessageBytes = limits::kMaxMessageWords * 8;
};

}  // namespace discache::node
