// The bound on what an application's queued operations may hold
// (ClientOptions::max_queued_bytes).
#pragma once

#include <atomic>
#include <cstdint>

namespace discache::detail {

// Any thread. Bytes of keys and values of operations submitted and not yet
// completed. An operation that would take the count past the limit is
// refused at once with Errc::overloaded (never blocked: a caller may be an
// I/O thread or a completion handler, which must not wait).
class QueuedBytes {
 public:
  // Counts its bytes from creation until destroyed (the operation ends).
  class Token {
   public:
    Token() = default;
    Token(QueuedBytes* owner, std::uint64_t bytes) : owner_(owner), bytes_(bytes) {}
    Token(Token&& other) noexcept : owner_(other.owner_), bytes_(other.bytes_) {
      other.owner_ = nullptr;
    }
    Token& operator=(Token&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = other.owner_;
        bytes_ = other.bytes_;
        other.owner_ = nullptr;
      }
      return *this;
    }
    ~Token() { release(); }

   private:
    void release() {
      if (owner_ != nullptr) {
        owner_->count_.fetch_sub(bytes_, std::memory_order_relaxed);
        owner_ = nullptr;
      }
    }
    QueuedBytes* owner_ = nullptr;
    std::uint64_t bytes_ = 0;
  };

  explicit QueuedBytes(std::uint64_t limit) : limit_(limit) {}

  // A token for `bytes`, or an empty one (false) when they do not fit. A
  // lone operation larger than the limit is let through when nothing else
  // is queued, so no operation is refused for ever.
  bool try_take(std::uint64_t bytes, Token& out) {
    std::uint64_t now = count_.load(std::memory_order_relaxed);
    do {
      if (now != 0 && now + bytes > limit_) {
        return false;
      }
    } while (!count_.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
    out = Token(this, bytes);
    return true;
  }
  std::uint64_t in_use() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::uint64_t limit_;
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace discache::detail
