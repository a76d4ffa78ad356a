// The node's side of one connection, between the socket and the RPC system:
// where per-connection limits are enforced.
#pragma once

#include <capnp/serialize-async.h>
#include <kj/async-io.h>
#include <kj/function.h>
#include <kj/timer.h>

#include <cstdint>
#include <string>

#include "coalescing_stream.h"
#include "connection_limits.h"
#include "limit_log.h"

namespace discache::node {

// Event-loop thread only. A capnp::MessageStream over the accepted socket
// that the connection's TwoPartyVatNetwork reads and writes through. It
// - stops reading requests while an answer cannot be handed to the socket
//   (the peer does not read what it asked for): backpressure, so a peer
//   that never reads holds at most about CoalescingStream::kHighWater plus
//   one message of the node's memory;
// - counts the peer's open calls (Call and Bootstrap messages not yet
//   followed by their Finish) and ends the connection past the limit;
// - notes when a message last moved either way, for idle_close();
// - logs why a connection ended when the peer sent something unreadable
//   (an oversized or malformed frame), which the RPC system keeps silent;
// - ends the connection, unread, if it was open across a stop of the node
//   (NodeLoop::spans_stall): what it still carries was sent by callers who
//   gave up waiting.
class ConnectionGuard final : public capnp::MessageStream {
 public:
  // `coalescing`: the CoalescingStream under `stream`, if any; its queue is
  // what a non-reading peer fills. `peer` names the peer in log lines.
  // `spans_stall` is asked before each message goes to the RPC system; true
  // ends the connection instead.
  ConnectionGuard(kj::AsyncIoStream& stream, kj::Maybe<CoalescingStream&> coalescing,
                  const ConnectionLimits& limits, kj::Timer& timer, LimitLog& log,
                  std::string peer, kj::Function<bool()> spans_stall);

  // Resolves (after writing a log line) once no message moved either way
  // for the idle timeout; never if the timeout is zero. The caller ends the
  // connection then.
  kj::Promise<void> idle_close();

  // Open calls of the peer right now.
  std::uint64_t calls_in_flight() const { return calls_in_flight_; }

  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> tryReadMessage(
      kj::ArrayPtr<kj::AutoCloseFd> fd_space, capnp::ReaderOptions options,
      kj::ArrayPtr<capnp::word> scratch_space) override;
  kj::Promise<void> writeMessage(
      kj::ArrayPtr<const int> fds,
      kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) override;
  kj::Promise<void> writeMessages(
      kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) override;
  kj::Maybe<int> getSendBufferSize() override;
  kj::Promise<void> end() override;

 private:
  // How long reads may stay paused before the log says the peer does not read.
  static constexpr kj::Duration kNotReadingWarning = 1 * kj::SECONDS;

  bool answers_stuck() const;
  kj::Promise<void> wait_until_answers_move();
  kj::Promise<void> track_write(kj::Promise<void> write);
  void count_call(capnp::MessageReader& message);
  std::string unsent_text() const;

  capnp::AsyncIoMessageStream inner_;
  kj::Maybe<CoalescingStream&> coalescing_;
  const ConnectionLimits& limits_;
  kj::Timer& timer_;
  LimitLog& log_;
  std::string peer_;
  kj::Function<bool()> spans_stall_;
  kj::TimePoint last_progress_;
  std::uint64_t calls_in_flight_ = 0;
  // Writes handed to the inner stream and not yet complete.
  std::uint32_t writes_pending_ = 0;
  // Wakes a read that waits for answers to move.
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> answers_moved_;
  bool said_not_reading_ = false;
};

}  // namespace discache::node
