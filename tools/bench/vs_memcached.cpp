// discache-vs-memcached: Debian's memcached and one discache-node side by side
// on loopback, the same keys and the same load shapes, three runs, medians.
// Run it as tools/bench/vs-memcached (the launcher finds the build).
//
// Per run: both servers start fresh on free ports with the same memory, both
// are preloaded with the same keys (RSS growth per item measured there), then
// each scenario runs on each system in turn (alternating which goes first):
//   a) gets, 8 threads x 16 in flight
//   b) one blocking get at a time (discache: Client::get in a loop)
//   c) multiget of 100 keys, 1 thread x 4 in flight (counted per key)
//   d) as a), with 8 connections on both sides (discache: 8 Client objects)
// Server CPU is utime+stime of the server process over the measured window.
#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <kj/main.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_report.capnp.h"
#include "duration_text.h"
#include "exit_code_context.h"

namespace discache::bench {
namespace {

constexpr const char* kVersion = "discache-vs-memcached 0.1.0";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string temp_path(const char* what) {
  std::string pattern = std::string("/tmp/discache-vs-memcached-") + what + "-XXXXXX";
  const int fd = mkstemp(pattern.data());
  if (fd < 0) {
    throw std::runtime_error("mkstemp failed");
  }
  close(fd);
  return pattern;
}

// A child process with stdout and stderr in files. SIGKILLed and reaped by the
// destructor if still running, and killed if this process dies. Main thread
// only (the program has no other).
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv)
      : out_path_(temp_path("out")), err_path_(temp_path("err")) {
    pid_ = fork();
    if (pid_ < 0) {
      throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int out = open(out_path_.c_str(), O_WRONLY | O_TRUNC);
      const int err = open(err_path_.c_str(), O_WRONLY | O_TRUNC);
      const int null_fd = open("/dev/null", O_RDONLY);
      dup2(null_fd, 0);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<char*> args;
      for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
      }
      args.push_back(nullptr);
      execvp(args[0], args.data());
      fprintf(stderr, "cannot run %s\n", args[0]);
      _exit(127);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    kill_now();
    unlink(out_path_.c_str());
    unlink(err_path_.c_str());
  }

  int pid() const { return pid_; }
  std::string out() const { return read_file(out_path_); }
  std::string err() const { return read_file(err_path_); }
  // The exit code once the child has ended; nullopt while it runs.
  std::optional<int> poll() {
    if (exited_) {
      return status_;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    return std::nullopt;
  }
  // Waits for the exit; SIGKILL after `timeout` (exit code 137 then).
  int wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!poll()) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill_now();
        return 137;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return status_;
  }
  void kill_now() {
    if (!exited_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      exited_ = true;
      status_ = 137;
    }
  }

 private:
  std::string out_path_;
  std::string err_path_;
  int pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(sa);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &length) != 0) {
    close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  close(fd);
  return ntohs(sa.sin_port);
}

bool can_connect(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  close(fd);
  return ok;
}

std::string directory_of_this_program() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) {
    return ".";
  }
  std::string p(path, static_cast<std::size_t>(n));
  return p.substr(0, p.rfind('/'));
}

std::string machine_description() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::string model = "unknown CPU";
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return std::to_string(std::thread::hardware_concurrency()) + " x " + model;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

// One measurement of one system in one scenario (or a preload).
struct Sample {
  double ops_per_s = 0;   // keys/s for per-key scenarios
  double p50_us = 0;
  double p99_us = 0;
  double cpu_us = 0;      // per op, or per key
  double errors = 0;
};

struct Scenario {
  const char* name;
  const char* description;
  std::vector<std::string> discache_args;
  std::vector<std::string> memcached_args;
  bool per_key;
};

