// TLS on one connection's byte stream, client or server side (kj-tls).
#pragma once

#include <kj/async-io.h>
#include <kj/compat/tls.h>

#include <string>

#include "endpoint.h"
#include "tls_config.h"

namespace discache {

// The description of every exception TlsClient::wrap fails with starts with
// this, so callers can tell a TLS failure from an unreachable node.
inline constexpr const char* kTlsFailurePrefix = "tls: ";
// What a TLS-only node answers a peer that spoke plain Cap'n Proto to it
// (the peer sees it as "remote exception: tls required: ...").
inline constexpr const char* kTlsRequired = "tls required";

// KJ thread only: kj::TlsContext does not promise thread safety, so each
// event-loop thread makes its own TlsClient from the shared, immutable config.
class TlsClient {
 public:
  explicit TlsClient(const TlsClientConfig& config);
  KJ_DISALLOW_COPY(TlsClient);

  // Runs the client's handshake on `stream`, connected to `endpoint`, and
  // verifies the node's certificate: signed by a trusted CA and naming
  // config.server_name, or else endpoint.host. Resolves only once verified,
  // so nothing (the cookie included) goes to an unverified node. Fails with
  // a FAILED exception whose description starts with kTlsFailurePrefix.
  kj::Promise<kj::Own<kj::AsyncIoStream>> wrap(kj::Own<kj::AsyncIoStream> stream,
                                               const Endpoint& endpoint);

 private:
  kj::Own<kj::TlsContext> context_;
  std::string server_name_;
};

// KJ thread only, for the same reason: one per event-loop thread.
class TlsServer {
 public:
  explicit TlsServer(const TlsServerConfig& config);
  KJ_DISALLOW_COPY(TlsServer);

  // Runs the server's handshake on an accepted `stream`. No time limit of its
  // own: the caller bounds it. A failure's reason: tls_failure_reason().
  kj::Promise<kj::Own<kj::AsyncIoStream>> wrap(kj::Own<kj::AsyncIoStream> stream);

 private:
  kj::Own<kj::TlsContext> context_;
};

// True for TlsClient::wrap's failures and for a TLS-only node's refusal of a
// plaintext peer.
bool is_tls_failure(const kj::Exception& exception);

// A failed handshake's reason in a few words, for messages and logs (OpenSSL
// reasons carry no key material).
std::string tls_failure_reason(const kj::Exception& exception);

}  // namespace discache
