#include "run_report.h"

#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <unistd.h>

#include <cstdio>

#include "bench_report.capnp.h"
#include "server_process.h"

namespace discache::bench {

RunWindow RunWindow::after(std::chrono::milliseconds warmup, std::chrono::milliseconds duration) {
  const auto start = Clock::now() + warmup;
  return RunWindow{start, start + duration};
}

void ThreadTotals::merge(const ThreadTotals& other) {
  latency.merge(other.latency);
  ops += other.ops;
  keys += other.keys;
  hits += other.hits;
  misses += other.misses;
  errors += other.errors;
  if (first_error.empty()) {
    first_error = other.first_error;
  }
}

std::uint64_t LiveCounters::ops() const {
  std::uint64_t sum = 0;
  for (const auto& s : slots_) {
    sum += s.ops.load(std::memory_order_relaxed);
  }
  return sum;
}

std::uint64_t LiveCounters::errors() const {
  std::uint64_t sum = 0;
  for (const auto& s : slots_) {
    sum += s.errors.load(std::memory_order_relaxed);
  }
  return sum;
}

RunMonitor::RunMonitor(const LoadShape& shape, const RunWindow& window,
                       const LiveCounters& counters)
    : shape_(shape), window_(window), counters_(counters), thread_([this] { run(); }) {}

RunMonitor::~RunMonitor() { finish(); }

double RunMonitor::finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  if (cpu_at_start_ < 0 || cpu_at_end_ < 0) {
    return -1;
  }
  return cpu_at_end_ - cpu_at_start_;
}

void RunMonitor::run() {
  const bool tty = isatty(STDERR_FILENO) != 0;
  const auto begin = Clock::now();
  auto next_line = begin + std::chrono::seconds(1);
  std::uint64_t last_ops = counters_.ops();
  bool started = false;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    // Wake for the next progress line, the window's start or its end.
    auto wake_at = next_line;
    if (!started) {
      wake_at = std::min(wake_at, window_.start);
    } else if (cpu_at_end_ < 0) {
      wake_at = std::min(wake_at, window_.end);
    }
    const bool stopping = wake_.wait_until(lock, wake_at, [this] { return stop_; });
    const auto now = Clock::now();
    if (stopping) {
      // The threads drained before this thread woke at the window's end (a
      // busy machine): read the end now, a few milliseconds late at most.
      if (started && cpu_at_end_ < 0 && shape_.server_pid > 0 && now >= window_.end) {
        cpu_at_end_ = process_cpu_us(shape_.server_pid).value_or(-1);
      }
      return;
    }
    if (!started && now >= window_.start) {
      started = true;
      if (shape_.server_pid > 0) {
        cpu_at_start_ = process_cpu_us(shape_.server_pid).value_or(-1);
      }
    }
    if (started && cpu_at_end_ < 0 && now >= window_.end) {
      cpu_at_end_ = shape_.server_pid > 0 ? process_cpu_us(shape_.server_pid).value_or(-1) : 0;
      if (shape_.server_pid <= 0) {
        cpu_at_start_ = -1;  // not measured
      }
    }
    if (now >= next_line) {
      const std::uint64_t ops = counters_.ops();
      if (tty) {
        const double elapsed = std::chrono::duration<double>(now - begin).count();
        const char* phase = now < window_.start ? "warm-up" : now < window_.end ? "measuring"
                                                                                : "draining";
        fprintf(stderr, "%6.1fs  %-9s  %10.0f ops/s  errors %llu\n", elapsed, phase,
                static_cast<double>(ops - last_ops), static_cast<unsigned long long>(counters_.errors()));
      }
      last_ops = ops;
      next_line += std::chrono::seconds(1);
    }
  }
}

double rss_per_item(int pid, std::uint64_t before, std::uint64_t items) {
  auto after = process_rss_bytes(pid);
  if (!after || items == 0) {
    return -1;
  }
  return (static_cast<double>(*after) - static_cast<double>(before)) / static_cast<double>(items);
}

