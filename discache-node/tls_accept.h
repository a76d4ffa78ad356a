// The node's side of the TLS handshake on an accepted connection.
#pragma once

#include <kj/async-io.h>
#include <kj/timer.h>

#include <chrono>
#include <string>

#include "connection_limits.h"
#include "limit_log.h"
#include "tls_stream.h"

namespace discache::node {

// A handshake takes a few round trips; a peer that has not finished after
// this long (or after --idle-timeout, if shorter) is dropped, so silent
// connections cannot pile up before they count as logged in.
inline constexpr std::chrono::milliseconds kTlsHandshakeTimeout{10'000};

// The handshake's time limit under `limits`.
kj::Duration tls_handshake_timeout(const ConnectionLimits& limits);

// Event-loop thread only. Runs the handshake on `stream` within `timeout`.
// Resolves to the decrypted stream, or to null once the connection is over:
// - the handshake failed or timed out (one line in `log`, rate-limited, with
//   OpenSSL's reason);
// - the peer spoke plain Cap'n Proto: it is answered that this node requires
//   TLS (so its login fails with a clear error instead of a dropped
//   connection), and closed after its answer or at the time limit;
// - the peer closed without sending anything (a port probe: not logged).
// `peer` names the peer in log lines.
kj::Promise<kj::Maybe<kj::Own<kj::AsyncIoStream>>> accept_tls(kj::Own<kj::AsyncIoStream> stream,
                                                              TlsServer& tls, kj::Timer& timer,
                                                              kj::Duration timeout, LimitLog& log,
                                                              std::string peer);

}  // namespace discache::node
