// A child process with its stdout and stderr drained into memory, for
// integration tests that drive the real binaries.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <expected>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wait_until.h"

namespace discache::testing {

// How a process ended.
struct ExitStatus {
  bool signaled = false;  // killed by a signal rather than exiting
  int code = 0;           // exit code, or the signal number when `signaled`

  bool exited_with(int exit_code) const { return !signaled && code == exit_code; }
  bool killed_by(int signal) const { return signaled && code == signal; }
};
std::ostream& operator<<(std::ostream& out, const ExitStatus& status);

// The path of a binary under test from environment variable `variable`
// (meson sets DISCACHE_NODE and DISCACHE_CTL). Aborts the test binary with a
// message when it is unset or not executable: nothing can run without it.
std::string executable_from_env(const char* variable);

// One child process. A private thread drains its stdout and stderr as they
// arrive (so the child never blocks on a full pipe) and feeds it `stdin_data`.
//
// The destructor SIGKILLs the child if it still runs and reaps it, so no test
// leaves a process behind, even when an assertion throws. The child also gets
// SIGKILL if the thread that spawned it exits (PR_SET_PDEATHSIG), which covers
// a test binary that crashes or is killed by the test runner's timeout: spawn
// long-lived children from a thread that outlives them (the test's own thread).
//
// Threads: one thread owns the object (spawn, signal, wait, destroy); the
// output accessors may be called from any thread.
class ChildProcess {
 public:
  struct Options {
    std::vector<std::string> argv;         // argv[0] is the path to execute
    std::optional<std::string> stdin_data;  // nullopt: stdin is /dev/null
    std::string label;                      // names the log file; defaults to argv[0]'s basename
  };

  // Forks and execs. Errors: the pipes or the fork failed (a failed exec shows
  // as exit code 127 with the reason on stderr).
  static std::expected<ChildProcess, std::string> spawn(Options options);

  ChildProcess(ChildProcess&&) noexcept;
  ChildProcess& operator=(ChildProcess&&) noexcept;
  ~ChildProcess();

  pid_t pid() const;

  // The exit status once the child has ended (reaps it); nullopt while it runs.
  std::optional<ExitStatus> poll_exit();
  // Waits until the child ends or `deadline` passes.
  std::optional<ExitStatus> wait_exit(Deadline deadline);
  // Sends `signal` unless the child has already been reaped. Returns whether it was sent.
  bool send_signal(int signal);
  // SIGKILL and reap. Returns the exit status (normally killed_by(SIGKILL)).
  ExitStatus kill_and_reap();

  // Everything the child wrote so far. Any thread.
  std::string stdout_text() const;
  std::string stderr_text() const;
  // Waits until `match(stderr so far)` is true (returns true), or the child
  // closes stderr, or `deadline` passes (returns false). Any thread.
  bool wait_for_stderr(const std::function<bool(std::string_view)>& match, Deadline deadline) const;

 private:
  struct State;
  explicit ChildProcess(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// What a finished command printed and how it ended.
struct CommandResult {
  ExitStatus status;
  bool timed_out = false;  // killed by run_command after `timeout`
  std::string out;
  std::string err;

  // Exit code, or -1 when killed by a signal (including our timeout).
  int exit_code() const { return status.signaled ? -1 : status.code; }
};
// Prints exit status, stdout and stderr, for assertion messages.
std::ostream& operator<<(std::ostream& out, const CommandResult& result);

// Runs `argv` to completion, feeding it `stdin_data`; kills it after `timeout`.
CommandResult run_command(std::vector<std::string> argv,
                          std::optional<std::string> stdin_data = std::nullopt,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace discache::testing
