// discache-membership-bench: how fast real discache-node processes on
// 127.0.0.1 agree on the member list. Per run it starts N nodes (all joining
// through node 1) and measures, on every node's OWN list (asked directly):
//   form         from starting n1..n(N-1) back to back until each lists N-1 alive;
//   join         from starting nN into them until every node lists N alive;
//   SIGKILL      from killing n2 until no node lists it alive, and until
//                every remaining node lists it dead;
//   SIGTERM      from stopping n3 until no node lists it alive, and until
//                every remaining node lists it left.
#include <kj/async-io.h>
#include <kj/debug.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <expected>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "duration_text.h"
#include "member_views.h"
#include "node_fleet.h"

namespace discache::bench {
namespace {

constexpr char kUsage[] =
    "Usage: discache-membership-bench [options]\n"
    "\n"
    "Starts N discache-node processes on 127.0.0.1 (free ports; n2..nN join\n"
    "through n1) and times, from each node's own member list:\n"
    "  form         n1..n(N-1) started back to back -> each lists N-1 alive\n"
    "  join         nN started into them -> every node lists N alive\n"
    "  SIGKILL n2   -> no node lists it alive; -> every other node lists it dead\n"
    "  SIGTERM n3   -> no node lists it alive; -> every other node lists it left\n"
    "Prints each run, then the median, min and max over the runs.\n"
    "\n"
    "  --nodes N              nodes per run, 3 to 200 (default 5)\n"
    "  --runs R               runs (default 5)\n"
    "  --node-binary PATH     discache-node to run (default: $DISCACHE_NODE, else\n"
    "                         ../../discache-node/discache-node next to this tool)\n"
    "  --probe-interval D     passed to every node (node default 250ms)\n"
    "  --suspect-after D      passed to every node (node default 1500ms)\n"
    "  --dead-after D         passed to every node (node default 4s)\n"
    "  --poll D               read lists by calling members every D instead of\n"
    "                         receiving watch pushes (e.g. 20ms)\n"
    "  --keep-logs            keep the node logs (always kept after a failure)\n"
    "  --json                 print the results as JSON on stdout (progress on stderr)\n"
    "  --help                 show this text\n";

constexpr std::size_t kMinNodes = 3;  // n1 seed, n2 killed, n3 stopped
constexpr std::size_t kMaxNodes = 200;
constexpr std::size_t kKilled = 1;   // n2
constexpr std::size_t kStopped = 2;  // n3

using Clock = MemberViews::Clock;
using Ms = std::chrono::duration<double, std::milli>;

struct Options {
  std::size_t nodes = 5;
  std::size_t runs = 5;
  std::string node_binary;
  // Passed through when given; the node defaults set the deadlines otherwise.
  std::optional<std::string> probe_interval, suspect_after, dead_after;
  std::chrono::milliseconds probe_interval_ms{250};
  std::chrono::milliseconds dead_after_ms{4000};
  std::chrono::milliseconds poll{0};
  bool keep_logs = false;
  bool json = false;
  bool help = false;
};

std::optional<std::size_t> parse_count(std::string_view text) {
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// The directory of this executable, for the default node binary.
std::string own_directory() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

std::expected<Options, std::string> parse_args(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      return options;
    }
    if (arg == "--json") {
      options.json = true;
      continue;
    }
    if (arg == "--keep-logs") {
      options.keep_logs = true;
      continue;
    }
    if (i + 1 >= argc) {
      return std::unexpected(arg == "--nodes" || arg == "--runs" || arg == "--node-binary" ||
                                     arg == "--probe-interval" || arg == "--suspect-after" ||
                                     arg == "--dead-after" || arg == "--poll"
                                 ? arg + " needs a value"
                                 : "unknown option: " + arg);
    }
    const std::string value = argv[++i];
    if (arg == "--nodes") {
      const auto n = parse_count(value);
      if (!n || *n < kMinNodes || *n > kMaxNodes) {
        return std::unexpected("--nodes must be a number from 3 to 200");
      }
      options.nodes = *n;
    } else if (arg == "--runs") {
      const auto n = parse_count(value);
      if (!n || *n == 0 || *n > 1000) {
        return std::unexpected("--runs must be a number from 1 to 1000");
      }
      options.runs = *n;
    } else if (arg == "--node-binary") {
      options.node_binary = value;
    } else if (arg == "--probe-interval" || arg == "--suspect-after" || arg == "--dead-after" ||
               arg == "--poll") {
      const auto ms = parse_duration_ms(value);
      if (!ms || *ms == 0 || *ms > 3'600'000) {
        return std::unexpected(arg + " wants a duration such as 250ms or 4s, got '" + value + "'");
      }
      if (arg == "--probe-interval") {
        options.probe_interval = value;
        options.probe_interval_ms = std::chrono::milliseconds(*ms);
      } else if (arg == "--suspect-after") {
        options.suspect_after = value;
      } else if (arg == "--dead-after") {
        options.dead_after = value;
        options.dead_after_ms = std::chrono::milliseconds(*ms);
      } else {
        options.poll = std::chrono::milliseconds(*ms);
      }
    } else {
      return std::unexpected("unknown option: " + arg);
    }
  }
  if (options.node_binary.empty()) {
    const char* from_env = std::getenv("DISCACHE_NODE");
    options.node_binary = from_env != nullptr && *from_env != '\0'
                              ? std::string(from_env)
                              : own_directory() + "/../../discache-node/discache-node";
  }
  if (access(options.node_binary.c_str(), X_OK) != 0) {
    return std::unexpected("node binary " + options.node_binary +
                           " is not executable (give --node-binary)");
  }
  return options;
}

// The figures of one run, in milliseconds; nullopt: not reached by the
// deadline (a product bug to look into, reported as a miss).
struct RunResult {
  std::optional<double> form;  // N-1 nodes started together, until they agree
  std::optional<double> join;  // the Nth node into them, until all N agree
  std::optional<double> kill_not_alive;
  std::optional<double> kill_dead;
  std::optional<double> term_not_alive;
  std::optional<double> term_left;
  bool term_exit_clean = false;     // SIGTERM'd node exited 0
  std::vector<std::string> misses;  // what was not reached, with the views then
};

// The metrics in output order: JSON key, table label, field.
struct Metric {
  const char* key;
  const char* label;
  std::optional<double> RunResult::*field;
};
constexpr Metric kMetrics[] = {
    {"joinConvergence", "join: Nth node, until all list N", &RunResult::join},
    {"formConvergence", "form: N-1 nodes, until all list N-1", &RunResult::form},
    {"killNotAlive", "SIGKILL: alive on no node", &RunResult::kill_not_alive},
    {"killDead", "SIGKILL: dead on every node", &RunResult::kill_dead},
    {"termNotAlive", "SIGTERM: alive on no node", &RunResult::term_not_alive},
    {"termLeft", "SIGTERM: left on every node", &RunResult::term_left},
};

std::string node_name(std::size_t index) {
  return "n" + std::to_string(index + 1);
}

const Member* find_member(const MemberList& list, const std::string& name) {
  for (const auto& m : list.members) {
    if (m.name == name) {
      return &m;
    }
  }
  return nullptr;
}

// Every observed node lists all `names` alive (and no one else).
MemberViews::Condition all_alive(std::vector<std::string> names) {
  return [names = std::move(names)](const std::vector<MemberViews::View>& views) {
    for (const auto& view : views) {
      if (!view.observed) {
        continue;
      }
      if (!view.list || view.list->members.size() != names.size()) {
        return false;
      }
      for (const auto& name : names) {
        const Member* m = find_member(*view.list, name);
        if (m == nullptr || m->state != MemberState::alive) {
          return false;
        }
      }
    }
    return true;
  };
}

// No observed node lists `name` alive.
MemberViews::Condition alive_nowhere(std::string name) {
  return [name = std::move(name)](const std::vector<MemberViews::View>& views) {
    for (const auto& view : views) {
      if (!view.observed) {
        continue;
      }
      if (!view.list) {
        return false;
      }
      const Member* m = find_member(*view.list, name);
      if (m != nullptr && m->state == MemberState::alive) {
        return false;
      }
    }
    return true;
  };
}

// Every observed node lists `name` in `state`.
MemberViews::Condition everywhere(std::string name, MemberState state) {
  return [name = std::move(name), state](const std::vector<MemberViews::View>& views) {
    for (const auto& view : views) {
      if (!view.observed) {
        continue;
      }
      const Member* m = view.list ? find_member(*view.list, name) : nullptr;
      if (m == nullptr || m->state != state) {
        return false;
      }
    }
    return true;
  };
}

// Milliseconds from `from` to each goal's time, in goal order (nullopt: missed).
std::vector<std::optional<double>> elapsed(Clock::time_point from,
                                           const MemberViews::Reached& reached) {
  std::vector<std::optional<double>> out;
  for (const auto& time : reached.times) {
    out.push_back(time ? std::optional<double>(Ms(*time - from).count()) : std::nullopt);
  }
  return out;
}

// Convergence must happen: the later phases need a converged cluster.
void require(const MemberViews::Reached& reached) {
  if (!reached.missed.empty()) {
    kj::throwFatalException(
        kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                      kj::str("not reached in time: ", reached.missed.c_str())));
  }
}

