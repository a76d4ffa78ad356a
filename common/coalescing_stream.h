// A socket wrapper that makes Cap'n Proto 0.9.2's RPC cheap in syscalls.
#pragma once

#include <kj/async-io.h>

#include <cstddef>
#include <functional>
#include <vector>

namespace discache {

// KJ thread only. Wraps a byte stream so that
// - reads fill a 64 KiB buffer: many RPC messages per read(), where 0.9.2
//   reads each message's header and body separately;
// - writes issued during one event-loop turn leave together in one writev()
//   when the loop is about to sleep (kj::evalLast), or as soon as 4 KiB are
//   queued and no write is in flight.
// Writes resolve at once (0.9.2 chains message N+1's write on message N's
// promise, so a write that waits for its flush would serialise the batch),
// except above a 1 MiB high-water mark, where they wait (backpressure).
// A write of at least the high-water mark (an answer of large values) is
// not copied: it waits for what is queued, then leaves from the caller's
// buffers, which the caller keeps until it resolves; a copy would hold the
// answer twice until the peer reads it.
// A failed flush fails the pending and later reads, so the RPC system learns
// the connection died. docs/design.md and docs/benchmarks.md have the
// measurements.
class CoalescingStream final : public kj::AsyncIoStream {
 public:
  static constexpr std::size_t kReadBuffer = 64 * 1024;
  // An idle connection (always one read pending) holds only this much: the
  // buffer grows to kReadBuffer when a read fills it, and shrinks back when
  // traffic stops, so thousands of idle connections stay cheap.
  static constexpr std::size_t kIdleReadBuffer = 1024;
  static constexpr std::size_t kFlushNow = 4 * 1024;
  static constexpr std::size_t kHighWater = 1024 * 1024;

  explicit CoalescingStream(kj::Own<kj::AsyncIoStream> inner);
  ~CoalescingStream() noexcept(false);

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override;
  kj::Promise<void> write(const void* buffer, size_t size) override;
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  kj::Promise<void> whenWriteDisconnected() override;
  // Takes effect once everything queued has been written.
  void shutdownWrite() override;
  void abortRead() override;
  void getsockopt(int level, int option, void* value, kj::uint* length) override;
  void setsockopt(int level, int option, const void* value, kj::uint length) override;
  void getsockname(struct sockaddr* addr, kj::uint* length) override;
  void getpeername(struct sockaddr* addr, kj::uint* length) override;

  // Bytes written to this stream and not yet taken by the inner one: what a
  // peer that does not read makes us hold (large writes in the caller's
  // buffers included).
  size_t unsent_bytes() const { return queued_.size() + in_flight_.size() + direct_bytes_; }
  // Calls `gauge` with the bytes this stream holds copies of (unsent_bytes()
  // but the large writes, which their caller holds) each time it changes (0
  // when the stream fails or is destroyed): how a node counts queued answers
  // in its budget.
  void set_unsent_gauge(std::function<void(size_t)> gauge) { gauge_ = kj::mv(gauge); }

 private:
  kj::Promise<size_t> read_more(kj::byte* out, size_t min_bytes, size_t max_bytes,
                                size_t already);
  kj::Promise<void> queue_and_maybe_wait(size_t added);
  kj::Promise<void> write_direct(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces,
                                 size_t total);
  // Resolves once nothing is queued or being written.
  kj::Promise<void> until_idle();
  void notify_idle();
  void schedule_flush();
  void flush();
  void fail_writes(kj::Exception&& exception);
  void report_unsent();

  kj::Own<kj::AsyncIoStream> inner_;
  // Read side: bytes [read_start_, read_end_) of read_buffer_ are unread.
  std::vector<kj::byte> read_buffer_;
  size_t read_start_ = 0;
  size_t read_end_ = 0;
  kj::Canceler read_canceler_;
  // Write side: bytes waiting for the next flush, and the ones being written.
  std::vector<kj::byte> queued_;
  std::vector<kj::byte> in_flight_;
  bool flush_scheduled_ = false;
  bool writing_ = false;
  bool shutdown_requested_ = false;
  kj::Maybe<kj::Exception> write_error_;
  std::function<void(size_t)> gauge_;
  // Writers waiting for the queue to drain below the high-water mark.
  std::vector<kj::Own<kj::PromiseFulfiller<void>>> drained_;
  // Large writes waiting for the queue to empty.
  std::vector<kj::Own<kj::PromiseFulfiller<void>>> idle_;
  size_t direct_bytes_ = 0;  // large writes not yet done
  kj::Own<kj::TaskSet::ErrorHandler> errors_;
  kj::TaskSet tasks_;
};

}  // namespace discache
