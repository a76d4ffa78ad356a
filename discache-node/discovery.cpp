#include "discovery.h"

#include "cookie.h"

// The parts of Asio this file uses: all of <asio.hpp> costs seconds of compile.
#include <asio/buffer.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/multicast.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <iostream>
#include <sstream>

namespace discache::node {

std::expected<DiscoverySpec, Error> parse_discovery(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return std::unexpected(Error{Errc::invalid_argument, "bad --discover '" + std::string(text) +
                                                             "': " + std::string(why)});
  };
  if (text == "multicast") {
    return DiscoverySpec{DiscoverySpec::Kind::multicast, kDefaultMulticastGroup,
                         kDefaultMulticastPort};
  }
  DiscoverySpec spec;
  std::string_view rest;
  if (text.starts_with("dns:")) {
    spec.kind = DiscoverySpec::Kind::dns;
    rest = text.substr(4);
  } else if (text.starts_with("multicast:")) {
    spec.kind = DiscoverySpec::Kind::multicast;
    rest = text.substr(10);
  } else {
    return bad("expected dns:NAME:PORT, multicast or multicast:GROUP:PORT");
  }
  auto endpoint = parse_endpoint(rest);
  if (!endpoint) {
    return bad(endpoint.error().message);
  }
  spec.host = endpoint->host;
  spec.port = endpoint->port;
  if (spec.kind == DiscoverySpec::Kind::multicast) {
    asio::error_code ec;
    auto group = asio::ip::make_address(spec.host, ec);
    if (ec || !group.is_multicast()) {
      return bad("GROUP must be a multicast address, such as 239.255.45.92");
    }
  }
  return spec;
}

// Re-resolves a name every few intervals: every address it maps to is a seed
// (a Kubernetes headless service lists one address per pod).
class Discovery::DnsWatcher {
 public:
  DnsWatcher(asio::io_context& io, DiscoverySpec spec, Found found,
             std::chrono::milliseconds every)
      : resolver_(io), timer_(io), spec_(std::move(spec)), found_(std::move(found)), every_(every) {
    resolve();
  }

 private:
  void resolve() {
    resolver_.async_resolve(
        spec_.host, std::to_string(spec_.port),
        [this](const asio::error_code& ec, asio::ip::tcp::resolver::results_type results) {
          if (ec) {
            if (ec.message() != last_error_) {
              last_error_ = ec.message();
              std::cerr << "discache-node: cannot resolve " << spec_.host << ": " << last_error_
                        << "; retrying" << std::endl;
            }
          } else {
            last_error_.clear();
            for (const auto& entry : results) {
              found_(Endpoint{entry.endpoint().address().to_string(), spec_.port});
            }
          }
          timer_.expires_after(every_);
          timer_.async_wait([this](const asio::error_code& wait_ec) {
            if (!wait_ec) {
              resolve();
            }
          });
        });
  }

  asio::ip::tcp::resolver resolver_;
  asio::steady_timer timer_;
  DiscoverySpec spec_;
  Found found_;
  std::chrono::milliseconds every_;
  std::string last_error_;
};

namespace {

// Hex HMAC-SHA256 of `text` keyed with the cookie.
std::string sign(std::string_view cookie, std::string_view text) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), cookie.data(), static_cast<int>(cookie.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

}  // namespace

// Announces this node on a multicast group every interval and listens for
// the announcements of others. A datagram is one line:
//   discache/1 <cluster> <name> <address> [<hmac>]
// With a cookie, <hmac> is HMAC-SHA256(cookie, the line before it) and
// announcements without a valid one are ignored, so a stranger cannot pull
// nodes into another cluster. (Replaying a genuine announcement only makes
// nodes try to join a real member, which the cookie guards anyway.)
class Discovery::MulticastBeacon {
 public:
  MulticastBeacon(asio::io_context& io, DiscoverySpec spec, Self self, Found found,
                  std::chrono::milliseconds every)
      : socket_(io),
        timer_(io),
        group_(asio::ip::make_address(spec.host), spec.port),
        self_(std::move(self)),
        found_(std::move(found)),
        every_(every) {
    open();
  }

 private:
  void complain(const std::string& what, const asio::error_code& ec) {
    const std::string line = what + ": " + ec.message();
    if (line != last_error_) {
      last_error_ = line;
      std::cerr << "discache-node[" << self_.name << "]: multicast discovery: " << line
                << "; retrying" << std::endl;
    }
  }

