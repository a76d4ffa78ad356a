#include "tls_stream.h"

#include <kj/debug.h>

#include <string_view>
#include <vector>

namespace discache {
namespace {

kj::TlsContext::Options common_options() {
  kj::TlsContext::Options options;
  // Only the cluster's own CA is trusted: a certificate some public CA issued
  // for the same name must not pass.
  options.useSystemTrustStore = false;
  options.minVersion = kj::TlsVersion::TLS_1_2;
  return options;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

TlsClient::TlsClient(const TlsClientConfig& config) : server_name_(config.server_name) {
  std::vector<kj::TlsCertificate> cas;
  for (const auto& pem : config.ca_pems) {
    cas.emplace_back(kj::StringPtr(pem.c_str()));
  }
  auto options = common_options();
  options.trustedCertificates = kj::arrayPtr(cas.data(), cas.size());
  // The context keeps its own references to the certificates.
  context_ = kj::heap<kj::TlsContext>(kj::mv(options));
}

kj::Promise<kj::Own<kj::AsyncIoStream>> TlsClient::wrap(kj::Own<kj::AsyncIoStream> stream,
                                                        const Endpoint& endpoint) {
  const std::string& expected = server_name_.empty() ? endpoint.host : server_name_;
  auto name = kj::heapString(expected.c_str());
  kj::StringPtr name_ref = name;
  // evalNow: a failure while starting the handshake is reported like any other.
  auto handshake = kj::evalNow([&]() { return context_->wrapClient(kj::mv(stream), name_ref); });
  return handshake.attach(kj::mv(name))
      .catch_([where = endpoint.to_string(),
               expected](kj::Exception&& e) -> kj::Own<kj::AsyncIoStream> {
        std::string why = tls_failure_reason(e);
        if (contains(why, "hostname mismatch")) {
          why += " (the certificate does not name '" + expected +
                 "' in a DNS entry of its subjectAltName; an IP address must be listed as "
                 "DNS:ADDRESS too, or set the TLS server name)";
        } else if (contains(why, "local issuer") || contains(why, "self-signed") ||
                   contains(why, "self signed")) {
          why += " (no CA in the TLS CA file signed it)";
        }
        kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                                              kj::str(kTlsFailurePrefix, "handshake with ",
                                                      where.c_str(), " failed: ", why.c_str())));
      });
}

TlsServer::TlsServer(const TlsServerConfig& config) {
  kj::TlsKeypair keypair{kj::TlsPrivateKey(kj::StringPtr(config.key_pem.c_str())),
                         kj::TlsCertificate(kj::StringPtr(config.cert_pem.c_str()))};
  auto options = common_options();
  options.defaultKeypair = keypair;
  // The context keeps its own references to the key and certificates.
  context_ = kj::heap<kj::TlsContext>(kj::mv(options));
}

kj::Promise<kj::Own<kj::AsyncIoStream>> TlsServer::wrap(kj::Own<kj::AsyncIoStream> stream) {
  return kj::evalNow([&]() { return context_->wrapServer(kj::mv(stream)); });
}

bool is_tls_failure(const kj::Exception& exception) {
  const std::string_view description = exception.getDescription().cStr();
  return description.starts_with(kTlsFailurePrefix) || description.starts_with(kTlsRequired) ||
         description.starts_with(std::string("remote exception: ") + kTlsRequired);
}

std::string tls_failure_reason(const kj::Exception& exception) {
  std::string_view text = exception.getDescription().cStr();
  if (contains(text, "provided no certificate")) {
    // kj's words when the peer closed the socket mid-handshake.
    return "the connection closed during the handshake (does the node serve TLS, and is it under "
           "--max-connections?)";
  }
  if (auto trusted = text.find("not trusted; reason = "); trusted != std::string_view::npos) {
    return "certificate not accepted: " +
           std::string(text.substr(trusted + std::string_view("not trusted; reason = ").size()));
  }
  // "OpenSSL error; message = error:0A00010B:SSL routines::wrong version number"
  if (auto routines = text.rfind("::");
      routines != std::string_view::npos && contains(text, "OpenSSL")) {
    std::string why(text.substr(routines + 2));
    if (why == "wrong version number" || why == "packet length too long" ||
        why == "record layer failure") {
      why += " (the peer does not speak TLS)";
    }
    return why;
  }
  if (exception.getType() == kj::Exception::Type::DISCONNECTED) {
    return "the connection closed during the handshake (does the node serve TLS?)";
  }
  return std::string(text);
}

}  // namespace discache
