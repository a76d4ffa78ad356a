// The node's side of one connection, between the socket and the RPC system:
// where per-connection limits are enforced.
#pragma once

#include <capnp/serialize-async.h>
#include <kj/async-io.h>
#include <kj/function.h>
#include <kj/timer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "coalescing_stream.h"
#include "connection_limits.h"
#include "in_flight_budget.h"
#include "limit_log.h"
#include "task_failures.h"

namespace discache::node {

// Event-loop thread only. A capnp::MessageStream over the accepted socket
// that the connection's TwoPartyVatNetwork reads and writes through. It
// - stops reading requests while an answer cannot be handed to the socket
//   (the peer does not read what it asked for): backpressure, so a peer
//   that never reads holds at most about CoalescingStream::kHighWater plus
//   one message of the node's memory;
// - reads each message itself: its size, from the segment table, is taken
//   from the node's in-flight budget before its body is allocated (reads
//   pause while the budget has no room), and a message larger than the
//   budget could ever hold is refused with a clear error to the peer;
// - closes the connection when a message, once its first byte arrived,
//   takes longer than --read-timeout to arrive (slow senders);
// - counts answers waiting to be written in the budget too (they are owed:
//   they go out whatever the budget says, and reads wait for them), and
//   closes a connection whose answers have not moved for --read-timeout;
// - counts in the budget the messages the RPC system has sent and not yet
//   written (it writes one at a time), and keeps the room a call's answer
//   took while it was built until then (keep_until_queued);
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
  // `budget`: this loop's queue for the node's in-flight budget.
  // `spans_stall` is asked before each message goes to the RPC system; true
  // ends the connection instead.
  ConnectionGuard(kj::AsyncIoStream& stream, kj::Maybe<CoalescingStream&> coalescing,
                  const ConnectionLimits& limits, kj::Timer& timer, LimitLog& log,
                  const std::shared_ptr<BudgetQueue>& budget, std::string peer,
                  kj::Function<bool()> spans_stall);

  ~ConnectionGuard() noexcept(false);
  KJ_DISALLOW_COPY(ConnectionGuard);

  // `queued` says how many bytes of messages the RPC system has sent and
  // not yet written (TwoPartyVatNetwork::getCurrentQueueSize()); asked only
  // from the event loop, never while the guard is being destroyed. Call once
  // the network exists.
  void count_queued_answers(std::function<std::size_t()> queued);

  // Resolves (after writing a log line) once no message moved either way
  // for the idle timeout; never if the timeout is zero. The caller ends the
  // connection then.
  kj::Promise<void> idle_close();

  // Open calls of the peer right now.
  std::uint64_t calls_in_flight() const { return calls_in_flight_; }
  // Bytes of the in-flight budget this connection holds right now.
  std::uint64_t budget_held() const { return share_->held(); }
  // What this connection holds of the budget: its calls' answers take room
  // from it, which the guard gives back as it writes them.
  const std::shared_ptr<ConnectionShare>& share() const { return share_; }

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
  // After refusing a message by its size, how long end() keeps dropping what
  // the peer still sends so that it can read why (see end()).
  static constexpr kj::Duration kLinger = 2 * kj::SECONDS;

  using MaybeReader = kj::Maybe<kj::Own<capnp::MessageReader>>;
  // Before reading the next request: waits for the room its answers were
  // denied (ConnectionShare::keep_answer), if any.
  kj::Promise<void> wait_for_wanted_room();
    kj::Promise<MaybeReader> read_frame(capnp::ReaderOptions options);
  kj::Promise<MaybeReader> read_segment_table(capnp::ReaderOptions options, std::size_t have);
  kj::Promise<kj::Own<capnp::MessageReader>> read_body(capnp::ReaderOptions options,
                                                       kj::Array<std::uint32_t> sizes);
  kj::Promise<void> before_deadline(kj::Promise<void> read);
  [[noreturn]] void refuse(LimitKind kind, const std::string& why, const char* to_peer);
  kj::Promise<void> discard_input();
  bool answers_stuck() const;
  kj::Promise<void> wait_until_answers_move();
  kj::Promise<void> track_write(kj::Promise<void> write);
  // Keeps `room` (a call's answer, built now) until the end of this turn:
  // by then the RPC system has sent the answer and count_queued() counts it,
  // or it dropped it (its caller finished the call first).
  void keep_until_queued(std::shared_ptr<AnswerRoom> room);
  // Brings the budget's count of this connection's queued messages up to date.
  void count_queued();
  // Does so at the end of this turn (with the rooms kept until then).
  void count_queued_later();
  void count_call(capnp::MessageReader& message);
  std::string unsent_text() const;

  kj::AsyncIoStream& stream_;
  capnp::AsyncIoMessageStream inner_;
  kj::Maybe<CoalescingStream&> coalescing_;
  const ConnectionLimits& limits_;
  kj::Timer& timer_;
  LimitLog& log_;
  std::shared_ptr<ConnectionShare> share_;
  std::string peer_;
  kj::Function<bool()> spans_stall_;
  kj::TimePoint last_progress_;
  // The message being read: its first word, and when it must have arrived.
  kj::byte first_word_[8] = {};
  kj::TimePoint frame_deadline_;
  // When an answer last moved to the socket (or the first one began to wait).
  kj::TimePoint answers_last_moved_;
  // A refusal already logged (the read's error handler must not log it again).
  bool refusal_logged_ = false;
  // end() lingers: a refused message is still arriving.
  bool linger_ = false;
  kj::Array<kj::byte> discarded_;
  std::uint64_t calls_in_flight_ = 0;
  // Writes handed to the inner stream and not yet complete.
  std::uint32_t writes_pending_ = 0;
  // Wakes a read that waits for answers to move.
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> answers_moved_;
  bool said_not_reading_ = false;
  std::function<std::size_t()> queued_;
  std::uint64_t queued_counted_ = 0;  // of queued_(), in the budget now
  std::vector<std::shared_ptr<AnswerRoom>> rooms_kept_;
  bool count_scheduled_ = false;
  IgnoreTaskFailures task_errors_;
  kj::TaskSet tasks_;  // the end-of-turn counts; last, so destroyed first
};

}  // namespace discache::node
