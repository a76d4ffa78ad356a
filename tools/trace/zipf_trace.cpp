#include "zipf_trace.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace discache::trace {

std::vector<std::uint64_t> generate_trace(const TraceSpec& spec,
                                          const std::function<void(std::uint64_t)>& progress) {
  // Inverse CDF over the ranks: 8 bytes per key, a binary search per draw.
  std::vector<double> cdf(spec.keys);
  double sum = 0;
  for (std::uint64_t i = 0; i < spec.keys; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), spec.alpha);
    cdf[i] = sum;
  }
  for (double& c : cdf) {
    c /= sum;
  }
  std::mt19937_64 rng(spec.seed);
  auto draw = [&]() {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    return static_cast<std::uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
  };

  // Scans are spread evenly: one starts after every `gap` Zipf requests.
  const auto scan_requests =
      static_cast<std::uint64_t>(spec.scan_fraction * static_cast<double>(spec.requests));
  const std::uint64_t scans = spec.scan_length == 0 ? 0 : scan_requests / spec.scan_length;
  const std::uint64_t zipf_requests = spec.requests - scans * spec.scan_length;
  const std::uint64_t gap = zipf_requests / (scans + 1);

  std::vector<std::uint64_t> out;
  out.reserve(spec.requests);
  std::uint64_t next_scan_id = spec.keys;
  std::uint64_t since_scan = 0;
  std::uint64_t scans_done = 0;
  const std::uint64_t step = std::max<std::uint64_t>(1, spec.requests / 100);
  while (out.size() < spec.requests) {
    if (scans_done < scans && since_scan == gap) {
      for (std::uint64_t i = 0; i < spec.scan_length && out.size() < spec.requests; ++i) {
        out.push_back(next_scan_id++);
      }
      ++scans_done;
      since_scan = 0;
    } else {
      out.push_back(draw());
      ++since_scan;
    }
    if (progress && out.size() % step == 0) {
      progress(out.size());
    }
  }
  return out;
}

}  // namespace discache::trace
