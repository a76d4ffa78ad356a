#include "connection_guard.h"

#include <capnp/rpc.capnp.h>
#include <kj/debug.h>

#include <cstring>

#include "kj_duration.h"

namespace discache::node {
namespace {

std::string duration_text(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) {
    return std::to_string(ms.count() / 1000) + "s";
  }
  return std::to_string(ms.count()) + "ms";
}

std::uint32_t little_endian_u32(const kj::byte* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

std::string mib_text(std::uint64_t bytes) {
  if (bytes % (1024 * 1024) == 0) {
    return std::to_string(bytes / (1024 * 1024)) + " MiB";
  }
  return std::to_string(bytes) + " bytes";
}

// Cap'n Proto's own limit on segments per message.
constexpr std::uint64_t kMaxSegments = 512;

// The first line of an exception's description, short enough for a log line.
std::string short_reason(const kj::Exception& e) {
  std::string text(e.getDescription().cStr());
  text = text.substr(0, text.find('\n'));
  if (text.size() > 160) {
    text = text.substr(0, 157) + "...";
  }
  return text;
}

}  // namespace

ConnectionGuard::ConnectionGuard(kj::AsyncIoStream& stream, kj::Maybe<CoalescingStream&> coalescing,
                                 const ConnectionLimits& limits, kj::Timer& timer, LimitLog& log,
                                 const std::shared_ptr<BudgetQueue>& budget, std::string peer,
                                 kj::Function<bool()> spans_stall)
    : stream_(stream),
      inner_(stream),
      coalescing_(coalescing),
      limits_(limits),
      timer_(timer),
      log_(log),
      share_(std::make_shared<ConnectionShare>(budget)),
      peer_(std::move(peer)),
      spans_stall_(kj::mv(spans_stall)),
      last_progress_(timer.now()),
      frame_deadline_(timer.now()),
      answers_last_moved_(timer.now()),
      tasks_(task_errors_) {
  share_->set_answer_keeper(
      [this](std::shared_ptr<AnswerRoom> room) { keep_until_queued(std::move(room)); });
  KJ_IF_MAYBE (c, coalescing) {
    // Answers queued for the peer count in the budget until the socket takes
    // them; the stream may outlive this guard, so the gauge owns the share.
    c->set_unsent_gauge([share = share_, counted = std::size_t(0)](std::size_t unsent) mutable {
      if (unsent > counted) {
        share->take_owed(unsent - counted);
      } else {
        share->give_back(counted - unsent);
      }
      counted = unsent;
    });
  }
}

kj::Promise<void> ConnectionGuard::idle_close() {
  if (limits_.idle_timeout.count() == 0) {
    return kj::NEVER_DONE;
  }
  const kj::TimePoint deadline = last_progress_ + to_kj(limits_.idle_timeout);
  if (timer_.now() < deadline) {
    // Progress moved the deadline meanwhile: one wake-up per timeout at most.
    return timer_.atTime(deadline).then([this]() { return idle_close(); });
  }
  std::string line = "closed connection from " + peer_ + ": no message either way for " +
                     duration_text(limits_.idle_timeout) + " (--idle-timeout)";
  if (writes_pending_ > 0) {
    line += "; it does not read its answers (" + unsent_text() + ")";
    log_.write(LimitKind::idle_not_reading, line);
  } else {
    log_.write(LimitKind::idle, line);
  }
  return kj::READY_NOW;
}

// ---- reading -------------------------------------------------------------------

bool ConnectionGuard::answers_stuck() const {
  if (writes_pending_ == 0) {
    return false;
  }
  KJ_IF_MAYBE (c, coalescing_) {
    // The coalescing stream takes writes at once below its high-water mark:
    // a write pending with less queued is merely finishing this turn.
    return c->unsent_bytes() >= CoalescingStream::kHighWater;
  }
  return true;  // the kernel's send buffer is full
}

kj::Promise<void> ConnectionGuard::wait_until_answers_move() {
  if (!answers_stuck()) {
    said_not_reading_ = false;
    return kj::READY_NOW;
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  answers_moved_ = kj::mv(paf.fulfiller);
  auto warn = timer_.afterDelay(kNotReadingWarning).then([this]() {
    if (!said_not_reading_) {
      said_not_reading_ = true;
      log_.write(LimitKind::not_reading, "stopped reading requests from " + peer_ +
                                             ": it does not read its answers (" + unsent_text() +
                                             ")");
    }
  });
  // Answers it does not take hold the node's in-flight budget, which every
  // connection shares: a peer whose answers have not moved for the read
  // timeout is closed, as one whose request does not arrive in it.
  kj::Promise<void> give_up = kj::NEVER_DONE;
  if (limits_.read_timeout.count() > 0) {
    give_up = timer_.atTime(answers_last_moved_ + to_kj(limits_.read_timeout)).then([this]() {
      refuse(LimitKind::answers_not_taken,
             "it took none of its answers for " + duration_text(limits_.read_timeout) + " (" +
                 unsent_text() + ", --read-timeout)",
             "answers not read for too long; closing the connection");
    });
  }
  return paf.promise.exclusiveJoin(kj::mv(warn))
      .exclusiveJoin(kj::mv(give_up))
      .then([this]() { return wait_until_answers_move(); });
}

kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> ConnectionGuard::tryReadMessage(
    kj::ArrayPtr<kj::AutoCloseFd> /*fd_space*/, capnp::ReaderOptions options,
    kj::ArrayPtr<capnp::word> /*scratch_space*/) {
  using Result = kj::Maybe<capnp::MessageReaderAndFds>;
  return wait_until_answers_move()
      .then([this]() { return wait_for_wanted_room(); })
      .then([this, options]() { return read_frame(options); })
      .then(
          [this](MaybeReader&& message) -> Result {
            last_progress_ = timer_.now();
            if (message != nullptr && spans_stall_()) {
              return nullptr;  // as if the peer had closed: it reconnects
            }
            KJ_IF_MAYBE (m, message) {
              count_call(**m);
              return capnp::MessageReaderAndFds{kj::mv(*m), nullptr};
            }
            return nullptr;
          },
          [this](kj::Exception&& e) -> Result {
            if (e.getType() != kj::Exception::Type::DISCONNECTED && !refusal_logged_) {
              // The RPC system ends the connection without a word: say why.
              log_.write(LimitKind::bad_message,
                         "closed connection from " + peer_ + ": " + short_reason(e));
            }
            kj::throwFatalException(kj::mv(e));
          });
}

kj::Promise<void> ConnectionGuard::wait_for_wanted_room() {
  const std::uint64_t wanted = share_->take_wanted();
  if (wanted == 0) {
    return kj::READY_NOW;
  }
  // Waits as a request of that size would, then gives the room back at once:
  // the peer's next request waits until values like those it was denied
  // could be answered.
  return share_->take_request(wanted, [this, wanted]() {
    log_.write(LimitKind::budget_full,
               "in-flight budget full: " + peer_ + " asked for values it had no room for; "
               "its next request waits for " + std::to_string(wanted) +
               " bytes of room (--in-flight-budget)");
  }).then([](BudgetLease) {});
}

// A frame is a segment table (segment count - 1, then each segment's size in
// words, padded to whole words) and the segments. Its size is known from the
// table, so it is taken from the budget before the body is allocated: the
// same checks as capnp::readMessage, plus the budget.
kj::Promise<ConnectionGuard::MaybeReader> ConnectionGuard::read_frame(
    capnp::ReaderOptions options) {
  // No deadline for the first byte: a quiet connection is the idle timeout's.
  return stream_.tryRead(first_word_, 1, sizeof(first_word_))
      .then([this, options](std::size_t n) -> kj::Promise<MaybeReader> {
        if (n == 0) {
          return MaybeReader(nullptr);  // the peer closed between messages
        }
        frame_deadline_ = timer_.now() + to_kj(limits_.read_timeout);
        return read_segment_table(options, n);
      });
}

kj::Promise<ConnectionGuard::MaybeReader> ConnectionGuard::read_segment_table(
    capnp::ReaderOptions options, std::size_t have) {
  auto rest = before_deadline(have < sizeof(first_word_)
                                  ? stream_.read(first_word_ + have, sizeof(first_word_) - have)
                                  : kj::Promise<void>(kj::READY_NOW));
  return rest
      .then([this]() -> kj::Promise<kj::Array<std::uint32_t>> {
        const std::uint64_t segments = std::uint64_t{little_endian_u32(first_word_)} + 1;
        if (segments >= kMaxSegments) {
          kj::throwFatalException(KJ_EXCEPTION(FAILED, "Message has too many segments."));
        }
        auto sizes = kj::heapArray<std::uint32_t>(segments);
        sizes[0] = little_endian_u32(first_word_ + 4);
        if (segments == 1) {
          return kj::mv(sizes);
        }
        // The other sizes, padded to a whole word.
        auto table = kj::heapArray<kj::byte>((segments & ~std::uint64_t{1}) * 4);
        auto* bytes = table.begin();
        return before_deadline(stream_.read(bytes, table.size()))
            .then([sizes = kj::mv(sizes), table = kj::mv(table)]() mutable {
              for (std::size_t i = 1; i < sizes.size(); ++i) {
                sizes[i] = little_endian_u32(table.begin() + (i - 1) * 4);
              }
              return kj::mv(sizes);
            });
      })
      .then([this, options](kj::Array<std::uint32_t> sizes) -> kj::Promise<MaybeReader> {
        return read_body(options, kj::mv(sizes)).then([](kj::Own<capnp::MessageReader> reader) {
          return MaybeReader(kj::mv(reader));
        });
      });
}

kj::Promise<kj::Own<capnp::MessageReader>> ConnectionGuard::read_body(
    capnp::ReaderOptions options, kj::Array<std::uint32_t> sizes) {
  std::uint64_t words = 0;
  for (std::uint32_t size : sizes) {
    words += size;
  }
  const std::uint64_t bytes = words * sizeof(capnp::word);
  InFlightBudget& budget = share_->budget();
  if (words > options.traversalLimitInWords) {
    // Cap'n Proto's own words, which the log has always shown.
    refuse(LimitKind::bad_message,
           "a message of " + std::to_string(bytes) + " bytes is too large (the limit is " +
               mib_text(options.traversalLimitInWords * sizeof(capnp::word)) + ")",
           "Message is too large: the node accepts messages up to 64 MiB.");
  }
  const std::uint64_t charged = budget.charge(bytes);
  if (charged > InFlightBudget::largest_frame(budget.limit())) {
    budget.count_refused();
    refuse(LimitKind::frame_refused,
           "a message of " + std::to_string(bytes) + " bytes (counting " +
               std::to_string(charged) + ") is more than the in-flight budget (" +
               mib_text(budget.limit()) + ", --in-flight-budget) can ever hold (" +
               std::to_string(InFlightBudget::largest_frame(budget.limit())) + " bytes)",
           "request refused: it is larger than this node's in-flight budget can hold "
           "(--in-flight-budget); send smaller batches");
  }
  const kj::TimePoint asked = timer_.now();
  auto room = share_->take_request(charged, [this, &budget, bytes]() {
    log_.write(LimitKind::budget_full,
               "in-flight budget full (" + std::to_string(budget.in_use()) + " of " +
                   std::to_string(budget.limit()) + " bytes in use): pausing reads, the "
                   "heaviest connections first; " + peer_ + " waits to send " +
                   std::to_string(bytes) + " bytes and holds " +
                   std::to_string(share_->held()) + " (--in-flight-budget)");
  });
  return room.then([this, options, bytes, asked,
                    sizes = kj::mv(sizes)](BudgetLease lease) mutable {
    // The wait was the node's doing, not the peer's: it does not count.
    frame_deadline_ += timer_.now() - asked;
    auto words = kj::heapArray<capnp::word>(bytes / sizeof(capnp::word));
    auto segments = kj::heapArray<kj::ArrayPtr<const capnp::word>>(sizes.size());
    std::size_t offset = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      segments[i] = kj::arrayPtr(words.begin() + offset, sizes[i]);
      offset += sizes[i];
    }
    auto* body = words.begin();
    // TODO(security): a body that trickles in holds its charge for up to
    // --read-timeout; a minimum arrival rate would free it sooner.
    return before_deadline(stream_.read(body, bytes))
        .then([options, words = kj::mv(words), segments = kj::mv(segments),
               lease = kj::mv(lease)]() mutable -> kj::Own<capnp::MessageReader> {
          auto reader = kj::heap<capnp::SegmentArrayMessageReader>(segments.asPtr(), options);
          // The reader keeps its bytes, and their lease on the budget, for as
          // long as the RPC system keeps the message (the call's lifetime).
          return reader.attach(kj::mv(words), kj::mv(segments), kj::mv(lease));
        });
  });
}

kj::Promise<void> ConnectionGuard::before_deadline(kj::Promise<void> read) {
  if (limits_.read_timeout.count() == 0) {
    return read;
  }
  return read.exclusiveJoin(timer_.atTime(frame_deadline_).then([this]() {
    refuse(LimitKind::read_timeout,
           "a message did not arrive within " + duration_text(limits_.read_timeout) +
               " of its first byte (--read-timeout)",
           "a message took too long to arrive; closing the connection");
  }));
}

void ConnectionGuard::refuse(LimitKind kind, const std::string& why, const char* to_peer) {
  log_.write(kind, "closed connection from " + peer_ + ": " + why);
  refusal_logged_ = true;
  // A peer whose message was refused by its size is still sending it.
  linger_ = kind == LimitKind::frame_refused || kind == LimitKind::bad_message;
  // The RPC system sends this to the peer in its Abort message, so the
  // caller learns why instead of seeing a silent close.
  kj::throwFatalException(KJ_EXCEPTION(FAILED, to_peer));
}

void ConnectionGuard::count_call(capnp::MessageReader& message) {
  capnp::rpc::Message::Which which = capnp::rpc::Message::UNIMPLEMENTED;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions(
                      [&]() { which = message.getRoot<capnp::rpc::Message>().which(); })) {
    (void)e;
    return;  // malformed: the RPC system refuses it itself
  }
  switch (which) {
    case capnp::rpc::Message::CALL:
    case capnp::rpc::Message::BOOTSTRAP:
      if (++calls_in_flight_ > limits_.max_calls_in_flight) {
        log_.write(LimitKind::calls_in_flight, "closed connection from " + peer_ + ": more than " +
                                                   std::to_string(limits_.max_calls_in_flight) +
                                                   " calls in flight (--max-calls-in-flight)");
        // The peer gets this in the RPC system's Abort message.
        kj::throwFatalException(KJ_EXCEPTION(
            FAILED, "too many calls in flight on one connection; finish calls before sending more",
            limits_.max_calls_in_flight));
      }
      break;
    case capnp::rpc::Message::FINISH:
      if (calls_in_flight_ > 0) {
        --calls_in_flight_;
      }
      break;
    default:
      break;
  }
}

