// Anti-entropy: co-owners compare digests of what they hold and repair the
// difference, so a replica that missed writes converges without a read.
#pragma once

#include <kj/async.h>
#include <kj/timer.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "discache.capnp.h"
#include "node_loop.h"
#include "peer_links.h"

namespace discache::node {

// Loop 0 only (the member list's loop); each loop digests and reads its own
// shard for it.
//
// Every `interval`, this node reconciles with each serving peer it starts
// exchanges with (starts_reconcile: one node of each pair, so each pair
// exchanges once per interval and each node starts about half), all at
// once: one scan of the store makes a digest per key-hash bucket per peer
// over the keys both own (items and tombstones); Node.reconcile sends a
// peer its row and gets back the buckets that differ, with the peer's
// (key, version, deleted) entries in a bounded number of them; this node
// then pushes what it has newer (versioned puts with the remaining TTL,
// versioned deletes) and pulls what the peer has newer (a get batch,
// applied here with the peer's version). Every repair is a versioned
// write, so a repair that crosses a newer client write is refused as
// stale. See docs/design.md, "Anti-entropy", for the choices and their
// cost.
class AntiEntropy {
 public:
  AntiEntropy(NodeLoop& loop, PeerLinks& peers, kj::Timer& timer, kj::Duration interval);

  // Runs rounds until cancelled; never resolves. A failed exchange is
  // logged and retried next round.
  kj::Promise<void> run();

 private:
  struct Round;
  struct Exchange;
  struct RepairOp;
  // Digests the store for the peers this node starts exchanges with and
  // that have none running, then starts those exchanges (in tasks_) and
  // resolves: a slow or frozen peer holds up neither the others nor the
  // next round.
  kj::Promise<void> round();
  // Reconciles with the round's peer `row`; never fails (a failure is
  // logged, and the next round tries again).
  kj::Promise<void> exchange(std::shared_ptr<Round> round, std::size_t row);
  // Compares the peer's entries with this node's and writes the newer side
  // to the older: pushes, then local writes, then pulls.
  kj::Promise<void> repair(std::shared_ptr<Exchange> exchange);
  // The items for `keys` as this node holds them now (each on its shard's loop).
  kj::Promise<std::vector<RepairOp>> read_values(std::vector<std::string> keys);
  kj::Promise<void> push(std::shared_ptr<Exchange> exchange, std::size_t begin);
  kj::Promise<void> pull(std::shared_ptr<Exchange> exchange, std::size_t begin);
  kj::Promise<void> apply_local(std::shared_ptr<Exchange> exchange, std::vector<RepairOp> writes);

  NodeLoop& loop_;
  NodeContext& ctx_;
  PeerLinks& peers_;
  kj::Timer& timer_;
  kj::Duration interval_;
  // Per peer: the bucket the next exchange starts at, so buckets that stay
  // different (one side evicted a key) do not starve the others.
  std::map<std::string, std::uint32_t> next_bucket_;
  std::set<std::string> busy_;  // peers with an exchange running
  kj::Own<kj::TaskSet::ErrorHandler> errors_;
  kj::TaskSet tasks_;  // the exchanges; last, so it goes first
};

// The callee's side of Node.reconcile, on the connection's loop: digests
// its own shards for the caller, compares, and answers with the entries of
// the differing buckets it was asked for (bounded in bytes).
kj::Promise<void> answer_reconcile(
    NodeLoop& loop,
    capnp::CallContext<wire::Node::ReconcileParams, wire::Node::ReconcileResults> context);

}  // namespace discache::node
