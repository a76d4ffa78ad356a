// Picks the keys of a benchmark: uniform, or Zipf with the hot ranks
// scattered over the key space (so hot keys do not all land on one node).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace discache::bench {

// The Zipf distribution over `keys` ranks, shared (read-only) by every
// KeyChooser: a cumulative table, built once. Any thread after construction.
class ZipfTable {
 public:
  ZipfTable(std::uint64_t keys, double alpha);
  // The rank (0 = hottest) for a uniform draw u in [0, 1).
  std::uint64_t rank(double u) const;

 private:
  std::vector<double> cumulative_;
};

// One thread's key picker. Not thread-safe: one per load thread.
class KeyChooser {
 public:
  // `zipf` may be null (uniform); it must outlive the chooser.
  KeyChooser(std::uint64_t keys, const ZipfTable* zipf, std::uint64_t seed);

  std::uint64_t next_key();
  // True with probability percent / 100.
  bool chance(double percent);

 private:
  std::uint64_t keys_;
  std::uint64_t multiplier_;  // of scatter()
  const ZipfTable* zipf_;
  std::mt19937_64 rng_;
};

// Rank -> key index: a fixed bijection of [0, keys) that scatters neighbours,
// rank * multiplier + c mod keys, with a multiplier from scatter_multiplier().
std::uint64_t scatter_multiplier(std::uint64_t keys);
std::uint64_t scatter(std::uint64_t rank, std::uint64_t keys, std::uint64_t multiplier);

}  // namespace discache::bench
