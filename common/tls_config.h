// TLS settings read from PEM files and checked before any connection is made.
#pragma once

#include <discache/error.hpp>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace discache {

// What a process needs to verify the nodes it connects to. Immutable; any thread.
struct TlsClientConfig {
  // The trusted CA certificates, one PEM block each (kj 0.9.2 trusts only the
  // first certificate of each block it is given, so a bundle is split here).
  std::vector<std::string> ca_pems;
  // The DNS name node certificates must carry; empty: the host part of each
  // node's address. kj 0.9.2 checks DNS names only, so a node addressed by IP
  // needs that IP as a DNS entry of its subjectAltName.
  std::string server_name;
};

// What a node needs to serve TLS. Immutable; any thread. Holds the private
// key: never log or print it.
struct TlsServerConfig {
  std::string cert_pem;  // the node's certificate, then any intermediates
  std::string key_pem;   // its private key, unencrypted PEM
};

// Reads the CA certificate(s) at `ca_path`; `label` says where the path came
// from ("--tls-ca", "tls_ca_file") in errors. Errors (invalid_argument):
// unreadable, or holding no PEM certificate; the message names label and path.
std::expected<TlsClientConfig, Error> load_tls_client(const std::string& ca_path,
                                                      std::string server_name,
                                                      std::string_view label);

// Reads a node's certificate (--tls-cert) and private key (--tls-key) and
// checks that they are PEM, the key is unencrypted, and it belongs to the
// certificate. Errors (invalid_argument) name the flag and path, never
// anything read from the key file.
std::expected<TlsServerConfig, Error> load_tls_server(const std::string& cert_path,
                                                      const std::string& key_path);

}  // namespace discache
