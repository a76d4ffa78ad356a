// A node's store: N ItemStore shards, a key's shard chosen by its hash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "item_store.h"
#include "key_hash.h"

namespace discache::node {

// Each shard owns memory_bytes / shards of the budget and shares nothing
// with the others, so shards are served by different threads without a
// lock: a node with --threads N runs N event loops, loop i owning shard i;
// an op is routed with shard_index() and runs on its shard's loop, as
// Seastar's memcached does (see NodeLoop and docs/design.md).
//
// Shard i: its owning thread only. The routing methods below touch every
// shard, so they are for single-threaded users (tools, tests).
class ShardedStore {
 public:
  // Throws like ItemStore's constructor, per shard (memory_bytes / shards).
  ShardedStore(StoreLimits limits, std::size_t shards = 1);

  std::size_t shard_count() const noexcept { return shards_.size(); }
  // The shard that owns a key with this hash. Uses the hash's top 24 bits,
  // which the index's bucket and tag bits (0..39) leave alone.
  std::size_t shard_index(KeyHash hash) const noexcept {
    return static_cast<std::size_t>(((hash.value >> 40) * shards_.size()) >> 24);
  }
  ItemStore& shard(std::size_t index) { return *shards_[index]; }
  const ItemStore& shard(std::size_t index) const { return *shards_[index]; }

  // ItemStore's calls, routed to the key's shard.
  const ItemView* find(std::string_view key, std::uint64_t now_ms) {
    const KeyHash hash = hash_key(key);
    return shards_[shard_index(hash)]->find(key, hash, now_ms);
  }
  PutResult put(const PutRequest& request, std::uint64_t now_ms) {
    const KeyHash hash = hash_key(request.key);
    return shards_[shard_index(hash)]->put(request, hash, now_ms);
  }
  StoreStatus erase(std::string_view key, std::uint64_t now_ms) {
    const KeyHash hash = hash_key(key);
    return shards_[shard_index(hash)]->erase(key, hash, now_ms);
  }
  // Same text as ItemStore's, naming the node-wide memory when an item is
  // over a shard's largest.
  std::string explain_too_large(std::size_t key_size, std::size_t value_size) const;

  // Node-wide totals, summed over shards (immutable limits: any thread;
  // counts: only while no shard's loop runs).
  std::uint64_t items() const noexcept;
  std::uint64_t bytes() const noexcept;
  std::uint64_t memory_used() const noexcept;
  std::uint64_t memory_limit() const noexcept;
  std::uint64_t evictions() const noexcept;
  std::uint64_t expirations() const noexcept;
  // As given to the constructor (memory_bytes is the node's whole budget).
  const StoreLimits& limits() const noexcept { return limits_; }

 private:
  template <typename Field>
  std::uint64_t sum(Field field) const noexcept {
    std::uint64_t total = 0;
    for (const auto& shard : shards_) {
      total += ((*shard).*field)();
    }
    return total;
  }

  StoreLimits limits_;
  std::vector<std::unique_ptr<ItemStore>> shards_;  // ItemStore cannot move
};

}  // namespace discache::node
