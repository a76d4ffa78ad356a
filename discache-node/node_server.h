// Serves the Gate and Node capabilities of discache.capnp on accepted sockets.
#pragma once

#include <kj/async-io.h>
#include <kj/timer.h>

#include "limit_log.h"
#include "node_context.h"

namespace discache::node {

// Event-loop thread only. Accepts connections on `listener` and gives each
// its own RPC system whose bootstrap is a Gate; runs until cancelled.
// `timer` drives the idle timeout of context.connection_limits.
kj::Promise<void> serve(kj::ConnectionReceiver& listener, NodeContext& context, kj::Timer& timer);

// Event-loop thread only. Serves one accepted connection exactly as serve()
// does (TLS handshake if context.tls, limits, coalescing, Gate); resolves
// when it ends, for whatever reason. `peer` names it in log lines. The fuzz
// target feeds bytes here.
kj::Promise<void> serve_connection(kj::Own<kj::AsyncIoStream> stream, std::string peer,
                                   NodeContext& context, kj::Timer& timer, LimitLog& log);

}  // namespace discache::node
