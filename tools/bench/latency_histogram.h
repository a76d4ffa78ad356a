// Latencies in a log-linear histogram (about 1.6% resolution), cheap enough
// to record every operation; one per thread, merged at the end.
#pragma once

#include <array>
#include <cstdint>

namespace discache::bench {

// Not thread-safe: one per thread, merge() afterwards.
class LatencyHistogram {
 public:
  void record(std::uint64_t nanoseconds);
  void merge(const LatencyHistogram& other);
  std::uint64_t count() const { return count_; }
  // The latency at `quantile` (0.5, 0.99, ...) in microseconds; 0 when empty.
  double quantile_us(double quantile) const;

 private:
  // Values below 64 ns have a bucket each; above, each power of two is split
  // into 64 sub-buckets.
  static constexpr int kSubBits = 6;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = kSub * (64 - kSubBits + 1);
  static int bucket_of(std::uint64_t value);
  static std::uint64_t bucket_middle(int bucket);

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
};

}  // namespace discache::bench
