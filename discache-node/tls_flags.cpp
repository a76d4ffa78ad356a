#include "tls_flags.h"

namespace discache::node {

kj::MainBuilder::Validity TlsFlags::set_cert(kj::StringPtr path) {
  cert_ = std::string(path.cStr());
  return true;
}

kj::MainBuilder::Validity TlsFlags::set_key(kj::StringPtr path) {
  key_ = std::string(path.cStr());
  return true;
}

kj::MainBuilder::Validity TlsFlags::set_ca(kj::StringPtr path) {
  ca_ = std::string(path.cStr());
  return true;
}

std::expected<std::optional<NodeTlsConfig>, Error> TlsFlags::load() const {
  if (!cert_ && !key_ && !ca_) {
    return std::nullopt;
  }
  if (cert_.has_value() != key_.has_value()) {
    return std::unexpected(
        Error{Errc::invalid_argument,
              std::string(cert_ ? "--tls-cert needs --tls-key" : "--tls-key needs --tls-cert") +
                  ": give the node's certificate and its private key together"});
  }
  if (!cert_) {
    return std::unexpected(Error{Errc::invalid_argument,
                                 "--tls-ca needs --tls-cert and --tls-key: a node speaks TLS on "
                                 "its port and to its peers, or not at all"});
  }
  if (!ca_) {
    return std::unexpected(Error{Errc::invalid_argument,
                                 "--tls-cert and --tls-key need --tls-ca: the CA that signed the "
                                 "other nodes' certificates (nodes talk TLS to each other)"});
  }
  auto server = load_tls_server(*cert_, *key_);
  if (!server) {
    return std::unexpected(server.error());
  }
  auto peers = load_tls_client(*ca_, "", "--tls-ca");
  if (!peers) {
    return std::unexpected(peers.error());
  }
  return NodeTlsConfig{std::move(*server), std::move(*peers)};
}

}  // namespace discache::node