// ---- writing -------------------------------------------------------------------

kj::Promise<void> ConnectionGuard::track_write(kj::Promise<void> write) {
  if (writes_pending_ == 0) {
    answers_last_moved_ = timer_.now();  // the clock starts with the first write waiting
  }
  ++writes_pending_;
  auto moved = [this]() {
    --writes_pending_;
    KJ_IF_MAYBE (f, answers_moved_) {
      (*f)->fulfill();
      answers_moved_ = nullptr;
    }
  };
  // The RPC system forgets the message once this resolves: count it out.
  write = write.attach(kj::defer([this]() { count_queued_later(); }));
  return write.then(
      [this, moved]() {
        last_progress_ = timer_.now();
        answers_last_moved_ = last_progress_;
        moved();
      },
      [moved](kj::Exception&& e) {
        moved();
        kj::throwFatalException(kj::mv(e));
      });
}

kj::Promise<void> ConnectionGuard::writeMessage(
    kj::ArrayPtr<const int> fds, kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  count_queued();  // what the RPC system queued since the last count
  // evalNow: a socket write can throw at once (EPIPE); it must still be counted.
  return track_write(kj::evalNow([&]() { return inner_.writeMessage(fds, segments); }));
}

kj::Promise<void> ConnectionGuard::writeMessages(
    kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) {
  count_queued();
  return track_write(kj::evalNow([&]() { return inner_.writeMessages(messages); }));
}

