// One shard's memory: a single reserved range of exactly its budget, carved
// into blocks by a TLSF allocator (two-level segregated fit: O(1) allocate
// and free, neighbours merged on free).
//
// Why an arena rather than malloc: every byte a shard may ever touch is in
// this range, so "item memory never exceeds --memory" holds by construction
// and the process RSS cannot drift above it through allocator fragmentation;
// the per-item cost is our own 28-byte header, not malloc's. Why TLSF rather
// than memcached's slab classes: one global eviction order (slab classes need
// one order per class and a page mover between classes, and a class that got
// few pages early stays small), and an exact fit, so a 144-byte item takes
// 144 bytes, not the next class's 152 or 192.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "arena_block.h"

namespace discache::node {

// Single-owner (one thread). Knows blocks and sizes only; what lives in an
// allocated block is the caller's business.
class BlockArena {
 public:
  // Reserves `bytes` (rounded down to 8) of address space; pages become
  // resident only when touched. Requires 4 KiB <= bytes <= 32 GiB. Throws
  // std::system_error when the reservation fails.
  explicit BlockArena(std::size_t bytes);
  ~BlockArena();
  BlockArena(const BlockArena&) = delete;
  BlockArena& operator=(const BlockArena&) = delete;

  ArenaBlock block(BlockRef ref) const noexcept {
    return ArenaBlock(base_ + std::size_t{ref} * kUnitBytes);
  }

  // A block of at least `units` units (more by at most kMinFreeUnits - 1,
  // when the rest would be too small to stand alone), marked allocated; its
  // bytes after the size word are left as they were. kNoBlock when no free
  // block is large enough: the caller evicts and asks again.
  BlockRef allocate(std::uint32_t units) noexcept;
  // Frees an allocated block and merges it with free neighbours; returns the
  // free block that now contains it.
  BlockRef release(BlockRef ref) noexcept;

  // Blocks in address order, for walks over everything stored.
  BlockRef first_block() const noexcept { return 1; }
  // The block after `ref`, or kNoBlock after the last one.
  BlockRef next_block(BlockRef ref) const noexcept {
    const std::uint64_t next = std::uint64_t{ref} + block(ref).units();
    return next < end_ ? static_cast<BlockRef>(next) : kNoBlock;
  }

  // A position for a resumable walk (the expiry sweep). It always names the
  // start of a block: when a free merges the block it names into an earlier
  // one, it moves to the merged block's start.
  BlockRef cursor() const noexcept { return cursor_; }
  void set_cursor(BlockRef ref) noexcept { cursor_ = ref; }

  std::uint64_t capacity_bytes() const noexcept { return std::uint64_t{end_} * kUnitBytes; }
  std::uint64_t allocated_bytes() const noexcept { return allocated_units_ * kUnitBytes; }

 private:
  static constexpr unsigned kSlBits = 4;
  static constexpr unsigned kSlCount = 1u << kSlBits;
  // Sizes below kSlCount units map one list per size; above, each power of
  // two is split in kSlCount lists. 30-bit sizes need this many rows.
  static constexpr unsigned kFlCount = 30 - kSlBits + 2;

  struct ListIndex {
    unsigned fl;
    unsigned sl;
  };
  static ListIndex list_for(std::uint32_t units) noexcept;
  BlockRef find_fit(std::uint32_t units) const noexcept;
  void insert_free(BlockRef ref) noexcept;
  void remove_free(BlockRef ref) noexcept;
  void add_free_range(std::uint64_t first, std::uint64_t end) noexcept;

  std::byte* base_ = nullptr;
  std::size_t mapped_bytes_ = 0;
  BlockRef end_ = 0;  // one past the last unit
  BlockRef cursor_ = 1;
  std::uint64_t allocated_units_ = 0;
  std::uint32_t fl_bitmap_ = 0;
  std::array<std::uint32_t, kFlCount> sl_bitmap_{};
  std::array<std::array<BlockRef, kSlCount>, kFlCount> heads_{};
};

}  // namespace discache::node
