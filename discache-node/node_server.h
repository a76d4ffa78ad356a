// Serves the Gate and Node capabilities of discache.capnp on accepted sockets.
#pragma once

#include <kj/async-io.h>

#include "node_context.h"

namespace discache::node {

// Event-loop thread only. Accepts connections on `listener` and gives each
// its own RPC system whose bootstrap is a Gate; runs until cancelled.
kj::Promise<void> serve(kj::ConnectionReceiver& listener, NodeContext& context);

}  // namespace discache::node
