#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <ostream>
#include <thread>

extern char** environ;

namespace discache::testing {
namespace {

// Writing a child's stdin after it exited must fail with EPIPE, not kill us.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, []() { std::signal(SIGPIPE, SIG_IGN); });
}

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

void close_fd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

ExitStatus decode_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    return ExitStatus{true, WTERMSIG(status)};
  }
  return ExitStatus{false, WEXITSTATUS(status)};
}

// DISCACHE_TEST_LOG_DIR, when set, receives a copy of every child's output:
// handy when a test binary is killed before it can print anything.
int open_log_file(const std::string& label, pid_t pid) {
  const char* dir = std::getenv("DISCACHE_TEST_LOG_DIR");
  if (dir == nullptr || *dir == '\0') {
    return -1;
  }
  std::error_code ignored;
  std::filesystem::create_directories(dir, ignored);
  const std::string path = std::string(dir) + "/" + label + "." + std::to_string(getpid()) + "-" +
                           std::to_string(pid) + ".log";
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const ExitStatus& status) {
  if (status.signaled) {
    return out << "killed by signal " << status.code << " (" << strsignal(status.code) << ")";
  }
  return out << "exit code " << status.code;
}

std::ostream& operator<<(std::ostream& out, const CommandResult& result) {
  out << result.status << (result.timed_out ? " (timed out)" : "") << "\n--- stdout ---\n"
      << result.out << "\n--- stderr ---\n"
      << result.err;
  return out;
}

std::string executable_from_env(const char* variable) {
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0' || ::access(value, X_OK) != 0) {
    std::fprintf(stderr,
                 "integration tests need %s set to an executable (meson test sets it); got '%s'\n",
                 variable, value == nullptr ? "(unset)" : value);
    std::abort();
  }
  return value;
}

struct ChildProcess::State {
  pid_t pid = -1;
  std::optional<ExitStatus> exit;
  std::thread drainer;
  int log_fd = -1;

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::string out;     // guarded by mutex
  std::string err;     // guarded by mutex
  bool closed = false;  // guarded by mutex: both output pipes reached EOF

  ~State() {
    if (drainer.joinable()) {
      drainer.join();
    }
    close_fd(log_fd);
  }

  // Drainer thread: moves output into the buffers, input into the child.
  void drain(int out_fd, int err_fd, int in_fd, std::string input) {
    std::size_t written = 0;
    if (in_fd >= 0 && input.empty()) {
      close_fd(in_fd);
    }
    char buffer[64 * 1024];
    while (out_fd >= 0 || err_fd >= 0) {
      pollfd fds[3];
      int* owners[3];
      nfds_t count = 0;
      for (int* fd : {&out_fd, &err_fd}) {
        if (*fd >= 0) {
          fds[count] = pollfd{*fd, POLLIN, 0};
          owners[count++] = fd;
        }
      }
      if (in_fd >= 0) {
        fds[count] = pollfd{in_fd, POLLOUT, 0};
        owners[count++] = &in_fd;
      }
      if (::poll(fds, count, -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        break;
      }
      for (nfds_t i = 0; i < count; ++i) {
        if (fds[i].revents == 0) {
          continue;
        }
        int& fd = *owners[i];
        if (&fd == &in_fd) {
          const ssize_t n = ::write(fd, input.data() + written, input.size() - written);
          if (n > 0) {
            written += static_cast<std::size_t>(n);
          }
          if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
            close_fd(in_fd);  // done, or the child stopped reading
          }
          continue;
        }
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
          continue;
        }
        if (n <= 0) {
          close_fd(fd);
          continue;
        }
        if (log_fd >= 0) {
          [[maybe_unused]] auto ignored = ::write(log_fd, buffer, static_cast<std::size_t>(n));
        }
        std::lock_guard lock(mutex);
        (&fd == &out_fd ? out : err).append(buffer, static_cast<std::size_t>(n));
        changed.notify_all();
      }
    }
    close_fd(out_fd);
    close_fd(err_fd);
    close_fd(in_fd);
    std::lock_guard lock(mutex);
    closed = true;
    changed.notify_all();
  }

  // Records how the child ended, then waits briefly for the drainer to read
  // what is left in the pipes, so the buffers are complete afterwards.
  void finish(ExitStatus status) {
    exit = status;
    std::unique_lock lock(mutex);
    changed.wait_for(lock, std::chrono::seconds(5), [this]() { return closed; });
  }
};

