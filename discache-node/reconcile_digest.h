// Anti-entropy's view of one shard: which keys two co-owners share, a digest
// per key-hash bucket of what the shard holds for them, and the entries of
// chosen buckets. Pure functions of a shard and a ring, so both ends of an
// exchange compute them the same way.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "hash_ring.h"
#include "key_hash.h"
#include "reconcile_pairs.h"
#include "shard_state.h"

namespace discache::node {

// Buckets per exchange. Digests cost 8 bytes each on the wire, and a bucket
// that differs costs its whole (key, version) list: 1024 balances the two
// for stores of about a million shared keys (sqrt), see docs/design.md.
inline constexpr std::uint32_t kReconcileBuckets = 1024;

// The keys a node reconciles with some peers: those whose first `replicas`
// owners under `ring` include both this node and the peer. Both ends build
// it from their own member lists; `id` tells whether they built the same.
// Immutable once built, so every loop may read it at once.
struct ReconcileScope {
  HashRing ring;
  std::size_t replicas = 1;
  std::uint32_t self = 0;            // index in ring.nodes()
  std::vector<std::uint32_t> peers;  // ring indexes of the peers, in row order
  std::vector<int> row_of;           // by ring index: its row in peers, or -1
  std::uint64_t id = 0;

  // Null when `self` or a peer is not among `serving` (sorted names).
  static std::shared_ptr<const ReconcileScope> make(const std::vector<std::string>& serving,
                                                    std::size_t replicas, const std::string& self,
                                                    const std::vector<std::string>& peers);
};

// Names the ring and N a scope is built from: equal ids, equal shared sets.
std::uint64_t reconcile_ring_id(const std::vector<std::string>& serving, std::size_t replicas);

// The bucket of a key (from the node's key hash, the same on every node).
inline std::uint32_t reconcile_bucket(KeyHash hash, std::uint32_t buckets) {
  return static_cast<std::uint32_t>(hash.value >> 32) & (buckets - 1);
}

// A bucket's digest is the sum (mod 2^64) of this over what it holds, items
// and tombstones alike: order-free, so each shard adds its part.
std::uint64_t reconcile_entry_digest(KeyHash hash, std::uint64_t version, bool deleted);

// Digests by peer row: sums[row * buckets + bucket].
struct DigestTable {
  std::uint32_t buckets = kReconcileBuckets;
  std::vector<std::uint64_t> sums;
  // Over every row: entries added and their key bytes, to size the buckets.
  std::uint64_t entries = 0;
  std::uint64_t key_bytes = 0;

  DigestTable() = default;
  DigestTable(std::size_t rows, std::uint32_t buckets_in)
      : buckets(buckets_in), sums(rows * buckets_in, 0) {}
  void add(const DigestTable& other);
  const std::uint64_t* row(std::size_t r) const { return sums.data() + r * buckets; }
};

// One key as anti-entropy compares it.
struct ReconcileEntry {
  std::string key;
  std::uint64_t version = 0;
  bool deleted = false;  // a live tombstone
};

// The shard's loop only. Adds up to `max_items` items from `cursor` to
// `table`; returns where to go on (0: done). A scan resumed across loop
// turns may see an item moved by a write twice or not at all: a digest
// then differs for nothing, which costs one bucket's entries, never a
// wrong repair (every repair is a versioned write).
std::uint64_t digest_items(const ReconcileScope& scope, const ShardState& shard,
                           std::uint64_t cursor, std::size_t max_items, std::uint64_t now_ms,
                           DigestTable& table);
// The shard's loop only: adds every live tombstone (bounded in number).
void digest_tombstones(const ReconcileScope& scope, const ShardState& shard, std::uint64_t now_ms,
                       DigestTable& table);

// The shard's loop only. Like digest_items, but collects the entries shared
// with peer row 0 whose bucket is in `wanted`.
std::uint64_t collect_items(const ReconcileScope& scope, const ShardState& shard,
                            std::uint64_t cursor, std::size_t max_items, std::uint64_t now_ms,
                            std::uint32_t buckets, const std::unordered_set<std::uint32_t>& wanted,
                            std::vector<ReconcileEntry>& out);
void collect_tombstones(const ReconcileScope& scope, const ShardState& shard, std::uint64_t now_ms,
                        std::uint32_t buckets, const std::unordered_set<std::uint32_t>& wanted,
                        std::vector<ReconcileEntry>& out);

// What to do about one key, given this node's entry and the peer's (either
// may be missing). The newer version wins, value or tombstone. A value on
// one side only is copied only if it is newer than every delete the other
// side may have forgotten (`*_forgotten`: Tombstones::forgotten_version):
// otherwise that side may have deleted it with a tombstone since dropped,
// and copying would bring the delete back. So
// anti-entropy acts on evidence only (a cache may also just have evicted
// the key, which needs no repair), whatever the clocks say.
enum class ReconcileAction : std::uint8_t { none, push, pull };
ReconcileAction reconcile_action(const ReconcileEntry* mine, const ReconcileEntry* theirs,
                                 std::uint64_t mine_forgotten, std::uint64_t theirs_forgotten);

}  // namespace discache::node
