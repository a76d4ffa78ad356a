// Tells a stopped event loop from a busy or starved one, by the clocks it reads between turns.
#pragma once

#include <chrono>
#include <optional>

namespace discache::node {

// One loop's thread only; time is passed in, so it is tested without waiting.
//
// The loop ticks it every threshold / 4 and asks overdue() before it serves.
// A gap since the last tick longer than the threshold means the loop could
// not run its timer, for one of three reasons, told apart by what the
// thread's scheduler counters gained over the gap:
// - it was busy: one turn ran that long (its CPU time grew by about the gap);
// - it was starved: it waited for a CPU (its run-queue wait grew);
// - it was stopped: neither (SIGSTOP, a paused container or VM).
// Only the stopped time counts as a stall. All three make clients time out
// and write elsewhere, but a busy turn is this node's own work (say,
// scanning a large store for a handoff), and counting it would make a node
// forget its store because a peer asked it to refill another, a cascade; a
// starved thread is load, and counting it would make every node of a busy
// machine forget now and then, losing keys when two owners do.
//
// Every stop longer than the threshold is reported. The gap also holds up
// to one tick interval of ordinary idle wait, so a stop from about three
// quarters of the threshold may be reported too: erring towards forgetting,
// which is safe for a cache.
class StallWatch {
 public:
  using Nanos = std::chrono::nanoseconds;
  // What the thread's scheduler counters say it did so far.
  struct ThreadTimes {
    Nanos ran{0};     // on a CPU
    Nanos waited{0};  // runnable, waiting for a CPU (0 where the kernel does not say)
  };
  struct Stall {
    Nanos began;    // the last tick before the stall (monotonic)
    Nanos stopped;  // how long the thread neither ran nor waited to run since then
  };

  // A zero threshold never reports a stall.
  explicit StallWatch(Nanos threshold) : threshold_(threshold) {}

  bool enabled() const { return threshold_.count() > 0; }
  Nanos tick_interval() const { return threshold_ / 4; }

  // The cheap test for every turn (one comparison): could the thread have
  // stalled since the last tick? False before the first tick, so a loop
  // that waited for its siblings to start is not counted as stopped.
  bool overdue(Nanos now) const { return started_ && enabled() && now - last_tick_ > threshold_; }

  // Starts a new interval at `now` (monotonic) with the thread's counters
  // `times`, and returns the stall the last interval held, if any.
  std::optional<Stall> tick(Nanos now, ThreadTimes times) {
    std::optional<Stall> stall;
    if (started_ && enabled()) {
      const Nanos stopped =
          (now - last_tick_) - (times.ran - at_tick_.ran) - (times.waited - at_tick_.waited);
      if (stopped > threshold_) {
        stall = Stall{last_tick_, stopped};
      }
    }
    started_ = true;
    last_tick_ = now;
    at_tick_ = times;
    return stall;
  }

 private:
  Nanos threshold_;
  bool started_ = false;
  Nanos last_tick_{0};
  ThreadTimes at_tick_;
};

}  // namespace discache::node
