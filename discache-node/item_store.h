// One shard of a node's key -> value store: a fixed memory budget, SIEVE
// eviction when full, per-item TTL, and item versions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "block_arena.h"
#include "eviction_queue.h"
#include "item_index.h"
#include "key_hash.h"

namespace discache::node {

enum class StoreStatus : std::uint8_t {
  ok,
  not_found,
  exists,
  version_mismatch,
  too_large,
  invalid,
  out_of_memory,  // nothing could be evicted to make room (see make_room)
};

enum class PutMode : std::uint8_t { upsert, if_absent, compare_and_set };

struct PutRequest {
  std::string_view key;
  std::string_view value;
  std::uint64_t ttl_ms = 0;  // 0: no expiry
  PutMode mode = PutMode::upsert;
  std::uint64_t expected_version = 0;
  // The write's version, kept as given: the shard's VersionClock stamps it
  // (shard_state.h), so a node has one version source, not one per layer.
  std::uint64_t version = 0;
};

// memcached's default, so `discache-node` and `memcached` started without
// flags hold about the same.
inline constexpr std::uint64_t kDefaultMemoryBytes = 64ull << 20;
// Below this the arena cannot hold its index table and a useful item.
inline constexpr std::uint64_t kMinMemoryBytes = 64ull << 10;

struct StoreLimits {
  std::size_t max_key_bytes;  // at most 65536
  std::size_t max_value_bytes;
  // Everything the store keeps: keys, values, item headers and the index.
  std::uint64_t memory_bytes = kDefaultMemoryBytes;
  EvictionPolicy eviction = EvictionPolicy::sieve;
};

// What a get sees. `value` points into the store: valid until the next
// mutation of the store, so copy it out at once.
struct ItemView {
  std::string_view value;
  std::uint64_t version;
  std::uint64_t ttl_ms = 0;  // time left to live, 0 = no expiry
};

// One live item as a scan sees it; views are valid during the visit only.
struct ScannedItem {
  std::string_view key;
  std::string_view value;
  std::uint64_t version;
  std::uint64_t ttl_ms;  // time left to live, 0 = no expiry
};

// Where a scan stopped: `next` resumes it (0 = finished).
struct ScanStep {
  std::uint64_t next = 0;
  std::size_t visited = 0;
};

struct PutResult {
  StoreStatus status;
  std::uint64_t version = 0;
};

// Single-owner: one thread (the event loop owning this shard) uses it.
// Memory: all of it lives in one arena of limits.memory_bytes (see
// block_arena.h), so memory_used() <= memory_limit() always holds; a put
// that finds no room evicts until it fits. Time is passed in (now_ms, wall
// clock milliseconds), so expiry is tested without waiting.
class ItemStore {
 public:
  // Throws std::invalid_argument when memory_bytes is under kMinMemoryBytes
  // or over 32 GiB, std::system_error when the memory cannot be reserved.
  explicit ItemStore(StoreLimits limits);
  ItemStore(const ItemStore&) = delete;
  ItemStore& operator=(const ItemStore&) = delete;

  // The live item for `key`, or nullptr; counts as an access for eviction.
  // An expired item is removed here and never returned.
  const ItemView* find(std::string_view key, std::uint64_t now_ms) {
    return find(key, hash_key(key), now_ms);
  }
  const ItemView* find(std::string_view key, KeyHash hash, std::uint64_t now_ms);
  // Stores per `request`. too_large: key, value or the whole item breaks a
  // limit (explain_too_large() says which); out_of_memory: no room could be
  // made. A refused put leaves the old item as it was.
  PutResult put(const PutRequest& request, std::uint64_t now_ms) {
    return put(request, hash_key(request.key), now_ms);
  }
  PutResult put(const PutRequest& request, KeyHash hash, std::uint64_t now_ms);
  // Removes `key`; not_found when it held no live item.
  StoreStatus erase(std::string_view key, std::uint64_t now_ms) {
    return erase(key, hash_key(key), now_ms);
  }
  StoreStatus erase(std::string_view key, KeyHash hash, std::uint64_t now_ms);

