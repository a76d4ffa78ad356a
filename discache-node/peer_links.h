// The node's connections to other nodes (membership probes, handoffs).
#pragma once

#include <kj/async-io.h>
#include <kj/map.h>

#include <string>

#include <discache/member.hpp>

#include "node_connection.h"

namespace discache::node {

// Event-loop thread only. One cached connection per peer name, made on first
// use and dropped when a call on it fails, so the next use reconnects.
class PeerLinks {
 public:
  // `tls`: talk TLS to peers and verify their certificates (null: plain
  // TCP); must outlive this object.
  PeerLinks(kj::Network& network, std::string self_name, std::string cookie,
            TlsClient* tls = nullptr);

  // The peer's Node capability, connecting first if needed.
  kj::Promise<wire::Node::Client> link(const Member& member);
  // A new connection to `endpoint`, logged in as this node (TLS if on), not
  // cached: for seeds, whose names are not known yet.
  kj::Promise<kj::Own<NodeConnection>> dial(const Endpoint& endpoint);
  // Forgets the connection to `name` (it broke or timed out).
  void drop(const std::string& name);

 private:
  kj::Network& network_;
  std::string self_name_;
  std::string cookie_;
  TlsClient* tls_;
  // A link serves one incarnation at one address: a restarted peer (new
  // incarnation) gets a new connection instead of the dead one.
  struct Link {
    kj::Own<NodeConnection> connection;
    std::uint64_t incarnation = 0;
    std::string address;
    std::uint64_t id = 0;  // tells a link from a later one to the same peer
  };
  kj::HashMap<kj::String, Link> links_;
  std::uint64_t next_id_ = 1;
  kj::Own<kj::TaskSet::ErrorHandler> errors_;
  kj::TaskSet graveyard_;  // connections are destroyed on a later turn
};

}  // namespace discache::node
