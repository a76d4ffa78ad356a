#include "listen_sockets.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace discache::node {
namespace {

Error failed(const Endpoint& at, const std::string& why) {
  return Error{Errc::invalid_argument, "cannot listen on " + at.to_string() + ": " + why};
}

std::expected<int, Error> bind_one(const Endpoint& at, const addrinfo& address, bool reuse_port) {
  const int fd = socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC, address.ai_protocol);
  if (fd < 0) {
    return std::unexpected(failed(at, std::strerror(errno)));
  }
  const int on = 1;
  // SO_REUSEADDR: a restarted node rebinds at once despite TIME_WAIT.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) {
    const int error = errno;
    close(fd);
    return std::unexpected(failed(at, std::string("SO_REUSEPORT: ") + std::strerror(error)));
  }
  if (bind(fd, address.ai_addr, address.ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
    const int error = errno;
    close(fd);
    return std::unexpected(failed(at, std::strerror(error)));
  }
  return fd;
}

std::uint16_t port_of(int fd) {
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  if (bound.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

void set_port(addrinfo& address, std::uint16_t port) {
  if (address.ai_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(address.ai_addr)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(address.ai_addr)->sin_port = htons(port);
  }
}

}  // namespace

std::expected<ListenSockets, Error> open_listen_sockets(const Endpoint& at, std::size_t count) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(at.port);
  if (const int rc = getaddrinfo(at.host.c_str(), port_text.c_str(), &hints, &found); rc != 0) {
    return std::unexpected(failed(at, gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(found, &freeaddrinfo);
  addrinfo& address = *found;
  const bool shared = count > 1;
  if (shared && at.port != 0) {
    // Members of a SO_REUSEPORT group can only join a port nobody holds
    // without it, so binding without it first proves the port is free.
    auto probe = bind_one(at, address, /*reuse_port=*/false);
    if (!probe) {
      return std::unexpected(probe.error());
    }
    close(*probe);
  }
  ListenSockets sockets;
  for (std::size_t i = 0; i < count; ++i) {
    auto fd = bind_one(at, address, shared);
    if (!fd) {
      for (int open : sockets.fds) {
        close(open);
      }
      return std::unexpected(fd.error());
    }
    sockets.fds.push_back(*fd);
    if (i == 0) {
      sockets.port = port_of(*fd);
      set_port(address, sockets.port);  // the rest join the port the first got
    }
  }
  return sockets;
}

}  // namespace discache::node
