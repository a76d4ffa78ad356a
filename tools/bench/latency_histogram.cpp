#include "latency_histogram.h"

#include <bit>

namespace discache::bench {

int LatencyHistogram::bucket_of(std::uint64_t value) {
  if (value < kSub) {
    return static_cast<int>(value);
  }
  const int top = 63 - std::countl_zero(value);  // >= kSubBits
  const int shift = top - kSubBits;
  const int sub = static_cast<int>((value >> shift) & (kSub - 1));
  return (shift + 1) * kSub + sub;
}

std::uint64_t LatencyHistogram::bucket_middle(int bucket) {
  if (bucket < kSub) {
    return static_cast<std::uint64_t>(bucket);
  }
  const int shift = bucket / kSub - 1;
  const std::uint64_t sub = static_cast<std::uint64_t>(bucket % kSub);
  const std::uint64_t low = (std::uint64_t{kSub} + sub) << shift;
  return low + (std::uint64_t{1} << shift) / 2;
}

void LatencyHistogram::record(std::uint64_t nanoseconds) {
  ++counts_[bucket_of(nanoseconds)];
  ++count_;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) {
    counts_[i] += other.counts_[i];
  }
  count_ += other.count_;
}

double LatencyHistogram::quantile_us(double quantile) const {
  if (count_ == 0) {
    return 0;
  }
  // The smallest value with at least quantile * count values at or below it.
  auto rank = static_cast<std::uint64_t>(quantile * static_cast<double>(count_) + 0.5);
  if (rank < 1) {
    rank = 1;
  }
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      return static_cast<double>(bucket_middle(i)) / 1000.0;
    }
  }
  return static_cast<double>(bucket_middle(kBuckets - 1)) / 1000.0;
}

}  // namespace discache::bench
