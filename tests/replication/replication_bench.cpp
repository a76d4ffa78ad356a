// Times re-replication on real discache-node processes: N=2, one node
// SIGKILLed, how long until the survivors have restored two copies of every
// key. Not a test (timings vary by machine): run it by hand, see
// docs/benchmarks.md.
//
//   export DISCACHE_NODE=build/discache-node/discache-node
//   export DISCACHE_CTL=build/tools/ctl/discache-ctl
//   build/tests/replication/replication-bench [--runs 3] [--keys 10000] [--nodes 4] [--fast]
//
// --fast uses the test suite's failure detection (probe 100 ms, suspect
// 500 ms, dead 1200 ms) instead of the node defaults (250 ms, 1.5 s, 4 s).
#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

struct Settings {
  int runs = 3;
  std::size_t keys = 10000;
  std::size_t nodes = 4;
  bool fast = false;
};

// One run's figures, in milliseconds after the kill unless said otherwise.
struct RunFigures {
  double dead_everywhere_ms = -1;   // every survivor lists the victim dead
  double handoffs_done_ms = -1;     // every survivor ran a pass since and none is running
  double longest_pass_ms = -1;      // the longest "handoff done ... in T ms" after the kill
  std::uint64_t copies_sent = 0;    // from those log lines
  std::uint64_t copies_failed = 0;  // idem
  std::uint64_t missing_after_done = 0;  // copies not on their owner when handoffs were done
  double complete_ms = -1;          // every key on both owners (-1: not within the wait)
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "replication-bench: %s\n", why.c_str());
  std::exit(2);
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string key_of(std::size_t i) { return "key-" + std::to_string(i); }
std::string value_of(const std::string& key) { return "value of " + key; }

constexpr std::size_t kChunk = 1000;

// Per key, whether the node at `address` holds it (asked directly).
std::vector<bool> held_by(const std::string& address, const std::vector<std::string>& keys) {
  discache::ClientOptions options;
  options.seeds = {address};
  options.direct = true;
  auto node = discache::Client::connect(options);
  if (!node) {
    die(address + ": " + node.error().describe());
  }
  std::vector<bool> held;
  for (std::size_t start = 0; start < keys.size(); start += kChunk) {
    std::vector<std::string> chunk(keys.begin() + static_cast<std::ptrdiff_t>(start),
                                   keys.begin() + static_cast<std::ptrdiff_t>(
                                                      std::min(keys.size(), start + kChunk)));
    auto results = node->multi_get(chunk);
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      held.push_back(results[i] && *results[i] == value_of(chunk[i]));
    }
  }
  return held;
}

// Copies missing on their owners under `client`'s ring.
std::uint64_t missing_copies(discache::Client& client, const std::vector<std::string>& keys) {
  std::map<std::string, std::vector<bool>> held;
  for (const auto& m : client.members().members) {
    if (m.state == discache::MemberState::alive) {
      held[m.name] = held_by(m.address, keys);
    }
  }
  std::uint64_t missing = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (const auto& owner : client.owners(keys[i])) {
      auto it = held.find(owner.name);
      missing += (it == held.end() || !it->second[i]) ? 1 : 0;
    }
  }
  return missing;
}

// What the "handoff done: K copies sent[, F failed] in T ms" lines of a log say.
struct HandoffLines {
  std::uint64_t sent = 0;
  std::uint64_t failed = 0;
  double longest_ms = -1;
};

HandoffLines parse_handoff_lines(std::string_view log) {
  constexpr std::string_view kDone = "handoff done: ";
  HandoffLines lines;
  for (auto at = log.find(kDone); at != std::string_view::npos; at = log.find(kDone, at + 1)) {
    const auto end = log.find('\n', at);
    const std::string line(log.substr(at + kDone.size(), end - at - kDone.size()));
    std::uint64_t sent = 0;
    std::uint64_t failed = 0;
    double took = 0;
    if (std::sscanf(line.c_str(), "%" SCNu64 " copies sent, %" SCNu64 " failed in %lf ms", &sent,
                    &failed, &took) != 3) {
      failed = 0;
      if (std::sscanf(line.c_str(), "%" SCNu64 " copies sent in %lf ms", &sent, &took) != 2) {
        continue;
      }
    }
    lines.sent += sent;
    lines.failed += failed;
    lines.longest_ms = std::max(lines.longest_ms, took);
  }
  return lines;
}