class BenchRun {
 public:
  BenchRun(kj::AsyncIoContext& io, const Options& options, std::string log_dir)
      : io_(io),
        options_(options),
        fleet_(options.node_binary, std::move(log_dir)),
        views_(io, options.poll) {}

  // Throws kj::Exception when a node misbehaves or a deadline passes.
  RunResult run() {
    auto& ws = io_.waitScope;
    auto& timer = io_.provider->getTimer();
    const std::size_t n = options_.nodes;
    std::vector<std::string> names;
    for (std::size_t i = 0; i < n; ++i) {
      names.push_back(node_name(i));
    }

    RunResult result;
    // Generous: startup on a loaded machine, or a slow gossip fan-out.
    const auto converge_limit = std::chrono::seconds(30 + n / 2);
    // Forming: n1..n(N-1) started back to back, until they agree.
    const auto first_start = Clock::now();
    const Endpoint seed = start(0, names[0], {});
    for (std::size_t i = 1; i + 1 < n; ++i) {
      start(i, names[i], seed);
    }
    const std::vector<std::string> all_but_last(names.begin(), names.end() - 1);
    const auto formed =
        views_
            .wait_for(
                {{"every node lists " + std::to_string(n - 1) + " alive", all_alive(all_but_last)}},
                first_start + converge_limit)
            .wait(ws);
    require(formed);
    result.form = elapsed(first_start, formed)[0];

    // Joining: the last node into that converged cluster, at a random point
    // of its probe cycle.
    settle(timer);
    const auto last_start = Clock::now();
    start(n - 1, names[n - 1], seed);
    const auto converged =
        views_
            .wait_for({{"every node lists " + std::to_string(n) + " alive", all_alive(names)}},
                      last_start + converge_limit)
            .wait(ws);
    require(converged);
    result.join = elapsed(last_start, converged)[0];

    // Failure detection: the deadline is far beyond the configured bound.
    const auto detect_limit = options_.dead_after_ms * 3 + std::chrono::seconds(10);
    const std::string killed = names[kKilled];
    settle(timer);
    views_.forget(kKilled);
    const auto kill_time = Clock::now();
    fleet_.signal(kKilled, SIGKILL);
    const auto detected =
        views_
            .wait_for({{killed + " alive on no node", alive_nowhere(killed)},
                       {killed + " dead on every node", everywhere(killed, MemberState::dead)}},
                      kill_time + detect_limit)
            .wait(ws);
    const auto kill_ms = elapsed(kill_time, detected);
    if (!detected.missed.empty()) {
      result.misses.push_back(detected.missed);
    }
    result.kill_not_alive = kill_ms[0];
    result.kill_dead = kill_ms[1];
    fleet_.reaped(kKilled, timer, 5 * kj::SECONDS).wait(ws);

    // Graceful leave: the bound is 1 s; wait longer to measure a miss.
    const std::string stopped = names[kStopped];
    settle(timer);
    views_.forget(kStopped);
    const auto term_time = Clock::now();
    fleet_.signal(kStopped, SIGTERM);
    const auto left =
        views_
            .wait_for({{stopped + " alive on no node", alive_nowhere(stopped)},
                       {stopped + " left on every node", everywhere(stopped, MemberState::left)}},
                      term_time + detect_limit)
            .wait(ws);
    const auto term_ms = elapsed(term_time, left);
    if (!left.missed.empty()) {
      result.misses.push_back(left.missed);
    }
    result.term_not_alive = term_ms[0];
    result.term_left = term_ms[1];
    const auto status = fleet_.reaped(kStopped, timer, 5 * kj::SECONDS).wait(ws);
    result.term_exit_clean = status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;

    views_.clear();
    fleet_.kill_all();
    return result;
  }