void print_report(const char* system, const LoadShape& shape, const RunResult& result) {
  const auto& t = result.totals;
  const double seconds = result.window_s > 0 ? result.window_s : 1;
  const double ops_per_s = static_cast<double>(t.ops) / seconds;
  const double keys_per_s = static_cast<double>(t.keys) / seconds;
  const double cpu_per_op =
      result.server_cpu_us >= 0 && t.ops > 0 ? result.server_cpu_us / static_cast<double>(t.ops) : -1;
  const double cpu_per_key =
      result.server_cpu_us >= 0 && t.keys > 0 ? result.server_cpu_us / static_cast<double>(t.keys) : -1;

  if (shape.json) {
    capnp::MallocMessageBuilder message;
    auto r = message.initRoot<BenchReport>();
    r.setSystem(system);
    r.setThreads(shape.threads);
    r.setInFlight(shape.blocking ? 1 : shape.in_flight);
    r.setKeys(static_cast<double>(shape.keys));
    r.setValueSize(static_cast<std::uint32_t>(shape.value_size));
    r.setGetPercent(shape.get_percent);
    r.setDistribution(shape.distribution_name());
    r.setMultiget(static_cast<std::uint32_t>(shape.multiget));
    r.setBlocking(shape.blocking);
    r.setDurationS(result.window_s);
    r.setOps(static_cast<double>(t.ops));
    r.setOpsPerS(ops_per_s);
    r.setKeysPerS(keys_per_s);
    r.setP50Us(t.latency.quantile_us(0.50));
    r.setP99Us(t.latency.quantile_us(0.99));
    r.setP999Us(t.latency.quantile_us(0.999));
    r.setHits(static_cast<double>(t.hits));
    r.setMisses(static_cast<double>(t.misses));
    r.setErrors(static_cast<double>(t.errors));
    r.setServerCpuUsPerOp(cpu_per_op);
    r.setServerCpuUsPerKey(cpu_per_key);
    r.setRssBytesPerItem(result.rss_bytes_per_item);
    r.setPreloadS(result.preload_s);
    capnp::JsonCodec codec;
    codec.handleByAnnotation<BenchReport>();
    printf("%s\n", codec.encode(r.asReader()).cStr());
    fflush(stdout);
    return;
  }

  printf("%s: %u thread%s x %s, %s, %llu keys (%s), %zu-byte values, gets %.0f%%\n", system,
         shape.threads, shape.threads == 1 ? "" : "s",
         shape.blocking ? "1 blocking call" : (std::to_string(shape.in_flight) + " in flight").c_str(),
         shape.multiget > 1 ? ("multiget of " + std::to_string(shape.multiget) + " keys").c_str()
                            : "single-key ops",
         static_cast<unsigned long long>(shape.keys), shape.distribution_name().c_str(),
         shape.value_size, shape.get_percent);
  if (result.preload_s > 0) {
    printf("  preload     %.2f s", result.preload_s);
    if (result.rss_bytes_per_item >= 0) {
      printf(", server RSS %.0f bytes per item", result.rss_bytes_per_item);
    }
    printf("\n");
  }
  if (shape.preload_only) {
    return;
  }
  printf("  throughput  %.0f ops/s", ops_per_s);
  if (shape.multiget > 1) {
    printf(" (%.0f keys/s)", keys_per_s);
  }
  printf(" over %.1f s\n", result.window_s);
  printf("  latency     p50 %.1f us   p99 %.1f us   p99.9 %.1f us\n", t.latency.quantile_us(0.5),
         t.latency.quantile_us(0.99), t.latency.quantile_us(0.999));
  printf("  keys        %llu hits, %llu misses; %llu errors\n",
         static_cast<unsigned long long>(t.hits), static_cast<unsigned long long>(t.misses),
         static_cast<unsigned long long>(t.errors));
  if (cpu_per_op >= 0) {
    printf("  server CPU  %.2f us per op", cpu_per_op);
    if (shape.multiget > 1) {
      printf(", %.3f us per key", cpu_per_key);
    }
    printf(" (pid %d)\n", shape.server_pid);
  }
  if (!t.first_error.empty()) {
    printf("  first error %s\n", t.first_error.c_str());
  }
  fflush(stdout);
}

}  // namespace discache::bench