  // Looks at up to `max_blocks` blocks, resuming where the last call
  // stopped, and removes the expired items among them; returns how many.
  // A bounded step for a periodic timer: memory of expired items that are
  // never read again comes back within (blocks / max_blocks) calls.
  std::size_t sweep_expired(std::uint64_t now_ms, std::size_t max_blocks);
  // Visits up to `max_items` live items from `cursor` (0: the start), in
  // index order, without counting as accesses. Between calls the store may
  // change: items added or moved meanwhile may be missed or seen twice, which
  // suits handoffs (copies are idempotent) but not exact counting.
  ScanStep scan(std::uint64_t cursor, std::size_t max_items, std::uint64_t now_ms,
                const std::function<void(const ScannedItem&)>& visit) const;

  // One line naming the limit a too_large put broke, e.g.
  // "value is 2000 bytes; max-value-bytes is 1024".
  std::string explain_too_large(std::size_t key_size, std::size_t value_size) const;
  // The largest item (header + key + value) this store accepts: 1/8 of its
  // memory, so making room for one never empties more than 1/8 of the cache.
  std::uint64_t max_item_bytes() const noexcept { return max_item_bytes_; }

  std::uint64_t items() const noexcept { return items_; }
  // Key and value bytes of live items (what clients stored).
  std::uint64_t bytes() const noexcept { return payload_bytes_; }
  // Arena bytes in use: items with their headers and padding, and the index.
  std::uint64_t memory_used() const noexcept { return arena_.allocated_bytes(); }
  std::uint64_t memory_limit() const noexcept { return arena_.capacity_bytes(); }
  std::uint64_t evictions() const noexcept { return evictions_; }
  std::uint64_t expirations() const noexcept { return expirations_; }
  const StoreLimits& limits() const noexcept { return limits_; }

  // Walks every block and checks the counters, queue and index against
  // them; "" when all agree, else what disagrees. O(memory): tests only.
  std::string check_consistency() const;

 private:
  enum class Removal : std::uint8_t { deleted, evicted, expired, replaced };

  BlockRef lookup(std::string_view key, KeyHash hash) const;
  bool is_expired(const ArenaBlock& item, std::uint64_t now_ms) const noexcept;
  // Milliseconds left to live (at least 1), or 0 for an item without a TTL.
  std::uint64_t remaining_ttl(const ArenaBlock& item, std::uint64_t now_ms) const noexcept;
  std::uint64_t encode_expiry(std::uint64_t ttl_ms, std::uint64_t now_ms) noexcept;

  // Takes an item out of the index, the queue and the counters and frees its
  // block; returns the free block that now contains it.
  BlockRef remove_item(BlockRef ref, KeyHash hash, Removal why) noexcept;
  BlockRef remove_item(BlockRef ref, Removal why) noexcept {
    return remove_item(ref, hash_key(arena_.block(ref).key()), why);
  }
  // A block of `units`, evicting as needed; kNoBlock when nothing is left
  // to evict.
  BlockRef make_room(std::uint64_t units) noexcept;
  void evict_range(BlockRef first_victim, std::uint64_t units) noexcept;
  // Doubles the index table (evicting to make room for it); false when
  // there was no room.
  bool grow_index() noexcept;
  bool link_into_index(KeyHash hash, BlockRef ref) noexcept;

  StoreLimits limits_;
  BlockArena arena_;
  EvictionQueue queue_;
  ItemIndex index_;
  BlockRef index_block_ = kNoBlock;
  std::uint64_t max_item_bytes_ = 0;

  std::uint64_t items_ = 0;
  std::uint64_t payload_bytes_ = 0;
  std::uint64_t evictions_ = 0;
  std::uint64_t expirations_ = 0;
  // Expiry is kept in 40 bits relative to the first expiry time written.
  bool has_expiry_base_ = false;
  std::uint64_t expiry_base_ms_ = 0;
  ItemView view_{};
};

}  // namespace discache::node
