// One shard of a node: its items, the deletes it remembers, its write clock
// and its counters. Each belongs to exactly one event-loop thread.
#pragma once

#include <cstdint>

#include "heal_state.h"
#include "item_store.h"
#include "tombstones.h"
#include "version_clock.h"

namespace discache::node {

// What one loop did; stats() sums them over the loops.
struct ShardCounters {
  std::uint64_t gets = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t puts = 0;
  std::uint64_t deletes = 0;
  std::uint64_t calls = 0;  // RPC calls served on this loop's connections
  std::uint64_t batch_calls = 0;
  // Ops that arrived on this loop for another loop's shard, and the hops
  // (cross-thread jobs) that carried them there: ops / hops is the batching.
  std::uint64_t cross_loop_ops = 0;
  std::uint64_t cross_loop_hops = 0;
};

// Owning loop's thread only. A key's tombstone lives with its item, in the
// key's shard, so the check "is this write newer than what I hold" never
// leaves the thread that owns the key.
struct ShardState {
  // `heal` is the node's, shared by every shard (it outlives them).
  ShardState(ItemStore& items_in, std::uint16_t writer_id, std::size_t max_tombstones,
             const HealState& heal_in)
      : items(items_in),
        heal(heal_in),
        tombstones(heal_in.tombstone_expiry, max_tombstones),
        versions(writer_id) {}

  ItemStore& items;
  // Whether reads must miss (the heal gate), and when tombstones may expire.
  const HealState& heal;
  Tombstones tombstones;
  // Stamps writes that arrive without a version (single-key calls, tools)
  // and observes every version a write brings, so its own stamps land above
  // what this shard holds. The only version source in the node.
  VersionClock versions;
  ShardCounters counters;
};

}  // namespace discache::node
