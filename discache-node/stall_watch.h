// Tells a stopped event loop from a busy one, by the clocks it reads between turns.
#pragma once

#include <chrono>
#include <optional>

namespace discache::node {

// One loop's thread only; time is passed in, so it is tested without waiting.
//
// The loop ticks it every threshold / 4 and asks overdue() before it serves.
// A gap since the last tick longer than the threshold means the loop could
// not run its timer: either one turn kept it busy that long (its thread's
// CPU time grew by about the gap), or the thread did not run at all: the
// process was stopped (SIGSTOP, a paused VM or container) or starved of CPU.
// Only the time off the CPU counts as a stall. Both kinds of stall make
// clients time out and write elsewhere, but a busy turn is this node's own
// work (say, scanning a large store for a handoff): counting it would make a
// node forget its store because a peer asked it to refill another, and a
// refill would then cascade through the cluster.
//
// Every stop longer than the threshold is reported. The gap also holds up
// to one tick interval of ordinary idle wait, so a stop from about three
// quarters of the threshold may be reported too: erring towards forgetting,
// which is safe for a cache.
class StallWatch {
 public:
  using Nanos = std::chrono::nanoseconds;
  struct Stall {
    Nanos began;    // the last tick before the stall (monotonic)
    Nanos off_cpu;  // how long the thread did not run since then
  };

  // A zero threshold never reports a stall.
  explicit StallWatch(Nanos threshold) : threshold_(threshold) {}

  bool enabled() const { return threshold_.count() > 0; }
  Nanos tick_interval() const { return threshold_ / 4; }

  // The cheap test for every turn (one comparison): could the thread have
  // stalled since the last tick? False before the first tick, so a loop
  // that waited for its siblings to start is not counted as stopped.
  bool overdue(Nanos now) const { return started_ && enabled() && now - last_tick_ > threshold_; }

  // Starts a new interval at `now` (monotonic) with `cpu` (the thread's CPU
  // time), and returns the stall the last interval held, if any.
  std::optional<Stall> tick(Nanos now, Nanos cpu) {
    std::optional<Stall> stall;
    if (started_ && enabled()) {
      const Nanos off_cpu = (now - last_tick_) - (cpu - cpu_at_tick_);
      if (off_cpu > threshold_) {
        stall = Stall{last_tick_, off_cpu};
      }
    }
    started_ = true;
    last_tick_ = now;
    cpu_at_tick_ = cpu;
    return stall;
  }

 private:
  Nanos threshold_;
  bool started_ = false;
  Nanos last_tick_{0};
  Nanos cpu_at_tick_{0};
};

}  // namespace discache::node
