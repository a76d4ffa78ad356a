// BlockArena: allocation, splitting, merging of free neighbours, and the
// accounting the store's memory limit rests on.
#include "block_arena.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace discache::node {
namespace {

constexpr std::size_t kArenaBytes = 1 << 20;

TEST_CASE("allocations are exact multiples of 8 bytes and are counted") {
  BlockArena arena(kArenaBytes);
  CHECK(arena.allocated_bytes() == 0);
  const BlockRef a = arena.allocate(18);  // a 144-byte item
  REQUIRE(a != kNoBlock);
  CHECK(arena.block(a).units() == 18);
  CHECK_FALSE(arena.block(a).is_free());
  CHECK(arena.allocated_bytes() == 144);
  arena.release(a);
  CHECK(arena.allocated_bytes() == 0);
}

TEST_CASE("freed neighbours merge back into one block") {
  BlockArena arena(kArenaBytes);
  const BlockRef a = arena.allocate(10);
  const BlockRef b = arena.allocate(10);
  const BlockRef c = arena.allocate(10);
  REQUIRE((a != kNoBlock && b != kNoBlock && c != kNoBlock));
  CHECK(arena.next_block(a) == b);
  CHECK(arena.next_block(b) == c);

  arena.release(a);
  // b's header knows its predecessor is free.
  CHECK(arena.block(b).prev_is_free());
  const BlockRef merged = arena.release(b);
  CHECK(merged == a);
  CHECK(arena.block(merged).units() == 20);
  // Freeing c joins a+b and the untouched rest of the arena: one block.
  const BlockRef all = arena.release(c);
  CHECK(all == arena.first_block());
  CHECK(arena.next_block(all) == kNoBlock);
}

TEST_CASE("a freed block of the same size is reused (exact fit)") {
  BlockArena arena(kArenaBytes);
  std::vector<BlockRef> blocks;
  for (int i = 0; i < 100; ++i) {
    blocks.push_back(arena.allocate(18));
  }
  arena.release(blocks[50]);
  CHECK(arena.allocate(18) == blocks[50]);
}

TEST_CASE("a full arena refuses, and says so with kNoBlock") {
  BlockArena arena(64 * 1024);
  std::uint64_t units = 0;
  while (true) {
    const BlockRef b = arena.allocate(100);
    if (b == kNoBlock) {
      break;
    }
    units += arena.block(b).units();
    REQUIRE(units * kUnitBytes <= arena.capacity_bytes());
  }
  CHECK(arena.allocated_bytes() == units * kUnitBytes);
  CHECK(arena.allocated_bytes() <= arena.capacity_bytes());
}

TEST_CASE("random allocate/release keeps the blocks tiling the arena") {
  BlockArena arena(kArenaBytes);
  std::mt19937_64 rng(7);
  std::vector<BlockRef> live;
  std::uint64_t live_units = 0;
  for (int step = 0; step < 20000; ++step) {
    if (!live.empty() && (rng() % 3 == 0)) {
      const std::size_t i = rng() % live.size();
      live_units -= arena.block(live[i]).units();
      arena.release(live[i]);
      live[i] = live.back();
      live.pop_back();
      continue;
    }
    const auto units = static_cast<std::uint32_t>(1 + rng() % 400);
    const BlockRef b = arena.allocate(units);
    if (b != kNoBlock) {
      CHECK(arena.block(b).units() >= units);
      CHECK(arena.block(b).units() < std::max(units, kMinFreeUnits) + kMinFreeUnits);
      live_units += arena.block(b).units();
      live.push_back(b);
    }
  }
  // Walk: blocks tile the arena, no two free blocks touch, counts agree.
  std::uint64_t walked = 0;
  std::uint64_t allocated = 0;
  bool prev_free = false;
  for (BlockRef at = arena.first_block(); at != kNoBlock; at = arena.next_block(at)) {
    const ArenaBlock block = arena.block(at);
    CHECK(block.prev_is_free() == prev_free);
    CHECK_FALSE((prev_free && block.is_free()));
    prev_free = block.is_free();
    walked += block.units();
    if (!block.is_free()) {
      allocated += block.units();
    }
  }
  CHECK(walked * kUnitBytes + kUnitBytes == arena.capacity_bytes());
  CHECK(allocated == live_units);
  CHECK(arena.allocated_bytes() == live_units * kUnitBytes);
}

TEST_CASE("the walk cursor moves to the start of a block that swallowed it") {
  BlockArena arena(kArenaBytes);
  const BlockRef a = arena.allocate(10);
  const BlockRef b = arena.allocate(10);
  REQUIRE(arena.allocate(10) != kNoBlock);
  arena.release(a);
  arena.set_cursor(b);
  arena.release(b);  // merges into a
  CHECK(arena.cursor() == a);
}

}  // namespace
}  // namespace discache::node