  void open() {
    asio::error_code ec;
    socket_.close(ec);
    const auto group = group_.address();
    socket_.open(group.is_v6() ? asio::ip::udp::v6() : asio::ip::udp::v4(), ec);
    if (!ec) socket_.set_option(asio::ip::udp::socket::reuse_address(true), ec);
    if (!ec) {
      socket_.bind(asio::ip::udp::endpoint(
                       group.is_v6() ? asio::ip::address(asio::ip::address_v6::any())
                                     : asio::ip::address(asio::ip::address_v4::any()),
                       group_.port()),
                   ec);
    }
    // Join and send on the interface of the listen address when it is a
    // specific IPv4 one, so announcements go where peers can connect back.
    asio::error_code parse_ec;
    auto local = asio::ip::make_address(self_.address.host, parse_ec);
    const bool pinned = !parse_ec && local.is_v4() && !local.is_unspecified() && group.is_v4();
    if (!ec) {
      if (pinned) {
        socket_.set_option(asio::ip::multicast::join_group(group.to_v4(), local.to_v4()), ec);
        if (!ec) socket_.set_option(asio::ip::multicast::outbound_interface(local.to_v4()), ec);
      } else {
        socket_.set_option(asio::ip::multicast::join_group(group), ec);
      }
    }
    if (!ec) socket_.set_option(asio::ip::multicast::hops(1), ec);  // this LAN only
    if (!ec) socket_.set_option(asio::ip::multicast::enable_loopback(true), ec);
    if (ec) {
      complain("cannot join " + group_.address().to_string(), ec);
      open_ok_ = false;
    } else {
      open_ok_ = true;
      last_error_.clear();
      receive();
    }
    tick();
  }

  void tick() {
    timer_.expires_after(every_);
    timer_.async_wait([this](const asio::error_code& ec) {
      if (ec) {
        return;  // cancelled: shutting down
      }
      if (!open_ok_) {
        open();
        return;
      }
      announce();
      tick();
    });
  }

  void announce() {
    std::string text =
        "discache/1 " + self_.cluster + " " + self_.name + " " + self_.address.to_string();
    if (!self_.cookie.empty()) {
      text += " " + sign(self_.cookie, text);
    }
    auto line = std::make_shared<std::string>(text + "\n");
    socket_.async_send_to(asio::buffer(*line), group_,
                          [this, line](const asio::error_code& ec, std::size_t) {
                            if (ec) {
                              complain("cannot announce", ec);
                            }
                          });
  }

  void receive() {
    socket_.async_receive_from(
        asio::buffer(buffer_), sender_, [this](const asio::error_code& ec, std::size_t n) {
          if (ec == asio::error::operation_aborted) {
            return;
          }
          if (!ec) {
            handle(std::string_view(buffer_.data(), n));
          }
          receive();
        });
  }

  void handle(std::string_view datagram) {
    std::istringstream in{std::string(datagram)};
    std::string magic, cluster, name, address, mac;
    if (!(in >> magic >> cluster >> name >> address) || magic != "discache/1") {
      return;  // not ours: ignore silently, it is a shared port
    }
    in >> mac;
    if (cluster != self_.cluster || name == self_.name) {
      return;
    }
    if (!self_.cookie.empty() || !mac.empty()) {
      const std::string text = magic + " " + cluster + " " + name + " " + address;
      if (self_.cookie.empty() || !cookie_matches(sign(self_.cookie, text), mac)) {
        return;  // unsigned, or signed with another cookie
      }
    }
    if (auto endpoint = parse_endpoint(address)) {
      found_(*endpoint);
    }
  }

  asio::ip::udp::socket socket_;
  asio::steady_timer timer_;
  asio::ip::udp::endpoint group_;
  asio::ip::udp::endpoint sender_;
  std::array<char, 512> buffer_{};
  Self self_;
  Found found_;
  std::chrono::milliseconds every_;
  bool open_ok_ = false;
  std::string last_error_;
};

Discovery::Discovery(std::vector<DiscoverySpec> specs, Self self, Found found,
                     std::chrono::milliseconds interval) {
  for (auto& spec : specs) {
    if (spec.kind == DiscoverySpec::Kind::dns) {
      // Names change slowly; resolving every 5 intervals is plenty.
      dns_.push_back(std::make_unique<DnsWatcher>(io_, spec, found, interval * 5));
    } else {
      beacons_.push_back(std::make_unique<MulticastBeacon>(io_, spec, self, found, interval));
    }
  }
  if (!dns_.empty() || !beacons_.empty()) {
    thread_ = std::thread([this]() { io_.run(); });
  }
}

Discovery::~Discovery() {
  io_.stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace discache::node
