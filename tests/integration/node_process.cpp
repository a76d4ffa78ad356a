#include "node_process.h"

#include <charconv>
#include <fstream>
#include <iterator>
#include <csignal>
#include <sstream>

namespace discache::testing {
namespace {

constexpr std::string_view kListening = "]: listening on ";

struct ListenLine {
  std::string name;
  std::uint16_t port = 0;
};

// Finds "discache-node[NAME]: listening on HOST:PORT\n" in `log`.
std::optional<ListenLine> parse_listen_line(std::string_view log) {
  const auto at = log.find(kListening);
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  const auto line_start = log.rfind('\n', at);
  const auto begin = line_start == std::string_view::npos ? 0 : line_start + 1;
  const auto end = log.find('\n', at);
  if (end == std::string_view::npos) {
    return std::nullopt;  // the line is not complete yet
  }
  const std::string_view head = log.substr(begin, at - begin);  // "discache-node[NAME"
  const std::string_view address = log.substr(at + kListening.size(), end - at - kListening.size());
  const auto open = head.find('[');
  const auto colon = address.rfind(':');
  if (open == std::string_view::npos || colon == std::string_view::npos) {
    return std::nullopt;
  }
  unsigned port = 0;
  const auto digits = address.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc{} || ptr != digits.data() + digits.size() || port == 0 || port > 65535) {
    return std::nullopt;
  }
  return ListenLine{std::string(head.substr(open + 1)), static_cast<std::uint16_t>(port)};
}

}  // namespace

NodeProcess::NodeProcess(NodeConfig config) : config_(std::move(config)) {}

std::vector<std::string> NodeProcess::command_line() const {
  std::vector<std::string> argv = launcher_;
  argv.insert(argv.end(), {executable_from_env("DISCACHE_NODE"), "--listen",
                           "127.0.0.1:" + std::to_string(config_.port)});
  if (!config_.name.empty()) {
    argv.insert(argv.end(), {"--name", config_.name});
  }
  for (const auto& seed : config_.seeds) {
    argv.insert(argv.end(), {"--seed", seed});
  }
  argv.insert(argv.end(), config_.extra_args.begin(), config_.extra_args.end());
  return argv;
}

std::expected<void, std::string> NodeProcess::start(std::chrono::milliseconds timeout) {
  if (child_) {
    return std::unexpected("node " + config_.name + " is already running");
  }
  const auto deadline = deadline_in(timeout);
  auto child = ChildProcess::spawn(
      {command_line(), std::nullopt, "node-" + (config_.name.empty() ? "unnamed" : config_.name)});
  if (!child) {
    return std::unexpected("cannot spawn discache-node: " + child.error());
  }
  const bool listening = child->wait_for_stderr(
      [](std::string_view log) { return parse_listen_line(log).has_value(); }, deadline);
  child_ = std::move(*child);
  if (!listening) {
    // Exited (bad flag, port in use) or silent: either way this run is over.
    auto status = child_->wait_exit(deadline_in(std::chrono::milliseconds(500)));
    std::ostringstream why;
    why << "discache-node " << config_.name << " did not start: ";
    if (status) {
      why << *status;
    } else {
      why << "no listening line before the deadline";
      child_->kill_and_reap();
    }
    why << "\n" << child_->stderr_text();
    retire_child();
    return std::unexpected(why.str());
  }
  auto line = parse_listen_line(child_->stderr_text());
  config_.port = line->port;
  if (config_.name.empty()) {
    config_.name = line->name;
  }
  return {};
}

std::expected<void, std::string> NodeProcess::restart(std::chrono::milliseconds timeout) {
  const auto deadline = deadline_in(timeout);
  std::expected<void, std::string> result;
  wait_until(
      [&]() {
        result = start(std::chrono::duration_cast<std::chrono::milliseconds>(
            std::max(deadline - Clock::now(), Clock::duration(std::chrono::milliseconds(500)))));
        // Only a port still held by the previous run is worth another try.
        return result.has_value() || result.error().find("cannot listen") == std::string::npos;
      },
      deadline);
  return result;
}

std::optional<ExitStatus> NodeProcess::stop(std::chrono::milliseconds timeout) {
  if (!child_) {
    return last_exit_;
  }
  child_->send_signal(SIGTERM);
  auto status = child_->wait_exit(deadline_in(timeout));
  if (!status) {
    child_->kill_and_reap();
    retire_child();
    return std::nullopt;
  }
  retire_child();
  return status;
}

ExitStatus NodeProcess::kill() {
  if (!child_) {
    return last_exit_.value_or(ExitStatus{});
  }
  child_->kill_and_reap();
  retire_child();
  return *last_exit_;
}

bool NodeProcess::send_signal(int signal) { return child_ && child_->send_signal(signal); }

bool NodeProcess::running() {
  if (!child_) {
    return false;
  }
  if (child_->poll_exit()) {
    retire_child();
    return false;
  }
  return true;
}

std::optional<pid_t> NodeProcess::pid() const {
  return child_ ? std::optional<pid_t>(child_->pid()) : std::nullopt;
}

std::string NodeProcess::address() const { return "127.0.0.1:" + std::to_string(config_.port); }

std::string NodeProcess::log() const {
  return child_ ? past_logs_ + child_->stderr_text() : past_logs_;
}

// Keeps the finished run's exit status and stderr; the child must have exited.
void NodeProcess::retire_child() {
  last_exit_ = child_->poll_exit();
  std::ostringstream end;
  end << "[harness] this run of the node ended: ";
  if (last_exit_) {
    end << *last_exit_;
  } else {
    end << "still running";
  }
  past_logs_ += child_->stderr_text() + end.str() + "\n";
  child_.reset();
}

bool log_has(const NodeProcess& node, std::string_view text) {
  return node.log().find(text) != std::string::npos;
}

bool is_stopped(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // "pid (comm) S ...": the state follows the last ')' (comm may hold one).
  const auto paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'T';
}

std::uint64_t rss_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoull(line.substr(6)) * 1024;
    }
  }
  return 0;
}

}  // namespace discache::testing
