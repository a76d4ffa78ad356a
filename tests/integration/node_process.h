// One real discache-node process on 127.0.0.1, which a test can stop, kill
// and restart under the same name and port.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "child_process.h"

namespace discache::testing {

struct NodeConfig {
  std::string name;                     // --name; empty: the node names itself by address
  std::uint16_t port = 0;               // 0: the node picks a free port on first start
  std::vector<std::string> seeds;       // --seed, in order
  std::vector<std::string> extra_args;  // e.g. {"--max-value-bytes", "4096"}
};

// Owns at most one running discache-node at a time (the binary comes from
// $DISCACHE_NODE). The destructor SIGKILLs a node still running. Each run's
// stderr is kept, so log() shows the node's whole history across restarts.
//
// Threads: one thread owns the object and makes every call; it should be the
// thread that outlives the node (see ChildProcess on PR_SET_PDEATHSIG).
class NodeProcess {
 public:
  explicit NodeProcess(NodeConfig config);
  NodeProcess(NodeProcess&&) noexcept = default;
  NodeProcess& operator=(NodeProcess&&) noexcept = default;
  ~NodeProcess() = default;

  // Starts the node and waits for its "listening on HOST:PORT" line; the port
  // it reports is kept, so later restarts reuse it. Fails (with the node's
  // stderr in the message) if the node exits or stays silent until `timeout`.
  // Requires: not running.
  std::expected<void, std::string> start(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // start() again with the same name and port, retrying while the port is
  // still held (e.g. right after a SIGKILL) until `timeout`. Requires: not running.
  std::expected<void, std::string> restart(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // SIGTERM, then waits for the exit. nullopt if it did not exit in time (the
  // node is then SIGKILLed, so it never outlives the call). Requires: running.
  std::optional<ExitStatus> stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // SIGKILL and reap. Requires: running.
  ExitStatus kill();
  // Sends `signal` (e.g. SIGSTOP to freeze the node, SIGCONT to thaw it).
  // Returns false when the node is not running.
  bool send_signal(int signal);
  // True while the process has not exited (reaps it if it has).
  bool running();
  // The running process's id; nullopt when not running.
  std::optional<pid_t> pid() const;
  // How the last run ended; nullopt while running or before the first start.
  std::optional<ExitStatus> last_exit() const { return last_exit_; }

  // The name passed with --name (may be empty before the first start).
  const std::string& name() const { return config_.name; }
  // "127.0.0.1:PORT"; valid after the first successful start.
  std::string address() const;
  std::uint16_t port() const { return config_.port; }
  // The config used for the next (re)start: tests may change seeds or flags.
  NodeConfig& config() { return config_; }
  // From the next (re)start on, runs the node through `launcher`, a command
  // that execs its arguments (so signals still reach the node), e.g.
  // {"/usr/bin/env", "FAKETIME=+1h", ...}; empty: directly.
  void run_under(std::vector<std::string> launcher) { launcher_ = std::move(launcher); }
  // stderr of every run so far, including the current one.
  std::string log() const;

 private:
  std::vector<std::string> command_line() const;
  void retire_child();

  NodeConfig config_;
  std::vector<std::string> launcher_;
  std::optional<ChildProcess> child_;
  std::optional<ExitStatus> last_exit_;
  std::string past_logs_;  // stderr of finished runs
};

// Whether `node`'s stderr so far (every run) contains `text`.
bool log_has(const NodeProcess& node, std::string_view text);

// Whether process `pid` is stopped (SIGSTOP has taken effect: kill()
// returns before the target has stopped, and may answer a request meanwhile).
bool is_stopped(pid_t pid);

// The resident memory (VmRSS) of process `pid` in bytes; 0 once it is gone.
std::uint64_t rss_bytes(pid_t pid);

}  // namespace discache::testing
