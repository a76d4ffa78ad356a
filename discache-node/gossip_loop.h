// Joins the cluster through seeds, probes every peer, spreads the member list.
#pragma once

#include <kj/async-io.h>
#include <kj/map.h>

#include <random>
#include <set>
#include <vector>

#include "endpoint.h"
#include "failure_detector.h"
#include "node_connection.h"
#include "node_context.h"
#include "peer_links.h"

namespace discache::node {

// Event-loop thread only.
//
// Every probe interval the node makes a push-pull gossip exchange with each
// peer that has not left. The exchange is both the heartbeat (a peer that
// answers was heard from) and the dissemination (both sides merge lists), so
// a change reaches every node within one interval of the first node that saw
// it. Cost: n-1 small calls per node per interval, fine up to ~100 nodes
// (docs/design.md, Membership).
class GossipLoop {
 public:
  // Connects to seeds and peers through `peers` (which knows cookie and TLS).
  GossipLoop(NodeContext& ctx, PeerLinks& peers, kj::Timer& timer, std::vector<Endpoint> seeds,
             FailureTiming timing);

  // Joins through the seeds in the background (retrying until one answers)
  // and probes peers every interval. Never resolves; cancel to stop.
  kj::Promise<void> run();
  // Discovery found `endpoint`: join through it unless it is a known member.
  void add_seed(Endpoint endpoint);
  // Marks this node `state` (leaving/left) and tells every live peer at once;
  // resolves when all answered or after the probe timeout.
  kj::Promise<void> announce_self(MemberState state);

 private:
  kj::Promise<void> join_loop(bool said_unreachable);
  kj::Promise<bool> join_through(Endpoint seed);
  kj::Promise<void> probe_forever();
  void probe_all();
  kj::Promise<void> exchange(const Member& peer);

  NodeContext& ctx_;
  PeerLinks& peers_;
  kj::Timer& timer_;
  std::vector<Endpoint> seeds_;
  FailureTiming timing_;
  std::set<std::string> probing_;  // one probe in flight per peer
  kj::Own<kj::TaskSet::ErrorHandler> errors_;
  kj::TaskSet tasks_;
};

}  // namespace discache::node
