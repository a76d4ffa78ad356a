// The discache-node child processes of one benchmark run: start, signal, reap.
#pragma once

#include <kj/async.h>
#include <kj/timer.h>
#include <sys/types.h>

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "endpoint.h"

namespace discache::bench {

// Main thread only (the one running the KJ event loop). Owns its children:
// the destructor SIGKILLs and reaps any still running; they also get SIGKILL
// if this process dies (PR_SET_PDEATHSIG), and install_signal_cleanup() makes
// SIGINT/SIGTERM kill them before the bench exits. No child outlives the bench.
class NodeFleet {
 public:
  // Most children alive at once across all fleets (the signal handler's table).
  static constexpr std::size_t kMaxChildren = 512;

  // `node_binary` is exec'd for every node; logs go to `log_dir`/NAME.log.
  NodeFleet(std::string node_binary, std::string log_dir);
  ~NodeFleet();
  NodeFleet(const NodeFleet&) = delete;
  NodeFleet& operator=(const NodeFleet&) = delete;

  // SIGINT/SIGTERM to the bench: SIGKILL every child of every fleet, then
  // die of the signal. Call once, before spawning.
  static void install_signal_cleanup();

  // Forks and execs `node_binary --name NAME --listen 127.0.0.1:0 ARGS...`
  // with stdout and stderr to its log. Returns the node's index. Errors: the
  // log could not be opened, fork failed, or too many children.
  std::expected<std::size_t, std::string> spawn(const std::string& name,
                                                const std::vector<std::string>& args);

  // Resolves with the address from the node's "listening on" log line;
  // rejects when the child exits first or `timeout` passes.
  kj::Promise<Endpoint> listening(std::size_t index, kj::Timer& timer, kj::Duration timeout);

  // Sends `signal` if the child has not been reaped yet.
  void signal(std::size_t index, int signal);
  // Resolves with the wait status once the child ends, or nullopt after `timeout`.
  kj::Promise<std::optional<int>> reaped(std::size_t index, kj::Timer& timer, kj::Duration timeout);
  // SIGKILLs and reaps every child still running (blocking; children die at once).
  void kill_all();

  const std::string& name(std::size_t index) const { return nodes_.at(index).name; }
  const std::string& log_path(std::size_t index) const { return nodes_.at(index).log_path; }
  std::size_t size() const { return nodes_.size(); }

  // The last `lines` lines of a node's log, for error messages.
  std::string log_tail(std::size_t index, std::size_t lines) const;

 private:
  struct Child {
    std::string name;
    std::string log_path;
    pid_t pid = -1;  // -1 once reaped
    std::optional<int> wait_status;
  };
  // Reaps the child without blocking if it has ended; true once it is reaped.
  bool try_reap(Child& child);

  std::string node_binary_;
  std::string log_dir_;
  std::vector<Child> nodes_;
};

}  // namespace discache::bench
