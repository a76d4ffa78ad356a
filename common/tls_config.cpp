#include "tls_config.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

namespace discache {
namespace {

// PEM files are a few KiB; anything far bigger is the wrong file (or /dev/zero).
constexpr std::size_t kMaxPemBytes = 1024 * 1024;
// kj::TlsCertificate holds at most this many certificates in a chain.
constexpr int kMaxChain = 10;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using CertPtr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

// Our checks leave OpenSSL's per-thread error queue as they found it: kj-tls
// reports whatever is queued when a later handshake fails, and stale entries
// would be blamed on it.
struct ClearOpensslErrors {
  ~ClearOpensslErrors() { ERR_clear_error(); }
};

Error bad(std::string_view label, const std::string& path, std::string_view why) {
  return Error{Errc::invalid_argument, std::string(label) + " " + path + ": " + std::string(why)};
}

std::expected<std::string, Error> read_file(std::string_view label, const std::string& path) {
  if (path.empty()) {
    return std::unexpected(Error{Errc::invalid_argument, std::string(label) + " is empty"});
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return std::unexpected(bad(label, path, "cannot read (it is a directory)"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::unexpected(
        bad(label, path, std::string("cannot read (") + std::strerror(errno) + ")"));
  }
  std::string text;
  char chunk[4096];
  while (in.read(chunk, sizeof(chunk)) || in.gcount() > 0) {
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxPemBytes) {
      return std::unexpected(bad(label, path, "over 1 MiB: not a PEM file"));
    }
  }
  if (in.bad()) {
    return std::unexpected(bad(label, path, "cannot read"));
  }
  if (text.empty()) {
    return std::unexpected(bad(label, path, "the file is empty"));
  }
  return text;
}

BioPtr memory_bio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate in `text`, in order; empty when there is none. nullopt
// when a block that looks like a certificate cannot be parsed.
std::optional<std::vector<CertPtr>> read_certificates(const std::string& text) {
  auto bio = memory_bio(text);
  if (!bio) {
    return std::nullopt;
  }
  std::vector<CertPtr> certs;
  while (true) {
    CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      const unsigned long error = ERR_peek_last_error();
      // "No start line": no more certificates, which ends the file normally.
      if (ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE) {
        return certs;
      }
      return std::nullopt;
    }
    certs.push_back(std::move(cert));
  }
}

std::optional<std::string> to_pem(X509* cert) {
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509(out.get(), cert) != 1) {
    return std::nullopt;
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// Refuses to prompt: an encrypted key fails to load instead of blocking on a tty.
int no_password(char*, int, int, void*) {
  return -1;
}

}  // namespace

std::expected<TlsClientConfig, Error> load_tls_client(const std::string& ca_path,
                                                      std::string server_name,
                                                      std::string_view label) {
  ClearOpensslErrors clear;
  auto text = read_file(label, ca_path);
  if (!text) {
    return std::unexpected(text.error());
  }
  auto certs = read_certificates(*text);
  if (!certs) {
    return std::unexpected(bad(label, ca_path, "a certificate in it cannot be parsed"));
  }
  if (certs->empty()) {
    return std::unexpected(
        bad(label, ca_path, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
  }
  TlsClientConfig config;
  for (auto& cert : *certs) {
    auto pem = to_pem(cert.get());
    if (!pem) {
      return std::unexpected(bad(label, ca_path, "a certificate in it cannot be re-encoded"));
    }
    config.ca_pems.push_back(std::move(*pem));
  }
  config.server_name = std::move(server_name);
  return config;
}

std::expected<TlsServerConfig, Error> load_tls_server(const std::string& cert_path,
                                                      const std::string& key_path) {
  ClearOpensslErrors clear;
  auto cert_text = read_file("--tls-cert", cert_path);
  if (!cert_text) {
    return std::unexpected(cert_text.error());
  }
  auto key_text = read_file("--tls-key", key_path);
  if (!key_text) {
    return std::unexpected(key_text.error());
  }
  auto certs = read_certificates(*cert_text);
  if (!certs) {
    return std::unexpected(bad("--tls-cert", cert_path, "a certificate in it cannot be parsed"));
  }
  if (certs->empty()) {
    return std::unexpected(
        bad("--tls-cert", cert_path, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
  }
  if (certs->size() > kMaxChain) {
    return std::unexpected(bad("--tls-cert", cert_path, "more than 10 certificates in the chain"));
  }
  auto key_bio = memory_bio(*key_text);
  KeyPtr key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, &no_password, nullptr)
                     : nullptr);
  if (!key) {
    // Only our own words: nothing read from the key file reaches the message.
    const bool encrypted = key_text->find("ENCRYPTED") != std::string::npos;
    return std::unexpected(bad("--tls-key", key_path,
                               encrypted ? "the key is encrypted; give an unencrypted PEM key "
                                           "(openssl pkey -in KEY -out PLAIN)"
                                         : "holds no PEM private key"));
  }
  if (X509_check_private_key(certs->front().get(), key.get()) != 1) {
    return std::unexpected(bad("--tls-key", key_path,
                               "does not belong to the certificate in --tls-cert " + cert_path));
  }
  return TlsServerConfig{std::move(*cert_text), std::move(*key_text)};
}

}  // namespace discache
