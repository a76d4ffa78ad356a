// The node's TLS flags: collected while the command line is parsed, checked
// together at start.
#pragma once

#include <kj/main.h>

#include <discache/error.hpp>
#include <expected>
#include <optional>
#include <string>

#include "tls_config.h"

namespace discache::node {

// What a TLS node needs: its own certificate and key (served on its port)
// and the CA its peers' certificates are checked against (nodes talk TLS to
// each other too). Immutable; any thread.
struct NodeTlsConfig {
  TlsServerConfig server;
  TlsClientConfig peers;
};

// Main thread only, during start-up.
class TlsFlags {
 public:
  // Setters for kj::MainBuilder: --tls-cert, --tls-key, --tls-ca.
  kj::MainBuilder::Validity set_cert(kj::StringPtr path);
  kj::MainBuilder::Validity set_key(kj::StringPtr path);
  kj::MainBuilder::Validity set_ca(kj::StringPtr path);

  // nullopt when no TLS flag was given (plain TCP). Errors (invalid_argument,
  // naming the flags or the file): a flag without the others (TLS needs all
  // three), or a file that cannot be used (see tls_config.h).
  std::expected<std::optional<NodeTlsConfig>, Error> load() const;

 private:
  std::optional<std::string> cert_;
  std::optional<std::string> key_;
  std::optional<std::string> ca_;
};

}  // namespace discache::node
