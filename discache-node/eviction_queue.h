// The order in which a full shard gives items up: SIEVE by default, plain
// LRU for comparison (discache-node --eviction lru, and the trace tools).
//
// Why SIEVE (Zhang et al., NSDI'24): on skewed workloads it misses less than
// LRU (lower miss ratio than 9 other algorithms on 45% of 1,559 traces), and
// a scan cannot flush it: new items enter unvisited, so the hand takes them
// before any item that was hit since the hand last passed. It costs one bit
// per item on top of the FIFO links LRU needs anyway, and a hit only sets
// that bit (LRU moves the item: two cache lines written per hit, and a lock
// once threads share a queue). Alternatives we passed over:
//  - S3-FIFO (SOSP'23) misses slightly less on some datasets but keeps a
//    ghost queue of recently evicted keys, ~10 bytes per cached item here,
//    which in a fixed budget means ~7% fewer items.
//  - W-TinyLFU admission can refuse a new item. In a store clients write to
//    directly, a put that silently is not stored breaks read-your-write.
// See docs/design.md (Eviction: SIEVE) and the miss ratios in docs/benchmarks.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "block_arena.h"

namespace discache::node {

enum class EvictionPolicy : std::uint8_t { sieve, lru };

// "sieve" / "lru", and back.
std::string_view to_string(EvictionPolicy policy) noexcept;
std::optional<EvictionPolicy> parse_eviction_policy(std::string_view text) noexcept;

// Single-owner. An intrusive doubly-linked list through the items' headers
// (newest at the head), so it costs no memory of its own.
class EvictionQueue {
 public:
  EvictionQueue(const BlockArena& arena, EvictionPolicy policy) noexcept
      : arena_(arena), policy_(policy) {}

  EvictionPolicy policy() const noexcept { return policy_; }
  std::size_t size() const noexcept { return size_; }

  // A new item enters at the head, not yet visited.
  void push(BlockRef ref) noexcept;
  // The item was read (or rewritten).
  void touch(BlockRef ref) noexcept;
  // Takes the item out (evicted, expired, deleted or being rewritten).
  void remove(BlockRef ref) noexcept;
  // The item the policy gives up next, still queued (the caller evicts it
  // and so calls remove()); kNoBlock when empty. SIEVE's hand may clear
  // visited bits on its way: at most one pass over the queue.
  BlockRef victim() noexcept;

 private:
  ArenaBlock item(BlockRef ref) const noexcept { return arena_.block(ref); }
  void unlink(BlockRef ref) noexcept;
  void link_at_head(BlockRef ref) noexcept;

  const BlockArena& arena_;
  EvictionPolicy policy_;
  BlockRef head_ = kNoBlock;  // newest
  BlockRef tail_ = kNoBlock;  // oldest
  BlockRef hand_ = kNoBlock;  // SIEVE: next candidate, moving tail -> head
  std::size_t size_ = 0;
};

}  // namespace discache::node
