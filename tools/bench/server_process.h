// What a benchmark reads about the server process from /proc: its CPU time
// and resident memory. Linux only; the server runs on this machine.
#pragma once

#include <cstdint>
#include <optional>

namespace discache::bench {

// utime + stime of every thread of process `pid`, in microseconds (the
// kernel counts in clock ticks, usually 10 ms: measure over seconds).
std::optional<double> process_cpu_us(int pid);
// VmRSS of process `pid`, in bytes.
std::optional<std::uint64_t> process_rss_bytes(int pid);

}  // namespace discache::bench