  // Every node's last log lines, for a failure report.
  std::string logs() const {
    std::string out;
    for (std::size_t i = 0; i < fleet_.size(); ++i) {
      out += "--- " + fleet_.name(i) + " (" + fleet_.log_path(i) + ")\n" + fleet_.log_tail(i, 15);
    }
    return out;
  }

 private:
  // Waits a fixed 200 ms plus a random part of one probe interval. Without
  // it the kill would land at the same point of the probe cycle every run
  // (right after the push that ended the previous wait), which biases the
  // detection times by up to a whole interval; real failures come at any time.
  void settle(kj::Timer& timer) {
    std::uniform_int_distribution<std::int64_t> jitter(0, options_.probe_interval_ms.count() - 1);
    const auto delay = std::chrono::milliseconds(200 + jitter(random_));
    timer.afterDelay(delay.count() * kj::MILLISECONDS).wait(io_.waitScope);
  }

  // Starts node `index`, joining through `seed` if given, and observes its
  // list once it listens. Returns its address.
  Endpoint start(std::size_t index, const std::string& name, std::optional<Endpoint> seed) {
    auto args = timing_args();
    if (seed) {
      args.push_back("--seed");
      args.push_back(seed->to_string());
    }
    auto spawned = fleet_.spawn(name, args);
    if (!spawned) {
      kj::throwFatalException(
          kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                        kj::str("cannot start ", name.c_str(), ": ", spawned.error().c_str())));
    }
    KJ_ASSERT(*spawned == index, "nodes are started in index order");
    auto& ws = io_.waitScope;
    const Endpoint address =
        fleet_.listening(index, io_.provider->getTimer(), 10 * kj::SECONDS).wait(ws);
    views_.observe(index, name, address).wait(ws);
    return address;
  }

  std::vector<std::string> timing_args() const {
    std::vector<std::string> args;
    if (options_.probe_interval) {
      args.insert(args.end(), {"--probe-interval", *options_.probe_interval});
    }
    if (options_.suspect_after) {
      args.insert(args.end(), {"--suspect-after", *options_.suspect_after});
    }
    if (options_.dead_after) {
      args.insert(args.end(), {"--dead-after", *options_.dead_after});
    }
    return args;
  }

  kj::AsyncIoContext& io_;
  const Options& options_;
  NodeFleet fleet_;  // declared before views_: connections close before the nodes die
  MemberViews views_;
  std::mt19937_64 random_{std::random_device{}()};
};

