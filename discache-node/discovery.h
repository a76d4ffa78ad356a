// Finds other nodes without configured seeds: DNS names and UDP multicast.
#pragma once

#include <asio/io_context.hpp>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <discache/error.hpp>

#include "endpoint.h"

namespace discache::node {

// One --discover argument.
struct DiscoverySpec {
  enum class Kind : std::uint8_t { dns, multicast };
  Kind kind = Kind::dns;
  std::string host;         // dns: the name to resolve; multicast: the group
  std::uint16_t port = 0;   // dns: the discache port; multicast: the UDP port
};

// The original's libcluster Gossip strategy used port 45892; we keep it, on
// an administratively scoped multicast group (stays inside the site).
inline constexpr const char* kDefaultMulticastGroup = "239.255.45.92";
inline constexpr std::uint16_t kDefaultMulticastPort = 45892;

// Parses "dns:NAME:PORT", "multicast" or "multicast:GROUP:PORT".
std::expected<DiscoverySpec, Error> parse_discovery(std::string_view text);

// Runs its own Asio event loop on a private thread (Asio's resolver and UDP
// sockets; the node's KJ loop is untouched). `found` is called on that
// thread with every address discovered, repeatedly: the receiver ignores
// addresses it already knows.
class Discovery {
 public:
  struct Self {
    std::string cluster;  // announcements of other clusters are ignored
    std::string name;
    Endpoint address;     // what peers should connect to
    std::string cookie;   // when set, announcements are signed and checked
  };
  using Found = std::function<void(Endpoint)>;

  Discovery(std::vector<DiscoverySpec> specs, Self self, Found found,
            std::chrono::milliseconds interval = std::chrono::seconds(1));
  // Stops the thread; no `found` call runs after it returns.
  ~Discovery();

 private:
  class DnsWatcher;
  class MulticastBeacon;

  asio::io_context io_;
  std::vector<std::unique_ptr<DnsWatcher>> dns_;
  std::vector<std::unique_ptr<MulticastBeacon>> beacons_;
  std::thread thread_;
};

}  // namespace discache::node