// ---- answers the RPC system holds ------------------------------------------------

void ConnectionGuard::count_queued_answers(std::function<std::size_t()> queued) {
  queued_ = std::move(queued);
}

void ConnectionGuard::keep_until_queued(std::shared_ptr<AnswerRoom> room) {
  rooms_kept_.push_back(std::move(room));
  count_queued_later();
}

void ConnectionGuard::count_queued() {
  if (!queued_) {
    return;
  }
  const std::uint64_t now = queued_();
  if (now > queued_counted_) {
    share_->take_owed(now - queued_counted_);  // sent: owed, like the socket's queue
  } else {
    share_->give_back(queued_counted_ - now);
  }
  queued_counted_ = now;
}

void ConnectionGuard::count_queued_later() {
  if (count_scheduled_) {
    return;
  }
  count_scheduled_ = true;
  // evalLast: after the RPC system's own continuations of this turn (its
  // Return of a call that just finished; a write's end, after which it
  // forgets the message), so the count sees them.
  tasks_.add(kj::evalLast([this]() {
    count_scheduled_ = false;
    count_queued();
    rooms_kept_.clear();  // counted as queued now, or dropped unsent
  }));
}

ConnectionGuard::~ConnectionGuard() noexcept(false) {
  share_->set_answer_keeper(nullptr);
  share_->give_back(queued_counted_);
}

