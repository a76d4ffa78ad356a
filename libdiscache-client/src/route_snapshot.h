// What a blocking read needs to route on the caller's own thread.
#pragma once

#include <chrono>
#include <discache/member.hpp>
#include <memory>
#include <mutex>
#include <vector>

#include "hash_ring.h"

namespace discache::detail {

// An immutable copy of the I/O thread's routing state: the ring, the members
// in ring order, which of them this client holds down, N, and until when a
// ring transition lasts (a miss must then also ask previous owners, which
// only the I/O thread does). Published after each change; read by any thread.
struct RouteSnapshot {
  HashRing ring;
  std::vector<Member> members;  // aligned with ring.nodes()
  std::vector<bool> down;       // aligned with members
  std::size_t replicas = 1;
  std::chrono::steady_clock::time_point transition_until{};
};

// The latest RouteSnapshot, swapped whole under a mutex held for a pointer copy.
class RouteBoard {
 public:
  // Any thread. The latest snapshot, or null before the first.
  std::shared_ptr<const RouteSnapshot> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  // Any thread. Replaces the snapshot.
  void publish(std::shared_ptr<const RouteSnapshot> snapshot) {
    std::lock_guard lock(mutex_);
    current_ = std::move(snapshot);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const RouteSnapshot> current_;
};

}  // namespace discache::detail