std::vector<Scenario> all_scenarios() {
  return {
      {"a", "gets, 8 threads x 16 in flight",
       {"--threads", "8", "--in-flight", "16"}, {"--threads", "8", "--in-flight", "16"}, false},
      {"b", "one blocking get at a time, 1 thread (memcached through libmemcached)",
       {"--threads", "1", "--blocking"}, {"--threads", "1", "--blocking", "--libmemcached"}, false},
      {"c", "multiget of 100 keys, 1 thread x 4 in flight; per key",
       {"--threads", "1", "--in-flight", "4", "--multiget", "100"},
       {"--threads", "1", "--in-flight", "4", "--multiget", "100"}, true},
      // As (a), but discache also opens 8 connections (8 Client objects), as
      // memcached-bench does: less automatic batching per call.
      {"d", "gets, 8 threads x 16 in flight, 8 connections each",
       {"--threads", "8", "--in-flight", "16", "--clients", "8"},
       {"--threads", "8", "--in-flight", "16"}, false},
  };
}

double median(std::vector<double> values) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

class VsMain {
 public:
  explicit VsMain(kj::ProcessContext& context) : context_(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(
        context_, kVersion,
        "Starts Debian's memcached (-t N) and a discache-node (--replicas 1, --threads N) with "
        "the same threads and memory on free loopback ports, preloads the same keys (16 B) and "
        "values (100 B) in "
        "both, drives both with the same load shapes (a: gets, 8 threads x 16 in flight; b: "
        "one blocking get at a time; c: multiget of 100 keys, 4 in flight; d: as a, with 8 "
        "connections on both sides) and prints ops/s, "
        "p50, p99, server CPU per op and server RSS per item for each, with the ratios "
        "discache/memcached: medians of --runs runs. Takes about 3 minutes with the defaults.");
    builder.addOptionWithArg({"runs"}, KJ_BIND_METHOD(*this, set_runs), "<n>", "Runs (default 3).")
        .addOptionWithArg({"duration"}, KJ_BIND_METHOD(*this, set_duration), "<duration>",
                          "Measured window of each scenario (default 5s).")
        .addOptionWithArg({"warmup"}, KJ_BIND_METHOD(*this, set_warmup), "<duration>",
                          "Unmeasured load before each window (default 1s).")
        .addOptionWithArg({"keys"}, KJ_BIND_METHOD(*this, set_keys), "<n>",
                          "Keys preloaded and used (default 500000).")
        .addOptionWithArg({"memory"}, KJ_BIND_METHOD(*this, set_memory), "<MiB>",
                          "Memory of each server in MiB (default 256).")
        .addOptionWithArg({"server-threads"}, KJ_BIND_METHOD(*this, set_server_threads), "<n>",
                          "Threads of each server: memcached -t N, discache-node --threads N "
                          "(default 1).")
        .addOptionWithArg({"scenarios"}, KJ_BIND_METHOD(*this, set_scenarios), "<list>",
                          "Which scenarios, e.g. a,c (default a,b,c,d).")
        .addOptionWithArg({"transport"}, KJ_BIND_METHOD(*this, set_transport), "<coalescing|plain>",
                          "The node's and the client's transport (default coalescing).")
        .addOptionWithArg({"node"}, KJ_BIND_METHOD(*this, set_node), "<path>",
                          "discache-node to run (default: the one in this build).")
        .addOptionWithArg({"memcached"}, KJ_BIND_METHOD(*this, set_memcached), "<path>",
                          "memcached to run (default: memcached on PATH).")
        .addOption({"progress"}, KJ_BIND_METHOD(*this, set_verbose),
                   "Print each measurement as it is taken (on stderr).")
        .addOption({"json"}, KJ_BIND_METHOD(*this, set_json),
                   "Print one JSON object: discache, memcached and ratio (scenario a), and "
                   "every scenario under `scenarios`.");
    return builder.callAfterParsing(KJ_BIND_METHOD(*this, run)).build();
  }

