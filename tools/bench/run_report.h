// What one benchmark run counts, how it tells progress on a terminal, and its
// final report (text, or JSON with --json). Shared by both drivers.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "latency_histogram.h"
#include "load_shape.h"

namespace discache::bench {

using Clock = std::chrono::steady_clock;

// When the warm-up ends and the measured window [start, end) runs. Immutable.
struct RunWindow {
  Clock::time_point start;
  Clock::time_point end;

  static RunWindow after(std::chrono::milliseconds warmup, std::chrono::milliseconds duration);
  bool counts(Clock::time_point completed) const { return completed >= start && completed < end; }
  bool over(Clock::time_point now) const { return now >= end; }
};

// One load thread's counts over the measured window. Owned by its thread
// until it is joined.
struct ThreadTotals {
  LatencyHistogram latency;
  std::uint64_t ops = 0;
  std::uint64_t keys = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t errors = 0;
  std::string first_error;

  void error(std::string_view what) {
    ++errors;
    if (first_error.empty()) {
      first_error = what;
    }
  }
  void merge(const ThreadTotals& other);
};

// Ops completed so far per thread, for the progress line (relaxed atomics,
// one cache line each). Any thread.
class LiveCounters {
 public:
  explicit LiveCounters(unsigned threads) : slots_(threads) {}
  void add(unsigned thread, std::uint64_t ops, std::uint64_t errors) {
    slots_[thread].ops.fetch_add(ops, std::memory_order_relaxed);
    slots_[thread].errors.fetch_add(errors, std::memory_order_relaxed);
  }
  std::uint64_t ops() const;
  std::uint64_t errors() const;

 private:
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> ops{0};
    std::atomic<std::uint64_t> errors{0};
  };
  std::vector<Slot> slots_;
};

// While a run lasts: a line on stderr each second when stderr is a terminal,
// and the server's CPU time read at the window's start and end (--server-pid).
// Owned by the main thread.
class RunMonitor {
 public:
  RunMonitor(const LoadShape& shape, const RunWindow& window, const LiveCounters& counters);
  ~RunMonitor();
  // Stops the progress line; returns the server's CPU µs over the window, or
  // -1 when not measured.
  double finish();

 private:
  void run();

  const LoadShape& shape_;
  RunWindow window_;
  const LiveCounters& counters_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  double cpu_at_start_ = -1;
  double cpu_at_end_ = -1;
  std::thread thread_;
};

// The outcome of a run, for print_report.
struct RunResult {
  ThreadTotals totals;
  double window_s = 0;
  double server_cpu_us = -1;     // over the window
  double rss_bytes_per_item = -1;
  double preload_s = 0;
};

// Prints the final report on stdout: text, or one JSON object (--json).
void print_report(const char* system, const LoadShape& shape, const RunResult& result);

// The server's RSS growth per item over a preload of `items` keys.
double rss_per_item(int pid, std::uint64_t before, std::uint64_t items);

}  // namespace discache::bench
