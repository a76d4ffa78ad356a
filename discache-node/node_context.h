// What a node's event loops share: the store's shards, the member list and
// the settings every connection obeys.
#pragma once

#include <kj/async.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "connection_limits.h"
#include "heal_state.h"
#include "in_flight_budget.h"
#include "member_table.h"
#include "node_clock.h"
#include "shard_state.h"
#include "sharded_store.h"

namespace discache {
struct TlsServerConfig;
}

namespace discache::node {

class NodeLoop;

// Main loop only: what the control plane did.
struct ControlCounters {
  std::uint64_t handoff_runs = 0;   // ring changes this node moved keys for
  std::uint64_t handoff_keys = 0;   // copies sent to other nodes
  // A handoff is running or its catch-up is due, or reads miss until
  // handoffs land (the read gate): Rebalancer::update_pending.
  bool handoff_pending = false;
  std::uint64_t unowned_sweeps = 0;   // completed looks for unowned copies
  std::uint64_t unowned_dropped = 0;  // copies of keys this node does not own, dropped
  // Anti-entropy exchanges this node started and finished, keys they
  // repaired (either side), bytes of their messages both ways.
  std::uint64_t anti_entropy_rounds = 0;
  std::uint64_t anti_entropy_repaired = 0;
  std::uint64_t anti_entropy_bytes = 0;
};

// Any loop: counted where connections arrive, read by stats().
struct ConnectionCounters {
  std::atomic<std::uint64_t> open{0};
  // The largest N a client asked for at login (ClientOptions::replicas):
  // nodes keep copies for that many owners, not only --replicas.
  std::atomic<std::uint32_t> widest_client_replicas{0};
  std::atomic<std::uint64_t> refused_logins{0};       // wrong or missing cookie
  std::atomic<std::uint64_t> refused_connections{0};  // over --max-connections
};

// A node runs `loops` event-loop threads; loop 0 is the main thread. Who may
// touch what:
// - shard i (store.shard(i), shards[i]): loop i only;
// - members, counters, the two hooks: loop 0 only (other loops ask it with
//   NodeLoop::run_on(0, ...));
// - the settings below the members: written before any loop serves, then
//   read-only from every loop;
// - connections: any loop (atomics).
struct NodeContext {
  // `log` gets one line per membership change; on_membership_change runs
  // after it.
  NodeContext(Member self, std::uint32_t replicas, StoreLimits limits, MemberTable::ChangeLog log,
              std::size_t loops = 1);

  std::size_t loop_count() const { return shards.size(); }
  const std::string& name() const { return name_; }

  ShardedStore store;
  // Before `shards`, which hold references to it. Any thread (atomics);
  // written by the rebalancer on loop 0.
  HealState heal;
  std::vector<std::unique_ptr<ShardState>> shards;
  MemberTable members;
  ControlCounters counters;
  ConnectionCounters connections;

  // Wrap accepted sockets in a CoalescingStream (--transport coalescing).
  bool coalesce = true;
  // The cluster's cookie; empty: none required (loopback-only nodes).
  std::string cookie;
  // Accepted connections speak only TLS (--tls-cert); null: plain TCP.
  // Each loop makes its own TlsServer from it (a kj::TlsContext stays on
  // its thread). Owned by main.
  const TlsServerConfig* tls = nullptr;
  // Connections beyond this are closed on accept (--max-connections), over
  // all loops together.
  std::uint64_t max_connections = 10000;
  // What each connection may hold (--idle-timeout, --max-calls-in-flight).
  ConnectionLimits connection_limits;
  // Bytes held outside the arena for clients, over all loops
  // (--in-flight-budget; its limit is set before any loop serves). Shared:
  // a message freed as the process exits (after this context) still gives
  // its bytes back.
  std::shared_ptr<InFlightBudget> in_flight_budget = std::make_shared<InFlightBudget>();
  // The loops, by index, once each has started (NodeLoop registers itself);
  // a loop's object is only used on its own thread, through its executor.
  std::vector<NodeLoop*> loops;
  std::vector<kj::Own<const kj::Executor>> executors;
  // A thread of the node stopped longer than this (SIGSTOP, a paused
  // container or VM) makes the node forget its store (--forget-after-stall;
  // see NodeLoop::check_stall). Zero: never.
  std::chrono::milliseconds forget_after_stall{0};
  // A member silent this long no longer holds its name: a node restarted at
  // another address under that name may join (--suspect-after).
  std::chrono::milliseconds name_free_after{1500};
  // Set by main: the rebalancer's hook, how a drain request stops the node,
  // and how a node that lost its name to another live node stops (with a
  // line naming both).
  std::function<void()> on_membership_change;
  std::function<void()> request_drain;
  std::function<void(const std::string&)> on_name_taken;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

 private:
  std::string name_;
};

}  // namespace discache::node
