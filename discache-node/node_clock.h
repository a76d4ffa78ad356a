// The wall clock a node stamps items with.
#pragma once

#include <chrono>
#include <cstdint>

namespace discache::node {

// Wall-clock milliseconds: item expiry, and the first incarnation of a node
// (so a restarted node's news beats its old entry). Any thread.
inline std::uint64_t node_now_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace discache::node
