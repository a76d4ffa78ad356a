#include "node_fleet.h"

#include <fcntl.h>
#include <kj/debug.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

namespace discache::bench {
namespace {

// Every running child, for the signal handler: lock-free atomics are the only
// shared state a handler may touch. 0 marks a free slot.
std::array<std::atomic<pid_t>, NodeFleet::kMaxChildren> g_children{};

bool remember_child(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, pid)) {
      return true;
    }
  }
  return false;
}

void forget_child(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) {
      return;
    }
  }
}

extern "C" void kill_children_and_die(int signal_number) {
  for (auto& slot : g_children) {
    const pid_t pid = slot.load();
    if (pid > 0) {
      kill(pid, SIGKILL);
    }
  }
  // Die of the same signal, so the shell sees how the bench ended.
  std::signal(signal_number, SIG_DFL);
  raise(signal_number);
}

constexpr char kListeningMarker[] = ": listening on ";

}  // namespace

NodeFleet::NodeFleet(std::string node_binary, std::string log_dir)
    : node_binary_(std::move(node_binary)), log_dir_(std::move(log_dir)) {}

NodeFleet::~NodeFleet() {
  kill_all();
}

void NodeFleet::install_signal_cleanup() {
  struct sigaction action {};
  action.sa_handler = kill_children_and_die;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGHUP, &action, nullptr);
}

std::expected<std::size_t, std::string> NodeFleet::spawn(const std::string& name,
                                                         const std::vector<std::string>& args) {
  Child child;
  child.name = name;
  child.log_path = log_dir_ + "/" + name + ".log";

  std::vector<std::string> argv_text = {node_binary_, "--name", name, "--listen", "127.0.0.1:0"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_text) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);

  const int log_fd = open(child.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return std::unexpected("cannot open " + child.log_path + ": " + std::strerror(errno));
  }
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int fork_errno = errno;
    close(log_fd);
    close(null_fd);
    return std::unexpected(std::string("fork failed: ") + std::strerror(fork_errno));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only until exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
      _exit(127);  // the bench died between fork and prctl
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execv(argv[0], argv.data());
    static constexpr char kExecFailed[] = "discache-membership-bench: exec failed\n";
    [[maybe_unused]] auto ignored = write(STDERR_FILENO, kExecFailed, sizeof kExecFailed - 1);
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  child.pid = pid;
  if (!remember_child(pid)) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return std::unexpected("more than " + std::to_string(kMaxChildren) + " children");
  }
  nodes_.push_back(std::move(child));
  return nodes_.size() - 1;
}

kj::Promise<Endpoint> NodeFleet::listening(std::size_t index, kj::Timer& timer,
                                           kj::Duration timeout) {
  const kj::TimePoint deadline = timer.now() + timeout;
  // Polls the log every 2 ms: the node prints the line right after binding.
  auto poll = [this, index, &timer, deadline](auto& self) -> kj::Promise<Endpoint> {
    Child& child = nodes_.at(index);
    std::ifstream in(child.log_path);
    std::string line;
    while (std::getline(in, line)) {
      const auto at = line.find(kListeningMarker);
      if (at != std::string::npos) {
        auto endpoint = parse_endpoint(line.substr(at + std::strlen(kListeningMarker)));
        if (!endpoint) {
          return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                               kj::str("unparsable listen line: ", line.c_str()));
        }
        return *endpoint;
      }
    }
    if (try_reap(child)) {
      return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                           kj::str(child.name.c_str(), " exited before listening"));
    }
    if (timer.now() >= deadline) {
      return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                           kj::str(child.name.c_str(), " did not listen in time"));
    }
    return timer.afterDelay(2 * kj::MILLISECONDS).then([&self]() { return self(self); });
  };
  // The lambda refers to itself; keep it alive for the whole chain.
  auto holder = kj::heap<decltype(poll)>(kj::mv(poll));
  auto& ref = *holder;
  return ref(ref).attach(kj::mv(holder));
}

void NodeFleet::signal(std::size_t index, int signal_number) {
  Child& child = nodes_.at(index);
  if (child.pid > 0) {
    kill(child.pid, signal_number);
  }
}

bool NodeFleet::try_reap(Child& child) {
  if (child.pid <= 0) {
    return true;
  }
  int status = 0;
  const pid_t result = waitpid(child.pid, &status, WNOHANG);
  if (result == child.pid || (result < 0 && errno == ECHILD)) {
    forget_child(child.pid);
    child.pid = -1;
    if (result > 0) {
      child.wait_status = status;
    }
    return true;
  }
  return false;
}

kj::Promise<std::optional<int>> NodeFleet::reaped(std::size_t index, kj::Timer& timer,
                                                  kj::Duration timeout) {
  const kj::TimePoint deadline = timer.now() + timeout;
  auto poll = [this, index, &timer, deadline](auto& self) -> kj::Promise<std::optional<int>> {
    Child& child = nodes_.at(index);
    if (try_reap(child)) {
      return child.wait_status;
    }
    if (timer.now() >= deadline) {
      return std::optional<int>();
    }
    return timer.afterDelay(2 * kj::MILLISECONDS).then([&self]() { return self(self); });
  };
  auto holder = kj::heap<decltype(poll)>(kj::mv(poll));
  auto& ref = *holder;
  return ref(ref).attach(kj::mv(holder));
}

void NodeFleet::kill_all() {
  for (auto& child : nodes_) {
    if (child.pid > 0) {
      kill(child.pid, SIGKILL);
    }
  }
  for (auto& child : nodes_) {
    if (child.pid > 0) {
      int status = 0;
      waitpid(child.pid, &status, 0);
      forget_child(child.pid);
      child.pid = -1;
      child.wait_status = status;
    }
  }
}

std::string NodeFleet::log_tail(std::size_t index, std::size_t lines) const {
  std::ifstream in(nodes_.at(index).log_path);
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) {
    all.push_back(line);
  }
  std::ostringstream out;
  const std::size_t from = all.size() > lines ? all.size() - lines : 0;
  for (std::size_t i = from; i < all.size(); ++i) {
    out << "  " << all[i] << "\n";
  }
  return out.str();
}

}  // namespace discache::bench