 private:
  template <typename Number>
  static std::optional<Number> number(kj::StringPtr text) {
    Number n{};
    auto [p, ec] = std::from_chars(text.begin(), text.end(), n);
    if (ec != std::errc{} || p != text.end()) {
      return std::nullopt;
    }
    return n;
  }
  kj::MainBuilder::Validity set_runs(kj::StringPtr a) {
    auto n = number<unsigned>(a);
    if (!n || *n == 0 || *n > 99) return "--runs wants 1 to 99";
    runs_ = *n;
    return true;
  }
  kj::MainBuilder::Validity set_duration(kj::StringPtr a) {
    if (!parse_duration_ms(a.cStr()).value_or(0)) return "--duration wants e.g. 5s";
    duration_ = a.cStr();
    return true;
  }
  kj::MainBuilder::Validity set_warmup(kj::StringPtr a) {
    if (!parse_duration_ms(a.cStr())) return "--warmup wants e.g. 1s";
    warmup_ = a.cStr();
    return true;
  }
  kj::MainBuilder::Validity set_keys(kj::StringPtr a) {
    auto n = number<std::uint64_t>(a);
    if (!n || *n < 100) return "--keys wants at least 100";
    keys_ = *n;
    return true;
  }
  kj::MainBuilder::Validity set_memory(kj::StringPtr a) {
    auto n = number<unsigned>(a);
    if (!n || *n < 16 || *n > 16384) return "--memory wants 16 to 16384 (MiB)";
    memory_mib_ = *n;
    return true;
  }
  kj::MainBuilder::Validity set_server_threads(kj::StringPtr a) {
    auto n = number<unsigned>(a);
    if (!n || *n < 1 || *n > 64)
      return "--server-threads wants 1 to 64";
    server_threads_ = *n;
    return true;
  }
  kj::MainBuilder::Validity set_scenarios(kj::StringPtr a) {
    chosen_.clear();
    for (char c : std::string_view(a.cStr())) {
      if (c == ',') continue;
      if (c < 'a' || c > 'd') return "--scenarios wants letters a to d, e.g. a,c";
      chosen_.push_back(c);
    }
    return true;
  }
  kj::MainBuilder::Validity set_transport(kj::StringPtr a) {
    if (a != "coalescing" && a != "plain") return "--transport is coalescing or plain";
    transport_ = a.cStr();
    return true;
  }
  kj::MainBuilder::Validity set_node(kj::StringPtr a) {
    node_ = a.cStr();
    return true;
  }
  kj::MainBuilder::Validity set_memcached(kj::StringPtr a) {
    memcached_ = a.cStr();
    return true;
  }
  kj::MainBuilder::Validity set_verbose() {
    verbose_ = true;
    return true;
  }
  kj::MainBuilder::Validity set_json() {
    json_ = true;
    return true;
  }

  kj::MainBuilder::Validity run() {
    const std::string here = directory_of_this_program();
    if (node_.empty()) {
      node_ = here + "/../../discache-node/discache-node";
    }
    discache_bench_ = here + "/discache-bench";
    memcached_bench_ = here + "/memcached-bench";
    for (const auto& path : {node_, discache_bench_, memcached_bench_}) {
      if (access(path.c_str(), X_OK) != 0) {
        return kj::str(path.c_str(), " is missing: build first (ninja -C build)");
      }
    }
    try {
      measure_all();
    } catch (const std::exception& e) {
      fprintf(stderr, "discache-vs-memcached: %s\n", e.what());
      fflush(stdout);
      _exit(2);
    }
    print();
    return true;
  }

  // ---- servers --------------------------------------------------------------

