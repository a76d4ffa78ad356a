// Key -> item block, as a bucketized cuckoo hash table with partial-key
// tags (MemC3, NSDI'13): each key may sit in one of 4 slots of 2 buckets,
// a slot holds a 1-byte tag and a 4-byte block ref.
//
// Why this shape: 5 bytes a slot and loads up to 90% (so ~6-11 bytes per
// item, against 16 for memcached's chained table), a lookup reads 2 buckets'
// tags and touches an item only on a tag match (1 in 255 by chance), and a
// delete just clears a slot (no tombstones that a churning cache would pile
// up). The second bucket follows from the first and the tag, so entries move
// between their buckets without rereading their keys.
#pragma once

#include <cstddef>
#include <cstdint>

#include "arena_block.h"
#include "key_hash.h"

namespace discache::node {

// Single-owner. Does not own its memory: the store gives it a table inside
// the shard's arena, so the index is paid for out of the same budget.
class ItemIndex {
 public:
  static constexpr std::size_t kSlotsPerBucket = 4;
  // Grow past this load: cuckoo inserts of 4-way buckets start failing
  // near 95%.
  static constexpr double kMaxLoad = 0.9;

  // Bytes of table memory for `buckets` buckets (a power of two).
  static constexpr std::size_t bytes_for(std::size_t buckets) noexcept {
    return buckets * kSlotsPerBucket * (sizeof(BlockRef) + 1);
  }

  ItemIndex() = default;
  // An empty table over `memory` (bytes_for(buckets) bytes, 4-byte aligned).
  ItemIndex(std::byte* memory, std::size_t buckets) noexcept;

  // The ref whose slot tag matches and for which is_key(ref) holds, or kNoBlock.
  template <typename IsKey>
  BlockRef find(KeyHash hash, IsKey&& is_key) const {
    const std::uint8_t tag = tag_of(hash);
    const std::size_t first = bucket_of(hash);
    for (const std::size_t bucket : {first, alternate(first, tag)}) {
      for (std::size_t slot = bucket * kSlotsPerBucket; slot < (bucket + 1) * kSlotsPerBucket;
           ++slot) {
        if (tags_[slot] == tag && is_key(refs_[slot])) {
          return refs_[slot];
        }
      }
    }
    return kNoBlock;
  }

  // Adds `ref` under `hash`, moving up to kMaxKicks other entries to their
  // other bucket. false (and the table unchanged) when no slot could be found.
  bool insert(KeyHash hash, BlockRef ref) noexcept;
  // Removes the entry for `ref`; false when it is not there.
  bool erase(KeyHash hash, BlockRef ref) noexcept;
  // Points the entry for `old_ref` at `new_ref` (same key, rewritten item).
  bool replace(KeyHash hash, BlockRef old_ref, BlockRef new_ref) noexcept;
  // Some ref in `hash`'s first bucket (for making room when insert fails).
  BlockRef any_in_first_bucket(KeyHash hash) const noexcept;

  std::size_t size() const noexcept { return size_; }
  std::size_t slots() const noexcept { return buckets_ * kSlotsPerBucket; }
  // Slot-by-slot access for resumable scans (ItemStore::scan).
  bool occupied(std::size_t slot) const noexcept { return tags_[slot] != 0; }
  BlockRef ref_at(std::size_t slot) const noexcept { return refs_[slot]; }
  std::size_t buckets() const noexcept { return buckets_; }
  bool needs_growth(std::size_t items) const noexcept {
    return static_cast<double>(items) > kMaxLoad * static_cast<double>(slots());
  }

  // Calls f(ref) for every entry (to move them to a larger table).
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t slot = 0; slot < slots(); ++slot) {
      if (tags_[slot] != 0) {
        f(refs_[slot]);
      }
    }
  }

 private:
  static constexpr int kMaxKicks = 500;

  static std::uint8_t tag_of(KeyHash hash) noexcept {
    // Bits 32..39: disjoint from the bucket bits (low) and the shard bits
    // (40 and up, see ShardedStore). 0 marks an empty slot.
    const auto tag = static_cast<std::uint8_t>(hash.value >> 32);
    return tag == 0 ? 1 : tag;
  }
  std::size_t bucket_of(KeyHash hash) const noexcept { return hash.value & mask_; }
  std::size_t alternate(std::size_t bucket, std::uint8_t tag) const noexcept {
    return (bucket ^ (std::size_t{tag} * 0x5bd1e995u)) & mask_;
  }
  bool place_in(std::size_t bucket, std::uint8_t tag, BlockRef ref) noexcept;

  BlockRef* refs_ = nullptr;
  std::uint8_t* tags_ = nullptr;
  std::size_t buckets_ = 0;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::uint64_t kick_state_ = 0x2545f4914f6cdd1dULL;  // xorshift, for victim slots
};

}  // namespace discache::node
