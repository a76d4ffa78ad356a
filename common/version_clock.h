// Versions that order writes across clients and replicas.
#pragma once

#include <chrono>
#include <cstdint>

namespace discache {

// version = (microseconds since 2025-01-01 << 14) | writer id (14 bits).
// The writer id makes two writers' versions distinct even in the same
// microsecond, so every replica breaks ties the same way (last writer wins by
// version, and replicas converge). 50 bits of microseconds last until 2060.
// Not thread-safe: one per thread (the client's I/O thread, a node's loop).
class VersionClock {
 public:
  static constexpr int kWriterBits = 14;
  static constexpr std::uint64_t kEpochUs = 1735689600ull * 1000000ull;  // 2025-01-01

  explicit VersionClock(std::uint16_t writer_id) : writer_(writer_id & ((1u << kWriterBits) - 1)) {}

  // A version above every one this clock returned before.
  std::uint64_t next() {
    const auto now_us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
    std::uint64_t ticks = now_us > kEpochUs ? now_us - kEpochUs : 0;
    if (ticks <= last_ticks_) {
      ticks = last_ticks_ + 1;  // the clock stood still or stepped back
    }
    last_ticks_ = ticks;
    return (ticks << kWriterBits) | writer_;
  }

 private:
  std::uint64_t writer_;
  std::uint64_t last_ticks_ = 0;
};

}  // namespace discache
