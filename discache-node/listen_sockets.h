// The listening sockets a node's event loops accept on: one per loop, all on
// one port.
#pragma once

#include <cstddef>
#include <cstdint>
#include <discache/error.hpp>
#include <expected>
#include <string>
#include <vector>

#include "endpoint.h"

namespace discache::node {

struct ListenSockets {
  std::vector<int> fds;    // listening, owned by the caller: one per loop
  std::uint16_t port = 0;  // the port bound (the one asked for, or the kernel's pick for 0)
};

// Any thread, at start-up. Binds `count` sockets to `at`; with more than
// one, each has SO_REUSEPORT so the kernel spreads incoming connections
// over them by their addresses. A port already in use (by anyone, even
// another discache-node that would accept sharing it) is refused, so two
// nodes never split one port's connections between them.
std::expected<ListenSockets, Error> open_listen_sockets(const Endpoint& at, std::size_t count);

}  // namespace discache::node
