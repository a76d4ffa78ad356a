#include "endpoint.h"

#include <algorithm>
#include <charconv>

namespace discache {
namespace {

Error bad(std::string_view text, std::string_view why) {
  return Error{Errc::invalid_argument,
               "bad address '" + std::string(text) + "': " + std::string(why)};
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

}  // namespace

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

std::expected<Endpoint, Error> parse_endpoint(std::string_view text, bool allow_port_zero) {
  if (text.empty()) {
    return std::unexpected(bad(text, "empty"));
  }
  std::string_view host;
  std::string_view port_text;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      return std::unexpected(bad(text, "missing ']'"));
    }
    host = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return std::unexpected(bad(text, "expected ':PORT' after ']'"));
    }
    port_text = rest.substr(1);
    // An IPv6 literal, optionally with a zone id after '%' (an interface
    // name such as eth0, or its index).
    const auto percent = host.find('%');
    const auto address = host.substr(0, percent);
    const auto zone = percent == std::string_view::npos ? std::string_view{} : host.substr(percent + 1);
    if (address.empty() || address.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos ||
        address.find(':') == std::string_view::npos ||
        (percent != std::string_view::npos &&
         (zone.empty() || !std::all_of(zone.begin(), zone.end(), is_host_char)))) {
      return std::unexpected(bad(text, "not an IPv6 literal inside [ ]"));
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::unexpected(bad(text, "expected HOST:PORT"));
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return std::unexpected(bad(text, "write IPv6 addresses as [ADDR]:PORT"));
    }
    if (host.empty()) {
      return std::unexpected(bad(text, "missing host"));
    }
    for (char c : host) {
      if (!is_host_char(c)) {
        return std::unexpected(bad(text, "invalid character in host"));
      }
    }
  }
  if (port_text.empty()) {
    return std::unexpected(bad(text, "missing port"));
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || value > 65535) {
    return std::unexpected(bad(text, "port must be a number from 1 to 65535"));
  }
  if (value == 0 && !allow_port_zero) {
    return std::unexpected(bad(text, "port must be a number from 1 to 65535"));
  }
  return Endpoint{std::string(host), static_cast<std::uint16_t>(value)};
}

}  // namespace discache