std::expected<ChildProcess, std::string> ChildProcess::spawn(Options options) {
  ignore_sigpipe_once();
  if (options.argv.empty()) {
    return std::unexpected("no program given");
  }
  // Everything the child needs is prepared before fork(): between fork and
  // exec only async-signal-safe calls are allowed in a threaded process.
  std::vector<char*> argv;
  for (auto& arg : options.argv) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  if (options.label.empty()) {
    options.label = std::filesystem::path(options.argv[0]).filename().string();
  }

  // O_CLOEXEC on every descriptor: a child spawned concurrently by another
  // thread must not inherit our pipe ends, or EOF would never come.
  int out_pipe[2];
  int err_pipe[2];
  int in_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return std::unexpected(errno_text("pipe2"));
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    auto error = errno_text("pipe2");
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return std::unexpected(error);
  }
  const bool feed_stdin = options.stdin_data.has_value();
  if (feed_stdin) {
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
      in_pipe[0] = in_pipe[1] = -1;
    } else {
      ::fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    }
  } else {
    in_pipe[0] = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  auto close_all = [&]() {
    for (int* fd : {&out_pipe[0], &out_pipe[1], &err_pipe[0], &err_pipe[1], &in_pipe[0],
                    &in_pipe[1]}) {
      close_fd(*fd);
    }
  };
  if (in_pipe[0] < 0) {
    auto error = errno_text("stdin");
    close_all();
    return std::unexpected(error);
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    auto error = errno_text("fork");
    close_all();
    return std::unexpected(error);
  }
  if (pid == 0) {
    // Child: die with the spawning thread; start from default signal handling
    // and an empty mask whatever the test process (or KJ) set up.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      ::sigaction(sig, &default_action, nullptr);  // fails harmlessly for KILL, STOP
    }
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(in_pipe[0], 0) < 0 || ::dup2(out_pipe[1], 1) < 0 || ::dup2(err_pipe[1], 2) < 0) {
      ::_exit(127);
    }
    ::execve(argv[0], argv.data(), environ);
    const char message[] = "child_process: execve failed\n";
    [[maybe_unused]] auto ignored = ::write(2, message, sizeof message - 1);
    ::_exit(127);
  }

  close_fd(out_pipe[1]);
  close_fd(err_pipe[1]);
  close_fd(in_pipe[0]);
  auto state = std::make_unique<State>();
  state->pid = pid;
  state->log_fd = open_log_file(options.label, pid);
  state->drainer = std::thread(&State::drain, state.get(), out_pipe[0], err_pipe[0], in_pipe[1],
                               std::move(options.stdin_data).value_or(std::string()));
  return ChildProcess(std::move(state));
}

ChildProcess::ChildProcess(std::unique_ptr<State> state) : state_(std::move(state)) {}
ChildProcess::ChildProcess(ChildProcess&&) noexcept = default;
ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (state_ && !state_->exit) {
      kill_and_reap();
    }
    state_ = std::move(other.state_);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (state_ && !state_->exit) {
    kill_and_reap();
  }
  // ~State joins the drainer: the pipes are at EOF once the child is gone.
}

pid_t ChildProcess::pid() const { return state_->pid; }

std::optional<ExitStatus> ChildProcess::poll_exit() {
  if (state_->exit) {
    return state_->exit;
  }
  int status = 0;
  pid_t done = ::waitpid(state_->pid, &status, WNOHANG);
  while (done < 0 && errno == EINTR) {
    done = ::waitpid(state_->pid, &status, WNOHANG);
  }
  if (done == state_->pid) {
    state_->finish(decode_wait_status(status));
  } else if (done < 0) {
    // ECHILD: someone else reaped it (SIGCHLD ignored?). Gone, status unknown.
    state_->finish(ExitStatus{false, -1});
  }
  return state_->exit;
}

std::optional<ExitStatus> ChildProcess::wait_exit(Deadline deadline) {
  wait_until([this]() { return poll_exit().has_value(); }, deadline);
  return state_->exit;
}

bool ChildProcess::send_signal(int signal) {
  // An exited but unreaped child keeps its pid, so this never hits a stranger.
  if (state_->exit) {
    return false;
  }
  return ::kill(state_->pid, signal) == 0;
}

ExitStatus ChildProcess::kill_and_reap() {
  if (state_->exit) {
    return *state_->exit;
  }
  ::kill(state_->pid, SIGKILL);
  int status = 0;
  pid_t done = ::waitpid(state_->pid, &status, 0);
  while (done < 0 && errno == EINTR) {
    done = ::waitpid(state_->pid, &status, 0);
  }
  state_->finish(done == state_->pid ? decode_wait_status(status) : ExitStatus{true, SIGKILL});
  return *state_->exit;
}

std::string ChildProcess::stdout_text() const {
  std::lock_guard lock(state_->mutex);
  return state_->out;
}

std::string ChildProcess::stderr_text() const {
  std::lock_guard lock(state_->mutex);
  return state_->err;
}

bool ChildProcess::wait_for_stderr(const std::function<bool(std::string_view)>& match,
                                   Deadline deadline) const {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_until(
             lock, deadline, [&]() { return match(state_->err) || state_->closed; }) &&
         match(state_->err);
}

CommandResult run_command(std::vector<std::string> argv, std::optional<std::string> stdin_data,
                          std::chrono::milliseconds timeout) {
  CommandResult result;
  auto child = ChildProcess::spawn({std::move(argv), std::move(stdin_data), {}});
  if (!child) {
    result.status = ExitStatus{false, 127};
    result.err = "run_command: " + child.error();
    return result;
  }
  auto status = child->wait_exit(deadline_in(timeout));
  if (!status) {
    result.timed_out = true;
    status = child->kill_and_reap();
  }
  result.status = *status;
  result.out = child->stdout_text();
  result.err = child->stderr_text();
  return result;
}

}  // namespace discache::testing
