#include "coalescing_stream.h"
#include "task_failures.h"

#include <kj/debug.h>

#include <cstring>

namespace discache {
CoalescingStream::CoalescingStream(kj::Own<kj::AsyncIoStream> inner)
    : inner_(kj::mv(inner)),
      read_buffer_(kIdleReadBuffer),
      errors_(kj::heap<IgnoreTaskFailures>()),
      tasks_(*errors_) {}

CoalescingStream::~CoalescingStream() noexcept(false) {
  read_canceler_.cancel("stream destroyed");
  queued_.clear();
  in_flight_.clear();
  report_unsent();
}

void CoalescingStream::report_unsent() {
  if (gauge_) {
    gauge_(queued_.size() + in_flight_.size());
  }
}

// ---- reads -------------------------------------------------------------------

kj::Promise<size_t> CoalescingStream::tryRead(void* buffer, size_t min_bytes, size_t max_bytes) {
  auto* out = static_cast<kj::byte*>(buffer);
  const size_t buffered = read_end_ - read_start_;
  const size_t take = kj::min(buffered, max_bytes);
  if (take > 0) {  // `out` may be null for an empty read (found by tests/fuzz)
    memcpy(out, read_buffer_.data() + read_start_, take);
  }
  read_start_ += take;
  if (take >= min_bytes) {
    return take;
  }
  return read_more(out, min_bytes, max_bytes, take);
}

kj::Promise<size_t> CoalescingStream::read_more(kj::byte* out, size_t min_bytes,
                                                size_t max_bytes, size_t already) {
  KJ_IF_MAYBE(e, write_error_) {
    return kj::cp(*e);
  }
  const size_t want_min = min_bytes - already;
  const size_t want_max = max_bytes - already;
  if (want_max >= kReadBuffer) {
    // A big read goes straight into the caller's buffer: no copy.
    return read_canceler_.wrap(inner_->tryRead(out + already, want_min, want_max))
        .then([already](size_t n) { return already + n; });
  }
  read_start_ = 0;
  read_end_ = 0;
  if (want_min > read_buffer_.size()) {
    read_buffer_.resize(kReadBuffer);
  }
  return read_canceler_.wrap(inner_->tryRead(read_buffer_.data(), want_min, read_buffer_.size()))
      .then([this, out, already, want_min, want_max](size_t n) {
        if (n == read_buffer_.size() && n < kReadBuffer) {
          read_buffer_.resize(kReadBuffer);  // traffic: read ahead in big gulps
        } else if (n < kIdleReadBuffer && read_buffer_.size() > kIdleReadBuffer &&
                   n <= want_max) {
          // Quiet again, and everything read goes to the caller: give the
          // memory back before the next (maybe long) wait.
          std::vector<kj::byte> small(kIdleReadBuffer);
          memcpy(small.data(), read_buffer_.data(), n);
          read_buffer_.swap(small);
        }
        read_end_ = n;
        const size_t take = kj::min(n, want_max);
        memcpy(out + already, read_buffer_.data(), take);
        read_start_ = take;
        // Fewer than asked means EOF: return short, as the inner stream did.
        (void)want_min;
        return already + take;
      });
}

void CoalescingStream::abortRead() {
  read_canceler_.cancel("read aborted");
  inner_->abortRead();
}

// ---- writes ------------------------------------------------------------------

kj::Promise<void> CoalescingStream::write(const void* buffer, size_t size) {
  KJ_IF_MAYBE(e, write_error_) {
    return kj::cp(*e);
  }
  auto* bytes = static_cast<const kj::byte*>(buffer);
  queued_.insert(queued_.end(), bytes, bytes + size);
  return queue_and_maybe_wait(size);
}

kj::Promise<void> CoalescingStream::write(
    kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  KJ_IF_MAYBE(e, write_error_) {
    return kj::cp(*e);
  }
  size_t total = 0;
  for (auto piece : pieces) {
    total += piece.size();
  }
  if (total >= kHighWater) {
    return write_direct(pieces, total);
  }
  size_t added = 0;
  for (auto piece : pieces) {
    queued_.insert(queued_.end(), piece.begin(), piece.end());
    added += piece.size();
  }
  return queue_and_maybe_wait(added);
}

kj::Promise<void> CoalescingStream::queue_and_maybe_wait(size_t /*added*/) {
  report_unsent();
  if (!writing_ && queued_.size() >= kFlushNow) {
    flush();  // enough for a full packet: do not wait for the turn to end
  } else {
    schedule_flush();
  }
  if (queued_.size() + in_flight_.size() < kHighWater) {
    return kj::READY_NOW;
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  drained_.push_back(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

kj::Promise<void> CoalescingStream::write_direct(
    kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces, size_t total) {
  direct_bytes_ += total;
  auto done = [this, total]() { direct_bytes_ -= total; };
  return until_idle()
      .then([this, pieces]() {
        KJ_IF_MAYBE (e, write_error_) {
          return kj::Promise<void>(kj::cp(*e));
        }
        writing_ = true;
        // evalNow: a socket write can throw at once (EPIPE).
        return kj::evalNow([&]() { return inner_->write(pieces); });
      })
      .then(
          [this, done]() {
            done();
            writing_ = false;
            flush();  // what queued up meanwhile (nothing, from the RPC system)
          },
          [this, done](kj::Exception&& e) {
            done();
            fail_writes(kj::cp(e));
            kj::throwFatalException(kj::mv(e));
          });
}

kj::Promise<void> CoalescingStream::until_idle() {
  if (!writing_ && queued_.empty() && in_flight_.empty()) {
    return kj::READY_NOW;
  }
  if (!writing_) {
    flush();
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  idle_.push_back(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

void CoalescingStream::notify_idle() {
  if (writing_ || !queued_.empty() || !in_flight_.empty()) {
    return;
  }
  auto waiting = kj::mv(idle_);
  idle_.clear();
  for (auto& f : waiting) {
    f->fulfill();
  }
}

void CoalescingStream::schedule_flush() {
  if (flush_scheduled_) {
    return;
  }
  flush_scheduled_ = true;
  // evalLast, not evalLater: it runs once everything else queued this turn
  // (the RPC system's next writes included) has run.
  tasks_.add(kj::evalLast([this]() {
    flush_scheduled_ = false;
    if (!writing_) {
      flush();
    }
  }));
}

void CoalescingStream::flush() {
  if (write_error_ != nullptr) {
    return;
  }
  if (queued_.empty()) {
    if (shutdown_requested_) {
      inner_->shutdownWrite();
      shutdown_requested_ = false;
    }
    return;
  }
  writing_ = true;
  in_flight_.swap(queued_);
  queued_.clear();
  // evalNow: KJ's socket write() throws synchronously on EPIPE/ECONNRESET;
  // the failure must still reach fail_writes() (and so the pending reads).
  tasks_.add(kj::evalNow([this]() { return inner_->write(in_flight_.data(), in_flight_.size()); })
                 .then(
                     [this]() {
                       writing_ = false;
                       // A large answer's buffer goes back to the kernel:
                       // kept, its pages stay resident unaccounted for (the
                       // unsent gauge counts bytes queued, not capacity).
                       if (in_flight_.capacity() > kReadBuffer) {
                         in_flight_ = {};
                       } else {
                         in_flight_.clear();
                       }
                       report_unsent();
                       if (queued_.size() + in_flight_.size() < kHighWater) {
                         for (auto& f : drained_) {
                           f->fulfill();
                         }
                         drained_.clear();
                       }
                       // What queued up meanwhile leaves at once: it already waited.
                       flush();
                       notify_idle();
                     },
                     [this](kj::Exception&& e) { fail_writes(kj::mv(e)); }));
}

void CoalescingStream::fail_writes(kj::Exception&& exception) {
  writing_ = false;
  for (auto& f : drained_) {
    f->reject(kj::cp(exception));
  }
  drained_.clear();
  for (auto& f : idle_) {
    f->reject(kj::cp(exception));
  }
  idle_.clear();
  // Writes resolved early, so the RPC system only learns of the failure
  // through its reads: fail them.
  read_canceler_.cancel(exception);
  write_error_ = kj::mv(exception);
  // Nothing queued will ever be sent: give the memory back.
  queued_ = {};
  in_flight_ = {};
  report_unsent();
}

kj::Promise<void> CoalescingStream::whenWriteDisconnected() {
  return inner_->whenWriteDisconnected();
}

void CoalescingStream::shutdownWrite() {
  shutdown_requested_ = true;
  if (!writing_ && !flush_scheduled_) {
    flush();
  }
}

// ---- pass-through --------------------------------------------------------------

void CoalescingStream::getsockopt(int level, int option, void* value, kj::uint* length) {
  inner_->getsockopt(level, option, value, length);
}
void CoalescingStream::setsockopt(int level, int option, const void* value, kj::uint length) {
  inner_->setsockopt(level, option, value, length);
}
void CoalescingStream::getsockname(struct sockaddr* addr, kj::uint* length) {
  inner_->getsockname(addr, length);
}
void CoalescingStream::getpeername(struct sockaddr* addr, kj::uint* length) {
  inner_->getpeername(addr, length);
}

}  // namespace discache
