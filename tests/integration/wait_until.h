// Polling a condition with a deadline, instead of sleeping and hoping.
#pragma once

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

namespace discache::testing {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// A deadline `timeout` from now.
inline Deadline deadline_in(std::chrono::milliseconds timeout) { return Clock::now() + timeout; }

// Evaluates `done()` until it returns true (returns true) or `deadline` passes
// (returns false). The condition is always evaluated at least once, and once
// more after the deadline, so a slow final poll is not lost. Polls start
// every 5 ms and back off to every 100 ms. Any thread.
template <typename Predicate>
bool wait_until(Predicate&& done, Deadline deadline) {
  auto interval = std::chrono::milliseconds(5);
  while (true) {
    if (done()) {
      return true;
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      return false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    std::this_thread::sleep_for(std::min(interval, left + std::chrono::milliseconds(1)));
    interval = std::min(interval * 2, std::chrono::milliseconds(100));
  }
}

template <typename Predicate>
bool wait_until(Predicate&& done, std::chrono::milliseconds timeout) {
  return wait_until(std::forward<Predicate>(done), deadline_in(timeout));
}

}  // namespace discache::testing
