// Network endpoints as users write them: host:port, [v6]:port, name:port.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include <discache/error.hpp>

namespace discache {

// A host (IPv4 literal, IPv6 literal without brackets, or a name) and a port.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;

  // The form parse() accepts back: IPv6 literals in brackets.
  std::string to_string() const;
  bool operator==(const Endpoint&) const = default;
};

// Parses "host:port", "[v6]:port"; port 0 only when allow_port_zero (listening
// on "any free port"). Errors are invalid_argument with a message saying why.
std::expected<Endpoint, Error> parse_endpoint(std::string_view text, bool allow_port_zero = false);

}  // namespace discache
