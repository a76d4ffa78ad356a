// Blocking reads done on the calling thread, without a hop to the I/O thread.
#pragma once

#include <optional>
#include <string_view>

#include "client_core.h"

namespace discache::detail {

// A blocking get or has_key that hops to the client's I/O thread and back
// pays two thread wake-ups on top of the network round trip (about 4x
// memcached's latency here). So each application thread gets its own small
// KJ event loop and its own connections to the nodes (as libmemcached's
// pools do), used only by blocking reads, routed with the I/O thread's
// latest RouteSnapshot.
//
// Only the plain cases are answered here: a value from the first live owner,
// or a miss that is final (every live owner missed, no ring transition).
// Anything else (a value found after a miss, which needs read repair; an
// error; a node that did not answer, which is first reported to the I/O
// thread so it routes around it) returns nullopt, and the caller takes the
// ordinary path through the I/O thread.
class CallerPath {
 public:
  // Any thread but the client's I/O thread. `kind` is get or has.
  static std::optional<OpResult> try_read(ClientCore& core, OpKind kind, std::string_view key);
};

}  // namespace discache::detail
