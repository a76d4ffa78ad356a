#include "connection_guard.h"

#include <capnp/rpc.capnp.h>
#include <kj/debug.h>

#include "kj_duration.h"

namespace discache::node {
namespace {

std::string duration_text(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) {
    return std::to_string(ms.count() / 1000) + "s";
  }
  return std::to_string(ms.count()) + "ms";
}

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
                                 std::string peer, kj::Function<bool()> spans_stall)
    : inner_(stream),
      coalescing_(coalescing),
      limits_(limits),
      timer_(timer),
      log_(log),
      peer_(std::move(peer)),
      spans_stall_(kj::mv(spans_stall)),
      last_progress_(timer.now()) {}

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
  return paf.promise.exclusiveJoin(kj::mv(warn)).then([this]() {
    return wait_until_answers_move();
  });
}

kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> ConnectionGuard::tryReadMessage(
    kj::ArrayPtr<kj::AutoCloseFd> fd_space, capnp::ReaderOptions options,
    kj::ArrayPtr<capnp::word> scratch_space) {
  using Result = kj::Maybe<capnp::MessageReaderAndFds>;
  return wait_until_answers_move()
      .then([this, fd_space, options, scratch_space]() {
        return inner_.tryReadMessage(fd_space, options, scratch_space);
      })
      .then(
          [this](Result&& message) -> Result {
            last_progress_ = timer_.now();
            if (message != nullptr && spans_stall_()) {
              return nullptr;  // as if the peer had closed: it reconnects
            }
            KJ_IF_MAYBE (m, message) {
              count_call(*m->reader);
            }
            return kj::mv(message);
          },
          [this](kj::Exception&& e) -> Result {
            if (e.getType() != kj::Exception::Type::DISCONNECTED) {
              // The RPC system ends the connection without a word: say why.
              log_.write(LimitKind::bad_message,
                         "closed connection from " + peer_ + ": " + short_reason(e));
            }
            kj::throwFatalException(kj::mv(e));
          });
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
  ++writes_pending_;
  auto moved = [this]() {
    --writes_pending_;
    KJ_IF_MAYBE (f, answers_moved_) {
      (*f)->fulfill();
      answers_moved_ = nullptr;
    }
  };
  return write.then(
      [this, moved]() {
        last_progress_ = timer_.now();
        moved();
      },
      [moved](kj::Exception&& e) {
        moved();
        kj::throwFatalException(kj::mv(e));
      });
}

kj::Promise<void> ConnectionGuard::writeMessage(
    kj::ArrayPtr<const int> fds, kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  // evalNow: a socket write can throw at once (EPIPE); it must still be counted.
  return track_write(kj::evalNow([&]() { return inner_.writeMessage(fds, segments); }));
}

kj::Promise<void> ConnectionGuard::writeMessages(
    kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) {
  return track_write(kj::evalNow([&]() { return inner_.writeMessages(messages); }));
}

kj::Maybe<int> ConnectionGuard::getSendBufferSize() {
  return inner_.getSendBufferSize();
}

kj::Promise<void> ConnectionGuard::end() {
  return inner_.end();
}

std::string ConnectionGuard::unsent_text() const {
  KJ_IF_MAYBE (c, coalescing_) {
    return std::to_string(c->unsent_bytes()) + " bytes unsent";
  }
  return "its socket's send buffer is full";
}

}  // namespace discache::node
