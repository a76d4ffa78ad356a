// What anti-entropy costs on real discache-node processes: two nodes,
// replicas 2, N identical items on both (written straight to each node with
// the same versions). Measures the nodes' CPU per round when nothing
// differs, then the bytes and rounds it takes to repair k keys that one node
// missed. Not a test (timings vary by machine): run it by hand, see
// docs/benchmarks.md.
//
//   export DISCACHE_NODE=build/discache-node/discache-node
//   export DISCACHE_CTL=build/tools/ctl/discache-ctl
//   build/tests/replication/anti-entropy-bench [--items 400000] [--interval-ms 2000]
#include <unistd.h>

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "direct_nodes.h"
#include "local_cluster.h"
#include "version_clock.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "anti-entropy-bench: %s\n", why.c_str());
  std::exit(2);
}

// CPU seconds (user + system) the process has used so far.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  // Fields after the command name (which may hold spaces) in parentheses.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) {
      utime = std::stoull(field);
    } else if (i == 15) {
      stime = std::stoull(field);
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::size_t arg_of(int argc, char** argv, const char* name, std::size_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) {
      std::size_t value = 0;
      std::from_chars(argv[i + 1], argv[i + 1] + std::strlen(argv[i + 1]), value);
      return value;
    }
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each figure as soon as it is known
  const std::size_t items = arg_of(argc, argv, "--items", 400000);
  const std::size_t interval_ms = arg_of(argc, argv, "--interval-ms", 2000);
  ClusterOptions options;
  options.nodes = 2;
  options.replicas = 2;
  options.node_args = {"--anti-entropy-interval",
                       std::to_string(interval_ms) + "ms",
                       "--memory",
                       "256MiB",
                       "--threads",
                       "1"};
  auto cluster = LocalCluster::start(options);
  if (!cluster) {
    die(cluster.error());
  }
  DirectNodes direct;
  std::vector<std::string> addresses{cluster->node(0).address(), cluster->node(1).address()};
  std::vector<pid_t> pids{*cluster->node(0).pid(), *cluster->node(1).pid()};

  auto totals = [&]() {
    DirectNodes::AntiEntropyFigures sum;
    for (const auto& address : addresses) {
      auto f = direct.anti_entropy(address);
      sum.rounds += f.rounds;
      sum.repaired += f.repaired;
      sum.bytes += f.bytes;
    }
    return sum;
  };
  auto cpu = [&]() { return cpu_seconds(pids[0]) + cpu_seconds(pids[1]); };
  // Waits for `rounds` more finished exchanges; returns the figures then.
  auto after_rounds = [&](std::uint64_t rounds) {
    const auto start = totals();
    DirectNodes::AntiEntropyFigures now = start;
    const bool done = wait_until(
        [&]() {
          now = totals();
          return now.rounds >= start.rounds + rounds;
        },
        std::chrono::milliseconds(interval_ms * (rounds + 2) * 20));
    if (!done) {
      die("anti-entropy rounds did not finish in time");
    }
    return now;
  };

  // Idle cost: nodes with nothing stored, over the same number of rounds.
  after_rounds(1);
  const auto idle_start = Clock::now();
  double idle_cpu = cpu();
  after_rounds(3);
  const double idle_rate =
      (cpu() - idle_cpu) / std::chrono::duration<double>(Clock::now() - idle_start).count();

  discache::VersionClock clock(99);
  std::vector<VersionedPut> puts;
  puts.reserve(items);
  for (std::size_t i = 0; i < items; ++i) {
    puts.push_back({"item-" + std::to_string(i), std::string(100, 'v'), clock.next()});
  }
  for (const auto& address : addresses) {
    if (direct.put_all(address, puts) != items) {
      die("not every item was stored on " + address + " (raise --memory?)");
    }
  }
  std::printf("items %zu (100-byte values) on each of 2 nodes, replicas 2, interval %zu ms\n",
              items, interval_ms);
  after_rounds(1);  // the digests of a round that began during the load may differ
  const auto quiet = totals();
  const auto start = Clock::now();
  const double cpu_before = cpu();
  const auto after = after_rounds(5);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double spent = cpu() - cpu_before - idle_rate * seconds;
  const std::uint64_t rounds = after.rounds - quiet.rounds;
  std::printf("nothing differs: %" PRIu64
              " rounds, %.1f ms CPU per round (both nodes, idle "
              "%.2f%% of a core subtracted), %.0f bytes per round, %" PRIu64 " repaired\n",
              rounds, spent * 1000 / static_cast<double>(rounds), idle_rate * 100,
              static_cast<double>(after.bytes - quiet.bytes) / static_cast<double>(rounds),
              after.repaired - quiet.repaired);

  std::size_t next = 0;
  for (std::size_t k : {1, 10, 100, 1000, 10000}) {
    if (k > items) {
      break;
    }
    std::vector<VersionedPut> newer;
    for (std::size_t i = 0; i < k; ++i, next = (next + 7919) % items) {
      newer.push_back({puts[next].key, std::string(100, 'w'), clock.next()});
    }
    const auto before = totals();
    if (direct.put_all(addresses[0], newer) != k) {
      die("newer versions were not applied");
    }
    DirectNodes::AntiEntropyFigures now = before;
    const auto t0 = Clock::now();
    const bool repaired = wait_until(
        [&]() {
          now = totals();
          return now.repaired >= before.repaired + k;
        },
        std::chrono::milliseconds(interval_ms * 200));
    const double took = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("k=%zu differing keys: %s after %" PRIu64 " rounds (%.1f s), %" PRIu64
                " bytes, %.0f bytes per key\n",
                k, repaired ? "repaired" : "NOT repaired", now.rounds - before.rounds, took,
                now.bytes - before.bytes,
                static_cast<double>(now.bytes - before.bytes) / static_cast<double>(k));
    after_rounds(1);
  }
  return 0;
}