  std::unique_ptr<Child> start_memcached(std::uint16_t& port) {
    port = free_port();
    auto child = std::make_unique<Child>(std::vector<std::string>{
        memcached_, "-t", std::to_string(server_threads_), "-m", std::to_string(memory_mib_), "-p",
        std::to_string(port), "-l", "127.0.0.1", "-U", "0", "-u", "nobody"});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!can_connect(port)) {
      if (child->poll() || std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("memcached did not start: " + child->err());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return child;
  }

  std::unique_ptr<Child> start_node(std::uint16_t& port) {
    std::vector<std::string> argv{node_, "--listen", "127.0.0.1:0", "--replicas", "1",
                                  "--memory", std::to_string(memory_mib_) + "MiB",
                                  "--name", "vs-memcached", "--transport", transport_};
    argv.insert(argv.end(), {"--threads", std::to_string(server_threads_)});  // as memcached -t
    auto child = std::make_unique<Child>(argv);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
      const auto log = child->err();
      const auto at = log.find("listening on ");
      const auto end = at == std::string::npos ? at : log.find('\n', at);
      if (end != std::string::npos) {
        const auto address = log.substr(at + 13, end - at - 13);
        port = static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
        return child;
      }
      if (child->poll() || std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("discache-node did not start: " + log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // ---- one bench invocation ----------------------------------------------------

  BenchReport::Reader run_bench(bool discache, std::uint16_t port, int server_pid,
                                const std::vector<std::string>& extra, unsigned run,
                                capnp::MallocMessageBuilder& message) {
    std::vector<std::string> argv;
    if (discache) {
      // A generous deadline: on a busy machine a late answer should count in
      // the latency, not as an error.
      argv = {discache_bench_, "--seed", "127.0.0.1:" + std::to_string(port), "--replicas", "1",
              "--deadline", "10s"};
      if (transport_ == "plain") {
        argv.push_back("--plain-transport");
      }
    } else {
      argv = {memcached_bench_, "--server", "127.0.0.1:" + std::to_string(port)};
    }
    argv.insert(argv.end(), {"--keys", std::to_string(keys_), "--value-size", "100",
                             "--distribution", "uniform", "--ratio", "100:0",
                             "--duration", duration_, "--warmup", warmup_,
                             "--random-seed", std::to_string(run + 1),
                             "--server-pid", std::to_string(server_pid), "--json"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    Child bench(argv);
    const int code = bench.wait(std::chrono::minutes(3));
    const auto out = bench.out();
    if (code != 0 && code != 1) {
      throw std::runtime_error(argv[0] + " failed (exit " + std::to_string(code) + "): " +
                               bench.err() + out);
    }
    capnp::JsonCodec codec;
    codec.handleByAnnotation<BenchReport>();
    auto root = message.initRoot<BenchReport>();
    codec.decode(kj::ArrayPtr<const char>(out.data(), out.size()), root);
    auto report = root.asReader();
    if (report.getErrors() > 0) {
      fprintf(stderr, "warning: %s reported %.0f errors: %s\n", report.getSystem().cStr(),
              report.getErrors(), bench.err().c_str());
    }
    return report;
  }

  // ---- the runs -------------------------------------------------------------------

  void measure_all() {
    const auto scenarios = all_scenarios();
    for (unsigned run = 0; run < runs_; ++run) {
      if (!json_) {
        fprintf(stderr, "run %u of %u...\n", run + 1, runs_);
      }
      std::uint16_t mc_port = 0;
      std::uint16_t node_port = 0;
      auto mc = start_memcached(mc_port);
      auto node = start_node(node_port);
      for (bool discache : {true, false}) {
        capnp::MallocMessageBuilder message;
        auto r = run_bench(discache, discache ? node_port : mc_port,
                           discache ? node->pid() : mc->pid(),
                           {"--threads", "2", "--preload-only"}, run, message);
        rss_[discache].push_back(r.getRssBytesPerItem());
        log("run %u preload %s: %.1f s, RSS %.1f B/item", run + 1, discache ? "discache" : "memcached",
            r.getPreloadS(), r.getRssBytesPerItem());
      }
      for (const auto& s : scenarios) {
        if (std::find(chosen_.begin(), chosen_.end(), s.name[0]) == chosen_.end()) {
          continue;
        }
        // Alternate which system goes first, so neither always runs on a
        // machine warmed (or disturbed) by the other.
        const bool discache_first = run % 2 == 0;
        for (bool discache : {discache_first, !discache_first}) {
          std::vector<std::string> extra = discache ? s.discache_args : s.memcached_args;
          extra.push_back("--no-preload");
          capnp::MallocMessageBuilder message;
          auto r = run_bench(discache, discache ? node_port : mc_port,
                             discache ? node->pid() : mc->pid(), extra, run, message);
          Sample sample;
          sample.ops_per_s = s.per_key ? r.getKeysPerS() : r.getOpsPerS();
          sample.p50_us = r.getP50Us();
          sample.p99_us = r.getP99Us();
          sample.cpu_us = s.per_key ? r.getServerCpuUsPerKey() : r.getServerCpuUsPerOp();
          sample.errors = r.getErrors();
          samples_[s.name][discache].push_back(sample);
          log("run %u %s %s: %.0f %s/s, p50 %.1f us, p99 %.1f us, server CPU %.2f us/%s, misses %.0f",
              run + 1, s.name, discache ? "discache" : "memcached", sample.ops_per_s,
              s.per_key ? "keys" : "ops", sample.p50_us, sample.p99_us, sample.cpu_us,
              s.per_key ? "key" : "op", r.getMisses());
        }
      }
      // Children are SIGKILLed here (a single node has nothing to hand over).
    }
  }

  template <typename... Args>
  void log(const char* format, Args... args) {
    if (verbose_) {
      fprintf(stderr, format, args...);
      fprintf(stderr, "\n");
    }
  }

  // ---- the table -------------------------------------------------------------------

  struct Medians {
    double ops_per_s, p50_us, p99_us, cpu_us, rss;
  };

  Medians medians(const char* scenario, bool discache) {
    const auto& list = samples_[scenario][discache];
    std::vector<double> ops, p50, p99, cpu;
    for (const auto& s : list) {
      ops.push_back(s.ops_per_s);
      p50.push_back(s.p50_us);
      p99.push_back(s.p99_us);
      cpu.push_back(s.cpu_us);
    }
    return Medians{median(ops), median(p50), median(p99), median(cpu), median(rss_[discache])};
  }

  static void fill(Figures::Builder f, const Medians& m) {
    f.setOpsPerS(m.ops_per_s);
    f.setP50Us(m.p50_us);
    f.setP99Us(m.p99_us);
    f.setServerCpuUsPerOp(m.cpu_us);
    f.setRssBytesPerItem(m.rss);
  }
  static Medians ratio(const Medians& d, const Medians& m) {
    // -1 marks a figure that could not be measured.
    auto div = [](double a, double b) { return a >= 0 && b > 0 ? a / b : -1.0; };
    return Medians{div(d.ops_per_s, m.ops_per_s), div(d.p50_us, m.p50_us),
                   div(d.p99_us, m.p99_us), div(d.cpu_us, m.cpu_us), div(d.rss, m.rss)};
  }

  void print() {
    const auto scenarios = all_scenarios();
    if (json_) {
      print_json(scenarios);
      return;
    }
    printf(
        "discache vs memcached -t %u on loopback: %s; %llu keys of 16 B, 100-byte values, "
        "%s memory each; node transport %s; medians of %u runs; %s\n",
        server_threads_, machine_description().c_str(), static_cast<unsigned long long>(keys_),
        (std::to_string(memory_mib_) + " MiB").c_str(), transport_.c_str(), runs_,
        utc_now().c_str());
    for (const auto& s : scenarios) {
      if (samples_[s.name][true].empty()) {
        continue;
      }
      const auto d = medians(s.name, true);
      const auto m = medians(s.name, false);
      const auto r = ratio(d, m);
      printf("\n%s) %s\n", s.name, s.description);
      printf("  %-18s %12s %10s %10s %16s %12s\n", "", s.per_key ? "keys/s" : "ops/s", "p50 us",
             "p99 us", s.per_key ? "srv CPU us/key" : "srv CPU us/op", "RSS B/item");
      printf("  %-18s %12.0f %10.1f %10.1f %16.3f %12.1f\n", "discache", d.ops_per_s, d.p50_us,
             d.p99_us, d.cpu_us, d.rss);
      printf("  %-18s %12.0f %10.1f %10.1f %16.3f %12.1f\n", "memcached", m.ops_per_s, m.p50_us,
             m.p99_us, m.cpu_us, m.rss);
      printf("  %-18s %12.2f %10.2f %10.2f %16.2f %12.2f\n", "discache/memcached", r.ops_per_s,
             r.p50_us, r.p99_us, r.cpu_us, r.rss);
      for (bool discache : {true, false}) {
        printf("  %-9s runs:", discache ? "discache" : "memcached");
        for (const auto& x : samples_[s.name][discache]) {
          printf("  %.0f/s p50 %.1f cpu %.3f", x.ops_per_s, x.p50_us, x.cpu_us);
        }
        printf("\n");
      }
    }
    printf("\nIssue 7 targets (ratios discache/memcached):\n");
    auto verdict = [](bool met) { return met ? "met" : "NOT met"; };
    if (!samples_["a"][true].empty()) {
      const auto r = ratio(medians("a", true), medians("a", false));
      printf("  server CPU per get at 8x16   <= 0.50: %.2f  %s\n", r.cpu_us, verdict(r.cpu_us <= 0.5));
      printf("  throughput at 8x16           >= 1.00: %.2f  %s\n", r.ops_per_s, verdict(r.ops_per_s >= 1.0));
      printf("  RSS per item                 <= 1.00: %.2f  %s\n", r.rss, verdict(r.rss <= 1.0));
    }
    if (!samples_["b"][true].empty()) {
      const auto r = ratio(medians("b", true), medians("b", false));
      printf("  blocking get p50             <= 1.50: %.2f  %s\n", r.p50_us, verdict(r.p50_us <= 1.5));
    }
    fflush(stdout);
  }

  void print_json(const std::vector<Scenario>& scenarios) {
    capnp::MallocMessageBuilder message;
    auto c = message.initRoot<Comparison>();
    std::size_t count = 0;
    for (const auto& s : scenarios) {
      count += samples_[s.name][true].empty() ? 0 : 1;
    }
    auto list = c.initScenarios(static_cast<unsigned>(count));
    unsigned i = 0;
    for (const auto& s : scenarios) {
      if (samples_[s.name][true].empty()) {
        continue;
      }
      const auto d = medians(s.name, true);
      const auto m = medians(s.name, false);
      auto entry = list[i++];
      entry.setName(s.name);
      entry.setDescription(s.description);
      entry.setPerKey(s.per_key);
      fill(entry.initDiscache(), d);
      fill(entry.initMemcached(), m);
      fill(entry.initRatio(), ratio(d, m));
      if (std::string(s.name) == "a") {
        fill(c.initDiscache(), d);
        fill(c.initMemcached(), m);
        fill(c.initRatio(), ratio(d, m));
      }
    }
    c.setRuns(runs_);
    c.setKeys(static_cast<double>(keys_));
    c.setValueSize(100);
    c.setMachine(machine_description());
    c.setDate(utc_now());
    c.setNodeTransport(transport_);
    capnp::JsonCodec codec;
    codec.handleByAnnotation<Comparison>();
    codec.setPrettyPrint(true);
    printf("%s\n", codec.encode(c.asReader()).cStr());
    fflush(stdout);
  }

  kj::ProcessContext& context_;
  unsigned runs_ = 3;
  std::string duration_ = "5s";
  std::string warmup_ = "1s";
  std::uint64_t keys_ = 500'000;
  unsigned memory_mib_ = 256;
  std::vector<char> chosen_{'a', 'b', 'c', 'd'};
  std::string transport_ = "coalescing";
  std::string node_;
  std::string memcached_ = "memcached";
  std::string discache_bench_;
  std::string memcached_bench_;
  unsigned server_threads_ = 1;
  bool verbose_ = false;
  bool json_ = false;
  // scenario -> discache? -> one sample per run
  std::map<std::string, std::map<bool, std::vector<Sample>>> samples_;
  std::map<bool, std::vector<double>> rss_;
};

}  // namespace
}  // namespace discache::bench

DISCACHE_MAIN(discache::bench::VsMain)
