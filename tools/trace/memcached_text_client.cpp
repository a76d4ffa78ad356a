#include "memcached_text_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace discache::trace {
namespace {

std::runtime_error io_error(const char* what) {
  return std::runtime_error(std::string("memcached: ") + what + ": " + std::strerror(errno));
}

}  // namespace

MemcachedTextClient::MemcachedTextClient(const std::string& host, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    throw std::runtime_error("memcached: " + host + " is not an IPv4 address");
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    throw io_error("socket");
  }
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const auto error = io_error("connect");
    ::close(fd_);
    throw error;
  }
  // Each get waits for its answer; Nagle would hold small writes back.
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

MemcachedTextClient::~MemcachedTextClient() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void MemcachedTextClient::send_all(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw io_error("send");
    }
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
}

void MemcachedTextClient::fill() {
  if (in_at_ > 0) {
    in_.erase(0, in_at_);
    in_at_ = 0;
  }
  char buffer[64 * 1024];
  ssize_t got = 0;
  do {
    got = ::recv(fd_, buffer, sizeof buffer, 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    throw io_error("recv");
  }
  if (got == 0) {
    throw std::runtime_error("memcached closed the connection");
  }
  in_.append(buffer, static_cast<std::size_t>(got));
}

std::string MemcachedTextClient::read_line() {
  while (true) {
    const auto end = in_.find("\r\n", in_at_);
    if (end != std::string::npos) {
      std::string line = in_.substr(in_at_, end - in_at_);
      in_at_ = end + 2;
      return line;
    }
    fill();
  }
}

void MemcachedTextClient::skip_bytes(std::size_t count) {
  while (in_.size() - in_at_ < count) {
    fill();
  }
  in_at_ += count;
}

bool MemcachedTextClient::get(std::string_view key) {
  std::string request = "get ";
  request.append(key);
  request.append("\r\n");
  send_all(request);
  bool hit = false;
  while (true) {
    const std::string line = read_line();
    if (line == "END") {
      return hit;
    }
    // "VALUE <key> <flags> <bytes>": skip the data block and its "\r\n".
    if (line.rfind("VALUE ", 0) != 0) {
      throw std::runtime_error("memcached: unexpected reply to get: " + line);
    }
    const auto last_space = line.rfind(' ');
    skip_bytes(std::stoull(line.substr(last_space + 1)) + 2);
    hit = true;
  }
}

void MemcachedTextClient::set(std::string_view key, std::string_view value) {
  std::string request = "set ";
  request.append(key);
  request.append(" 0 0 " + std::to_string(value.size()) + " noreply\r\n");
  request.append(value);
  request.append("\r\n");
  send_all(request);
}

void MemcachedTextClient::sync() {
  send_all("version\r\n");
  const std::string line = read_line();
  if (line.rfind("VERSION", 0) != 0) {
    throw std::runtime_error("memcached: unexpected reply to version: " + line);
  }
}

void MemcachedTextClient::set_many(const std::vector<std::pair<std::string, std::string>>& items) {
  out_.clear();
  for (const auto& [key, value] : items) {
    out_.append("set ");
    out_.append(key);
    out_.append(" 0 0 " + std::to_string(value.size()) + " noreply\r\n");
    out_.append(value);
    out_.append("\r\n");
    // Bounded buffering: flush every ~1 MiB.
    if (out_.size() > (1 << 20)) {
      send_all(out_);
      out_.clear();
    }
  }
  send_all(out_);
  out_.clear();
  sync();
}

std::map<std::string, std::string> MemcachedTextClient::stats() {
  send_all("stats\r\n");
  std::map<std::string, std::string> out;
  while (true) {
    const std::string line = read_line();
    if (line == "END") {
      return out;
    }
    // "STAT <name> <value>"
    const auto name_end = line.find(' ', 5);
    if (line.rfind("STAT ", 0) == 0 && name_end != std::string::npos) {
      out[line.substr(5, name_end - 5)] = line.substr(name_end + 1);
    }
  }
}

std::string MemcachedTextClient::summary() {
  auto s = stats();
  return "items=" + s["curr_items"] + " bytes=" + s["bytes"] +
         " limit_maxbytes=" + s["limit_maxbytes"] + " evictions=" + s["evictions"];
}

}  // namespace discache::trace
