// Which keys this client is still writing, so a read on another connection
// does not overtake the client's own write.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "hash_ring.h"

namespace discache::detail {

// Writes (puts, deletes) from submission until every replica answered or
// failed, counted in 64 stripes by key hash. A blocking read on the caller's
// own connection could overtake such a write on the I/O thread's connection
// (the client's own write not yet visible to it), so it takes the I/O
// thread's path while its key's stripe is busy. Any thread.
class WritesInFlight {
 public:
  // Held by a write while it is in flight; releases its stripe when destroyed.
  class Token {
   public:
    Token() = default;
    Token(std::atomic<std::uint32_t>* stripe) : stripe_(stripe) { stripe_->fetch_add(1); }
    Token(Token&& other) noexcept : stripe_(other.stripe_) { other.stripe_ = nullptr; }
    Token& operator=(Token&& other) noexcept {
      if (this != &other) {
        release();
        stripe_ = other.stripe_;
        other.stripe_ = nullptr;
      }
      return *this;
    }
    ~Token() { release(); }

   private:
    void release() {
      if (stripe_ != nullptr) {
        stripe_->fetch_sub(1);
        stripe_ = nullptr;
      }
    }
    std::atomic<std::uint32_t>* stripe_ = nullptr;
  };

  // Marks a write of `key` in flight until the token is destroyed.
  Token track(std::string_view key) { return Token(&stripe_of(key)); }
  // True while some write in `key`'s stripe is in flight.
  bool busy(std::string_view key) const { return stripe_of(key).load() != 0; }

 private:
  std::atomic<std::uint32_t>& stripe_of(std::string_view key) const {
    return stripes_[HashRing::hash_key(key) % stripes_.size()];
  }
  mutable std::array<std::atomic<std::uint32_t>, 64> stripes_{};
};

}  // namespace discache::detail