kj::Maybe<int> ConnectionGuard::getSendBufferSize() {
  return inner_.getSendBufferSize();
}

kj::Promise<void> ConnectionGuard::end() {
  auto ended = inner_.end();
  if (!linger_) {
    return ended;
  }
  // The peer is still sending the message we refused. Closing a socket with
  // unread input resets it, and a reset can destroy our Abort before the
  // peer reads it: so shut down our side only, and drop what still arrives
  // (into one small buffer) until it closes too or kLinger has passed.
  return ended.then([this]() {
    return discard_input().exclusiveJoin(timer_.afterDelay(kLinger));
  });
}

kj::Promise<void> ConnectionGuard::discard_input() {
  if (discarded_.size() == 0) {
    discarded_ = kj::heapArray<kj::byte>(16 * 1024);
  }
  return stream_.tryRead(discarded_.begin(), 1, discarded_.size())
      .then([this](std::size_t n) -> kj::Promise<void> {
        if (n == 0) {
          return kj::READY_NOW;
        }
        return discard_input();
      });
}

std::string ConnectionGuard::unsent_text() const {
  KJ_IF_MAYBE (c, coalescing_) {
    return std::to_string(c->unsent_bytes()) + " bytes unsent";
  }
  return "its socket's send buffer is full";
}

}  // namespace discache::node
