// What nodes report about themselves and the ring, for operators.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <discache/error.hpp>

namespace discache {

struct NodeStats {
  std::string name;
  std::string address;
  std::optional<Error> error;  // set when the node did not answer
  std::uint64_t items = 0;
  std::uint64_t bytes = 0;
  std::uint64_t gets = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t puts = 0;
  std::uint64_t deletes = 0;
  std::uint64_t calls = 0;        // RPC calls served; a batch counts once
  std::uint64_t batch_calls = 0;
  std::uint64_t connections = 0;
  std::uint64_t uptime_ms = 0;
  std::uint64_t handoff_runs = 0;  // ring changes the node moved keys for
  std::uint64_t handoff_keys = 0;  // copies it sent (re-replication, join, drain)
  bool handoff_pending = false;    // a handoff is running on the node now
  // The node's event-loop threads (--threads), each owning a shard of its
  // keys; ops that arrived on a thread not owning their key, and the
  // cross-thread hops that carried them (ops per hop: how well they batch).
  std::uint32_t threads = 0;
  std::uint64_t cross_thread_ops = 0;
  std::uint64_t cross_thread_hops = 0;
  // Looks for copies of keys the node does not own under the current ring,
  // and such copies dropped (discache-node --unowned-grace).
  std::uint64_t unowned_sweeps = 0;
  std::uint64_t unowned_dropped = 0;
  // Anti-entropy (discache-node --anti-entropy-interval): digest exchanges
  // the node started and finished, keys they repaired on either side, and
  // the bytes of their messages both ways.
  std::uint64_t anti_entropy_rounds = 0;
  std::uint64_t anti_entropy_repaired = 0;
  std::uint64_t anti_entropy_bytes = 0;
  // Memory: `bytes` counts keys and values; memory_used adds item headers and
  // the index and never exceeds memory_limit (the node's --memory).
  std::uint64_t memory_used = 0;
  std::uint64_t memory_limit = 0;
  std::uint64_t rss_bytes = 0;    // the node process's resident memory
  std::uint64_t evictions = 0;    // items dropped to make room
  std::uint64_t expirations = 0;  // items dropped because their ttl passed
  // The node's in-flight budget (discache-node --in-flight-budget): bytes it
  // may hold outside --memory for clients, how many it holds now and at most
  // so far, how often a connection's read waited for room, and requests
  // refused as larger than the budget can ever hold.
  std::uint64_t in_flight_budget = 0;
  std::uint64_t in_flight_bytes = 0;
  std::uint64_t in_flight_peak = 0;
  std::uint64_t read_pauses = 0;
  std::uint64_t refused_frames = 0;
};

struct RingNode {
  std::string name;
  std::string address;
  std::uint32_t vnodes = 0;
  double share = 0;  // fraction of the key space owned as first replica
};

struct RingInfo {
  std::uint64_t epoch = 0;
  std::vector<RingNode> nodes;
  double imbalance = 0;  // largest share / mean share; 1.0 is perfect
};

}  // namespace discache
