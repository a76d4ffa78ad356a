// State one node's event loop shares between its RPC server and its loops.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "connection_limits.h"
#include "item_store.h"
#include "sharded_store.h"
#include "member_table.h"
#include "member_watchers.h"
#include "tombstones.h"
#include "version_clock.h"

namespace discache {
class TlsServer;
}

namespace discache::node {

struct NodeCounters {
  std::uint64_t gets = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t puts = 0;
  std::uint64_t deletes = 0;
  std::uint64_t calls = 0;
  std::uint64_t batch_calls = 0;
  std::uint64_t connections = 0;
  std::uint64_t handoff_runs = 0;   // ring changes this node moved keys for
  std::uint64_t handoff_keys = 0;   // copies sent to other nodes
  bool handoff_pending = false;     // a handoff is running
  std::uint64_t refused_logins = 0; // wrong or missing cookie
  std::uint64_t refused_connections = 0;  // over --max-connections
};

// Event-loop thread only.
struct NodeContext {
  // `log` gets one line per membership change; watchers are told too.
  NodeContext(Member self, std::uint32_t replicas, StoreLimits limits,
              MemberTable::ChangeLog log)
      : store(limits),
        versions(static_cast<std::uint16_t>(std::hash<std::string>{}(self.name))),
        watchers([this]() { return members.snapshot(MemberTable::Clock::now()); }),
        members(std::move(self), replicas, [this, log = std::move(log)](const std::string& what) {
          log(what);
          watchers.changed();
          if (on_membership_change) {
            on_membership_change();
          }
        }) {}

  // One shard today: the node runs one event loop (see sharded_store.h).
  ShardedStore store;
  // Deletes are remembered for a minute: far longer than any in-flight
  // repair or handoff, short enough to stay small.
  Tombstones tombstones{60'000, 1'000'000};
  // Versions for writes that arrive without one (single-key calls, tools).
  // (Initialized from the node's name, before `members` takes it.)
  VersionClock versions;
  MemberWatchers watchers;  // before members: members' callback uses it
  MemberTable members;
  NodeCounters counters;
  // Wrap accepted sockets in a CoalescingStream (--transport coalescing).
  bool coalesce = true;
  // The cluster's cookie; empty: none required (loopback-only nodes).
  std::string cookie;
  // Accepted connections speak only TLS (--tls-cert); null: plain TCP. This
  // event loop's own context, owned by main.
  TlsServer* tls = nullptr;
  // Connections beyond this are closed on accept (--max-connections).
  std::uint64_t max_connections = 10000;
  // What each connection may hold (--idle-timeout, --max-calls-in-flight).
  ConnectionLimits connection_limits;
  // Set by main: the rebalancer's hook, and how a drain request stops the node.
  std::function<void()> on_membership_change;
  std::function<void()> request_drain;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // Wall-clock milliseconds: item versions and expiry.
  static std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  }
};

}  // namespace discache::node
