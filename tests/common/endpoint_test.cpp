// parse_endpoint / Endpoint::to_string: every address a user types goes through here.
#include "endpoint.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace discache {
namespace {

struct GoodCase {
  std::string_view text;
  std::string_view host;
  std::uint16_t port;
};

TEST_CASE("well-formed endpoints parse and print back unchanged") {
  const GoodCase cases[] = {
      {"127.0.0.1:7400", "127.0.0.1", 7400},
      {"localhost:1", "localhost", 1},
      {"[::1]:7400", "::1", 7400},
      {"[2001:db8::17]:443", "2001:db8::17", 443},
      {"[::ffff:10.0.0.1]:7400", "::ffff:10.0.0.1", 7400},
      // A numeric zone index is how scoped link-local addresses look on some systems.
      {"[fe80::1%1]:80", "fe80::1%1", 80},
      {"node-1.example.com:65535", "node-1.example.com", 65535},
      {"cache_a:7400", "cache_a", 7400},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const auto parsed = parse_endpoint(c.text);
    REQUIRE(parsed.has_value());
    CHECK(parsed->host == c.host);
    CHECK(parsed->port == c.port);
    // The printed form is what discache-ctl shows and what peers gossip, so
    // it must parse back to the same endpoint.
    CHECK(parsed->to_string() == c.text);
    const auto reparsed = parse_endpoint(parsed->to_string());
    REQUIRE(reparsed.has_value());
    CHECK(*reparsed == *parsed);
  }
}

TEST_CASE("to_string brackets IPv6 hosts only") {
  CHECK(Endpoint{"::1", 7400}.to_string() == "[::1]:7400");
  CHECK(Endpoint{"10.1.2.3", 9}.to_string() == "10.1.2.3:9");
  CHECK(Endpoint{"example.org", 80}.to_string() == "example.org:80");
}

TEST_CASE("port 0 is accepted only when asked for") {
  const auto listen_any = parse_endpoint("0.0.0.0:0", /*allow_port_zero=*/true);
  REQUIRE(listen_any.has_value());
  CHECK(listen_any->port == 0);
  CHECK(parse_endpoint("[::]:0", true).has_value());

  const auto refused = parse_endpoint("host:0");
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::invalid_argument);
}

TEST_CASE("malformed endpoints are invalid_argument with a message naming the input") {
  const std::string_view cases[] = {
      "",
      "host",
      ":7400",
      "host:",
      "host:0",
      "host:65536",
      "host:99999999999999999999",
      "host:12ab",
      "host:-1",
      "host:+1",
      "host: 1",
      "::1:7400",  // unbracketed IPv6: the last ':' is ambiguous
      "[::1]7400",
      "[::1]:",
      "[::1",
      "[]:7400",
      "[127.0.0.1]:7400",  // brackets are for IPv6 only
      "[::1]:80]",
      "ho st:1",
      "host/x:1",
  };
  for (const std::string_view text : cases) {
    CAPTURE(text);
    const auto parsed = parse_endpoint(text);
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().code == Errc::invalid_argument);
    CHECK_FALSE(parsed.error().message.empty());
    // The message quotes the input so a user with several --seed flags can
    // tell which one is wrong.
    CHECK(parsed.error().message.find("'" + std::string(text) + "'") != std::string::npos);
  }
}

// Regression: zone ids are interface names on Linux (fe80::1%eth0); the
// bracket check once admitted only hex digits after '%'.
TEST_CASE("an IPv6 zone id may be an interface name") {
  const auto parsed = parse_endpoint("[fe80::1%eth0]:80");
  REQUIRE(parsed.has_value());
  CHECK(parsed->host == "fe80::1%eth0");
  CHECK(parsed->to_string() == "[fe80::1%eth0]:80");
  CHECK_FALSE(parse_endpoint("[fe80::1%]:80").has_value());
  CHECK_FALSE(parse_endpoint("[fe80::1%e th]:80").has_value());
}

}  // namespace
}  // namespace discache
