// Joins the cluster through seeds, then spreads the member list by gossip.
#pragma once

#include <kj/async-io.h>
#include <kj/map.h>

#include <chrono>
#include <random>
#include <vector>

#include "endpoint.h"
#include "node_connection.h"
#include "node_context.h"

namespace discache::node {

// Event-loop thread only. Each round it swaps member lists with one random
// peer (push-pull), so a change reaches all n nodes in O(log n) rounds.
class GossipLoop {
 public:
  GossipLoop(NodeContext& ctx, kj::Network& network, kj::Timer& timer, std::vector<Endpoint> seeds,
             kj::Duration interval);

  // Joins through the first seed that answers (retrying while none does),
  // then gossips every interval. Never resolves; cancel to stop.
  kj::Promise<void> run();

 private:
  kj::Promise<void> join();
  kj::Promise<void> join_from(std::size_t index);
  kj::Promise<void> gossip_forever();
  kj::Promise<void> gossip_round();
  // A cached connection to `member`; dropped again when a call on it fails.
  kj::Promise<wire::Node::Client> link(const Member& member);
  void drop_link(const std::string& name);

  NodeContext& ctx_;
  kj::Network& network_;
  kj::Timer& timer_;
  std::vector<Endpoint> seeds_;
  kj::Duration interval_;
  kj::HashMap<kj::String, kj::Own<NodeConnection>> links_;
  std::mt19937_64 random_;
  bool told_unreachable_ = false;
};

}  // namespace discache::node
