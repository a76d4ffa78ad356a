// Synthetic cache traces: key ids drawn from a Zipf distribution, optionally
// with scans (runs of keys read once each) mixed in.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace discache::trace {

struct TraceSpec {
  std::uint64_t keys = 1'000'000;      // Zipf universe: ids 0..keys-1, id 0 the most popular
  std::uint64_t requests = 2'000'000;  // total, scans included
  double alpha = 0.99;
  // Share of requests that belong to scans, and the length of one scan.
  // Scan ids start at `keys` and are never repeated: each is read once.
  double scan_fraction = 0;
  std::uint64_t scan_length = 100'000;
  std::uint64_t seed = 1;
};

// The requests, in order. Deterministic for a given spec on any platform
// (own uniform-double conversion, mt19937_64). `progress(done)` is called
// every 1% of the requests when set.
std::vector<std::uint64_t> generate_trace(const TraceSpec& spec,
                                          const std::function<void(std::uint64_t)>& progress = {});

}  // namespace discache::trace