// Over the runs that reached a metric; `missed` counts the others.
struct Summary {
  std::optional<double> median, min, max;
  std::size_t missed = 0;
};

Summary summarize(const std::vector<RunResult>& results, const Metric& metric) {
  std::vector<double> values;
  Summary summary;
  for (const auto& r : results) {
    if (const auto& value = r.*metric.field) {
      values.push_back(*value);
    } else {
      ++summary.missed;
    }
  }
  if (values.empty()) {
    return summary;
  }
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  summary.median = values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  summary.min = values.front();
  summary.max = values.back();
  return summary;
}

// "123.4", or `missing` for a metric not reached.
std::string number_text(const std::optional<double>& value, const char* missing) {
  if (!value) {
    return missing;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", *value);
  return text;
}

std::string timing_text(const Options& options) {
  return "probe-interval " + options.probe_interval.value_or("250ms (default)") +
         ", suspect-after " + options.suspect_after.value_or("1500ms (default)") + ", dead-after " +
         options.dead_after.value_or("4s (default)");
}

void print_run(std::FILE* out, std::size_t run, std::size_t runs, std::size_t nodes,
               const RunResult& r) {
  auto ms = [](const std::optional<double>& value) { return number_text(value, "MISSED"); };
  std::fprintf(out,
               "run %zu/%zu: %zu nodes formed in %s ms, the last joined in %s ms; "
               "SIGKILL n2: alive nowhere %s ms, dead everywhere %s ms; "
               "SIGTERM n3: alive nowhere %s ms, left everywhere %s ms%s\n",
               run, runs, nodes - 1, ms(r.form).c_str(), ms(r.join).c_str(),
               ms(r.kill_not_alive).c_str(), ms(r.kill_dead).c_str(), ms(r.term_not_alive).c_str(),
               ms(r.term_left).c_str(), r.term_exit_clean ? "" : " (n3 did NOT exit 0 on SIGTERM)");
  for (const auto& miss : r.misses) {
    std::fprintf(out, "  missed: %s\n", miss.c_str());
  }
  std::fflush(out);
}

void print_table(const Options& options, const std::vector<RunResult>& results) {
  std::printf("\n%-36s %10s %10s %10s %7s   (ms, %zu nodes, %zu runs)\n", "", "median", "min",
              "max", "missed", options.nodes, results.size());
  for (const auto& metric : kMetrics) {
    const Summary s = summarize(results, metric);
    std::printf("%-36s %10s %10s %10s %7zu\n", metric.label, number_text(s.median, "-").c_str(),
                number_text(s.min, "-").c_str(), number_text(s.max, "-").c_str(), s.missed);
  }
}

void print_json(const Options& options, const std::vector<RunResult>& results) {
  auto quoted_or_null = [](const std::optional<std::string>& text) {
    return text ? "\"" + *text + "\"" : std::string("null");
  };
  auto number = [](const std::optional<double>& value) { return number_text(value, "null"); };
  std::printf("{\n  \"nodes\": %zu,\n  \"runs\": %zu,\n", options.nodes, results.size());
  std::printf("  \"probeInterval\": %s,\n  \"suspectAfter\": %s,\n  \"deadAfter\": %s,\n",
              quoted_or_null(options.probe_interval).c_str(),
              quoted_or_null(options.suspect_after).c_str(),
              quoted_or_null(options.dead_after).c_str());
  std::printf("  \"observe\": \"%s\",\n", options.poll.count() == 0 ? "watch" : "poll");
  std::printf("  \"metricsMs\": {\n");
  for (std::size_t m = 0; m < std::size(kMetrics); ++m) {
    std::string list;
    for (const auto& r : results) {
      list += (list.empty() ? "" : ", ") + number(r.*kMetrics[m].field);
    }
    const Summary s = summarize(results, kMetrics[m]);
    std::printf(
        "    \"%s\": {\"median\": %s, \"min\": %s, \"max\": %s, \"missed\": %zu, "
        "\"runs\": [%s]}%s\n",
        kMetrics[m].key, number(s.median).c_str(), number(s.min).c_str(), number(s.max).c_str(),
        s.missed, list.c_str(), m + 1 < std::size(kMetrics) ? "," : "");
  }
  bool clean = true;
  for (const auto& r : results) {
    clean = clean && r.term_exit_clean;
  }
  std::printf("  },\n  \"sigtermExitedZero\": %s\n}\n", clean ? "true" : "false");
}

int run_bench(const Options& options) {
  std::FILE* progress = options.json ? stderr : stdout;
  char log_template[] = "/tmp/discache-membership-bench.XXXXXX";
  if (mkdtemp(log_template) == nullptr) {
    std::perror("discache-membership-bench: mkdtemp");
    return 2;
  }
  const std::string log_root = log_template;
  std::fprintf(progress, "discache-membership-bench: %zu nodes, %zu runs, %s; lists by %s\n",
               options.nodes, options.runs, timing_text(options).c_str(),
               options.poll.count() == 0
                   ? "watch pushes"
                   : ("polling every " + std::to_string(options.poll.count()) + " ms").c_str());
  std::fflush(progress);

  NodeFleet::install_signal_cleanup();
  auto io = kj::setupAsyncIo();
  std::vector<RunResult> results;
  for (std::size_t run = 1; run <= options.runs; ++run) {
    const std::string log_dir = log_root + "/run-" + std::to_string(run);
    std::filesystem::create_directories(log_dir);
    BenchRun bench(io, options, log_dir);
    RunResult result;
    KJ_IF_MAYBE (error, kj::runCatchingExceptions([&]() { result = bench.run(); })) {
      std::fprintf(stderr, "discache-membership-bench: run %zu failed: %s\n%s", run,
                   error->getDescription().cStr(), bench.logs().c_str());
      std::fprintf(stderr, "node logs kept in %s\n", log_root.c_str());
      return 1;  // ~BenchRun kills the nodes
    }
    print_run(progress, run, options.runs, options.nodes, result);
    results.push_back(result);
  }
  if (options.json) {
    print_json(options, results);
  } else {
    print_table(options, results);
  }
  if (options.keep_logs) {
    std::fprintf(progress, "node logs kept in %s\n", log_root.c_str());
  } else {
    std::error_code ec;
    std::filesystem::remove_all(log_root, ec);
  }
  return 0;
}

}  // namespace
}  // namespace discache::bench

int main(int argc, char** argv) {
  const auto options = discache::bench::parse_args(argc, argv);
  if (!options) {
    std::fprintf(stderr, "discache-membership-bench: %s\n%s", options.error().c_str(),
                 discache::bench::kUsage);
    return 2;
  }
  if (options->help) {
    std::fputs(discache::bench::kUsage, stdout);
    return 0;
  }
  return discache::bench::run_bench(*options);
}
