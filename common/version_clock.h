// Versions that order writes across clients and replicas.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace discache {

// version = (microseconds since 2025-01-01 << 14) | writer id (14 bits).
// The writer id makes two writers' versions distinct even in the same
// microsecond, so every replica breaks ties the same way (last writer wins by
// version, and replicas converge). 50 bits of microseconds last until 2060.
//
// A hybrid logical clock (Kulkarni et al., 2014): the time part is the larger
// of this host's wall clock and one tick past the newest version this clock
// has seen (observe()). So a version made after seeing another is above it,
// whatever the two hosts' wall clocks say, and while clocks agree a version
// still reads as the time of its write.
// Threads: any thread may call next() and observe() (one atomic word).
class VersionClock {
 public:
  static constexpr int kWriterBits = 14;
  static constexpr std::uint64_t kEpochUs = 1735689600ull * 1000000ull;  // 2025-01-01

  explicit VersionClock(std::uint16_t writer_id) : writer_(writer_id & ((1u << kWriterBits) - 1)) {}
  VersionClock(const VersionClock&) = delete;
  VersionClock& operator=(const VersionClock&) = delete;

  // A version above every one this clock returned or observed before.
  std::uint64_t next() {
    const std::uint64_t now = physical_ticks();
    std::uint64_t last = last_ticks_.load(std::memory_order_relaxed);
    std::uint64_t ticks = 0;
    do {
      // The clock stood still or stepped back, or we saw a newer version.
      ticks = now > last ? now : last + 1;
    } while (!last_ticks_.compare_exchange_weak(last, ticks, std::memory_order_relaxed));
    return (ticks << kWriterBits) | writer_;
  }

  // Remembers `version` (from a reply, a read or a write received), so every
  // later next() is above it. 0 (no version) changes nothing.
  void observe(std::uint64_t version) {
    const std::uint64_t ticks = ticks_of(version);
    std::uint64_t last = last_ticks_.load(std::memory_order_relaxed);
    while (ticks > last &&
           !last_ticks_.compare_exchange_weak(last, ticks, std::memory_order_relaxed)) {
    }
  }

  // The time part of a version: microseconds since kEpochUs (or logical
  // ticks past them, when a clock ran ahead of this one).
  static constexpr std::uint64_t ticks_of(std::uint64_t version) { return version >> kWriterBits; }

 private:
  static std::uint64_t physical_ticks() {
    const auto now_us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
    return now_us > kEpochUs ? now_us - kEpochUs : 0;
  }

  std::uint64_t writer_;
  std::atomic<std::uint64_t> last_ticks_{0};
};

}  // namespace discache
