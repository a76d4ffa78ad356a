// Serves the Gate and Node capabilities of discache.capnp on accepted sockets.
#pragma once

#include <kj/async-io.h>

#include <string>

#include "node_loop.h"

namespace discache::node {

// `loop`'s thread only. Accepts connections on `listener` and gives each its
// own RPC system whose bootstrap is a Gate; runs until cancelled.
kj::Promise<void> serve(kj::ConnectionReceiver& listener, NodeLoop& loop);

// `loop`'s thread only. Serves one accepted connection exactly as serve()
// does (TLS handshake if the node has --tls-cert, limits, coalescing, Gate);
// resolves when it ends, for whatever reason. `peer` names it in log lines.
// The fuzz target feeds bytes here.
kj::Promise<void> serve_connection(kj::Own<kj::AsyncIoStream> stream, std::string peer,
                                   NodeLoop& loop);

}  // namespace discache::node
