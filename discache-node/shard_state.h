// One shard of a node: its items, the deletes it remembers, its write clock
// and its counters. Each belongs to exactly one event-loop thread.
#pragma once

#include <cstdint>

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
  ShardState(ItemStore& items_in, std::uint16_t writer_id, std::size_t max_tombstones)
      : items(items_in), tombstones(kTombstoneTtlMs, max_tombstones), versions(writer_id) {}

  // Deletes are remembered for a minute: far longer than any in-flight
  // repair or handoff, short enough to stay small.
  static constexpr std::uint64_t kTombstoneTtlMs = 60'000;

  ItemStore& items;
  Tombstones tombstones;
  // Stamps writes that arrive without a version (single-key calls, tools)
  // and observes every version a write brings, so its own stamps land above
  // what this shard holds. The only version source in the node.
  VersionClock versions;
  ShardCounters counters;
};

}  // namespace discache::node