RunFigures run_once(const Settings& settings) {
  ClusterOptions options;
  options.nodes = settings.nodes;
  options.replicas = 2;
  options.name_prefix = "bench";
  if (settings.fast) {
    options.node_args = {"--probe-interval", "100ms", "--suspect-after", "500ms", "--dead-after",
                         "1200ms"};
  }
  auto cluster = LocalCluster::start(options);
  if (!cluster) {
    die(cluster.error());
  }
  auto client = cluster->connect_client();
  if (!client) {
    die(client.error().describe());
  }
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < settings.keys; ++i) {
    keys.push_back(key_of(i));
  }
  for (std::size_t start = 0; start < keys.size(); start += kChunk) {
    std::vector<discache::KeyValue> items;
    for (std::size_t i = start; i < std::min(keys.size(), start + kChunk); ++i) {
      items.push_back({keys[i], value_of(keys[i])});
    }
    for (const auto& r : client->multi_put(items)) {
      if (!r) {
        die("put: " + r.error().describe());
      }
    }
  }
  auto stats = [&]() {
    std::map<std::string, discache::NodeStats> out;
    for (auto& s : client->stats()) {
      if (!s.error) {
        out[s.name] = s;
      }
    }
    return out;
  };
  auto copies = [&]() {
    std::uint64_t n = 0;
    for (const auto& [name, s] : stats()) {
      n += s.items;
    }
    return n;
  };
  if (!wait_until([&]() { return copies() == 2 * keys.size(); }, 20s)) {
    die("the second copies did not arrive");
  }
  // Settle, then note each survivor's passes and log so far.
  std::this_thread::sleep_for(500ms);
  const auto runs_before = stats();
  NodeProcess& victim = cluster->node(settings.nodes - 1);
  std::vector<NodeProcess*> survivors;
  std::map<std::string, std::size_t> log_before;
  for (std::size_t i = 0; i + 1 < settings.nodes; ++i) {
    survivors.push_back(&cluster->node(i));
    log_before[cluster->node(i).name()] = cluster->node(i).log().size();
  }

  RunFigures figures;
  const auto killed = Clock::now();
  victim.kill();
  // Polled every 10 ms (each poll asks every survivor once).
  const auto deadline = killed + 30s;
  while (Clock::now() < deadline) {
    bool dead = true;
    for (auto* node : survivors) {
      auto list = member_list_of(node->address());
      bool listed_dead = false;
      if (list) {
        for (const auto& m : list->members) {
          listed_dead = listed_dead || (m.name == victim.name() &&
                                        (m.state == discache::MemberState::dead ||
                                         m.state == discache::MemberState::left));
        }
      }
      dead = dead && listed_dead;
    }
    if (dead) {
      figures.dead_everywhere_ms = ms_since(killed);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  while (Clock::now() < deadline) {
    const auto now_stats = stats();
    bool done = true;
    for (auto* node : survivors) {
      auto it = now_stats.find(node->name());
      auto before = runs_before.find(node->name());
      done = done && it != now_stats.end() && before != runs_before.end() &&
             it->second.handoff_runs > before->second.handoff_runs &&
             !it->second.handoff_pending;
    }
    if (done) {
      figures.handoffs_done_ms = ms_since(killed);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  for (auto* node : survivors) {
    const std::string log = node->log();
    const HandoffLines lines =
        parse_handoff_lines(std::string_view(log).substr(log_before[node->name()]));
    figures.copies_sent += lines.sent;
    figures.copies_failed += lines.failed;
    figures.longest_pass_ms = std::max(figures.longest_pass_ms, lines.longest_ms);
  }
  auto fresh = cluster->connect_client();
  if (!fresh) {
    die(fresh.error().describe());
  }
  // The fresh client's ring must be the one without the victim.
  wait_until(
      [&]() {
        for (const auto& m : fresh->members().members) {
          if (m.name == victim.name() && m.state == discache::MemberState::alive) {
            return false;
          }
        }
        return true;
      },
      5s);
  figures.missing_after_done = missing_copies(*fresh, keys);
  if (figures.missing_after_done == 0) {
    figures.complete_ms = figures.handoffs_done_ms;
  } else {
    const bool complete =
        wait_until([&]() { return missing_copies(*fresh, keys) == 0; }, 5s);
    figures.complete_ms = complete ? ms_since(killed) : -1;
  }
  return figures;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? -1 : values[values.size() / 2];
}

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto number = [&](auto& out) {
      if (i + 1 >= argc) {
        die(arg + " needs a value");
      }
      const std::string_view text = argv[++i];
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
      if (ec != std::errc{} || p != text.data() + text.size() || out == 0) {
        die(arg + ": not a positive number: " + std::string(text));
      }
    };
    if (arg == "--runs") {
      number(s.runs);
    } else if (arg == "--keys") {
      number(s.keys);
    } else if (arg == "--nodes") {
      number(s.nodes);
    } else if (arg == "--fast") {
      s.fast = true;
    } else {
      die("unknown argument " + arg + " (--runs N --keys N --nodes N --fast)");
    }
  }
  if (s.nodes < 3) {
    die("--nodes must be at least 3 (N=2 and one node killed)");
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const Settings settings = parse(argc, argv);
  std::printf("re-replication after SIGKILL: %zu nodes, N=2, %zu keys, %s failure detection\n",
              settings.nodes, settings.keys, settings.fast ? "fast (dead 1.2 s)" : "default (dead 4 s)");
  std::printf("%4s %12s %14s %12s %8s %8s %9s %12s\n", "run", "dead (ms)", "handoffs (ms)",
              "pass (ms)", "sent", "failed", "missing", "complete");
  std::vector<double> dead;
  std::vector<double> done;
  std::vector<double> pass;
  for (int run = 1; run <= settings.runs; ++run) {
    const RunFigures f = run_once(settings);
    dead.push_back(f.dead_everywhere_ms);
    done.push_back(f.handoffs_done_ms);
    pass.push_back(f.longest_pass_ms);
    const std::string complete =
        f.complete_ms < 0 ? "never" : std::to_string(static_cast<long>(f.complete_ms)) + " ms";
    std::printf("%4d %12.0f %14.0f %12.0f %8" PRIu64 " %8" PRIu64 " %9" PRIu64 " %12s\n", run,
                f.dead_everywhere_ms, f.handoffs_done_ms, f.longest_pass_ms, f.copies_sent,
                f.copies_failed, f.missing_after_done, complete.c_str());
    std::fflush(stdout);
  }
  std::printf("median: dead everywhere %.0f ms, handoffs done %.0f ms after the kill, "
              "longest pass %.0f ms\n",
              median(dead), median(done), median(pass));
  return 0;
}
