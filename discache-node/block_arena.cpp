#include "block_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace discache::node {

BlockArena::BlockArena(std::size_t bytes) {
  constexpr std::uint64_t kMaxBytes = (std::uint64_t{1} << 32) * kUnitBytes;
  if (bytes < 4096 || bytes >= kMaxBytes) {
    throw std::invalid_argument("an arena holds 4 KiB to 32 GiB");
  }
  // MAP_NORESERVE: the budget is a ceiling, not a commitment; an idle shard
  // costs address space only.
  void* at = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (at == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(), "cannot reserve the item arena");
  }
  base_ = static_cast<std::byte*>(at);
  mapped_bytes_ = bytes;
  end_ = static_cast<BlockRef>(bytes / kUnitBytes);
  add_free_range(first_block(), end_);
}

BlockArena::~BlockArena() {
  ::munmap(base_, mapped_bytes_);
}

void BlockArena::add_free_range(std::uint64_t first, std::uint64_t end) noexcept {
  // Pieces of at most kMaxBlockUnits; a tail too small to be a block is
  // left out of the arena.
  bool prev_free = false;
  while (first < end) {
    const auto units =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(end - first, kMaxBlockUnits));
    if (units < kMinFreeUnits) {
      end_ = static_cast<BlockRef>(first);
      return;
    }
    ArenaBlock piece = block(static_cast<BlockRef>(first));
    piece.set_size(units, true, prev_free);
    piece.write_footer();
    insert_free(static_cast<BlockRef>(first));
    prev_free = true;
    first += units;
  }
}

BlockArena::ListIndex BlockArena::list_for(std::uint32_t units) noexcept {
  if (units < kSlCount) {
    return {0, units};
  }
  const unsigned top = static_cast<unsigned>(std::bit_width(units)) - 1;
  return {top - kSlBits + 1, (units >> (top - kSlBits)) - kSlCount};
}

BlockRef BlockArena::find_fit(std::uint32_t units) const noexcept {
  // The head of the block's own list is often an exact fit (same-size
  // items replacing each other); take it before rounding up.
  const ListIndex own = list_for(units);
  const BlockRef head = heads_[own.fl][own.sl];
  if (head != kNoBlock && block(head).units() >= units) {
    return head;
  }
  // Round up to the next list, every block of which is large enough.
  std::uint32_t rounded = units + 1;
  if (units >= kSlCount) {
    const unsigned top = static_cast<unsigned>(std::bit_width(units)) - 1;
    rounded = units + (std::uint32_t{1} << (top - kSlBits));
  }
  ListIndex at = list_for(rounded);
  if (at.fl >= kFlCount) {
    return kNoBlock;
  }
  std::uint32_t sl_map = sl_bitmap_[at.fl] & (~std::uint32_t{0} << at.sl);
  if (sl_map == 0) {
    const std::uint32_t fl_map =
        at.fl + 1 < 32 ? fl_bitmap_ & (~std::uint32_t{0} << (at.fl + 1)) : 0;
    if (fl_map == 0) {
      return kNoBlock;
    }
    at.fl = static_cast<unsigned>(std::countr_zero(fl_map));
    sl_map = sl_bitmap_[at.fl];
  }
  return heads_[at.fl][static_cast<unsigned>(std::countr_zero(sl_map))];
}

void BlockArena::insert_free(BlockRef ref) noexcept {
  ArenaBlock free_block = block(ref);
  const ListIndex at = list_for(free_block.units());
  const BlockRef head = heads_[at.fl][at.sl];
  free_block.set_next_free(head);
  free_block.set_prev_free(kNoBlock);
  if (head != kNoBlock) {
    block(head).set_prev_free(ref);
  }
  heads_[at.fl][at.sl] = ref;
  sl_bitmap_[at.fl] |= std::uint32_t{1} << at.sl;
  fl_bitmap_ |= std::uint32_t{1} << at.fl;
}

void BlockArena::remove_free(BlockRef ref) noexcept {
  ArenaBlock free_block = block(ref);
  const ListIndex at = list_for(free_block.units());
  const BlockRef next = free_block.next_free();
  const BlockRef prev = free_block.prev_free();
  if (prev != kNoBlock) {
    block(prev).set_next_free(next);
  } else {
    heads_[at.fl][at.sl] = next;
  }
  if (next != kNoBlock) {
    block(next).set_prev_free(prev);
  }
  if (heads_[at.fl][at.sl] == kNoBlock) {
    sl_bitmap_[at.fl] &= ~(std::uint32_t{1} << at.sl);
    if (sl_bitmap_[at.fl] == 0) {
      fl_bitmap_ &= ~(std::uint32_t{1} << at.fl);
    }
  }
}

BlockRef BlockArena::allocate(std::uint32_t units) noexcept {
  units = std::max(units, kMinFreeUnits);
  if (units > kMaxBlockUnits) {
    return kNoBlock;
  }
  const BlockRef ref = find_fit(units);
  if (ref == kNoBlock) {
    return kNoBlock;
  }
  remove_free(ref);
  ArenaBlock found = block(ref);
  const std::uint32_t total = found.units();
  const bool prev_free = found.prev_is_free();
  if (total - units >= kMinFreeUnits) {
    found.set_size(units, false, prev_free);
    ArenaBlock rest = block(ref + units);
    // The block after `rest` already has prev_free set: `found` was free.
    rest.set_size(total - units, true, false);
    rest.write_footer();
    insert_free(ref + units);
  } else {
    units = total;
    found.set_size(units, false, prev_free);
    if (const BlockRef next = next_block(ref); next != kNoBlock) {
      block(next).set_prev_is_free(false);
    }
  }
  allocated_units_ += units;
  return ref;
}

BlockRef BlockArena::release(BlockRef ref) noexcept {
  const ArenaBlock freed = block(ref);
  std::uint32_t units = freed.units();
  allocated_units_ -= units;
  BlockRef start = ref;
  bool start_prev_free = freed.prev_is_free();

  if (const std::uint64_t next = std::uint64_t{ref} + units; next < end_) {
    const ArenaBlock after = block(static_cast<BlockRef>(next));
    if (after.is_free() && units + after.units() <= kMaxBlockUnits) {
      remove_free(static_cast<BlockRef>(next));
      units += after.units();
    }
  }
  if (freed.prev_is_free()) {
    std::uint32_t prev_units = 0;
    std::memcpy(&prev_units, freed.data() - sizeof prev_units, sizeof prev_units);
    if (prev_units + units <= kMaxBlockUnits) {
      const BlockRef prev = ref - prev_units;
      remove_free(prev);
      start_prev_free = block(prev).prev_is_free();
      start = prev;
      units += prev_units;
    }
  }
  ArenaBlock merged = block(start);
  merged.set_size(units, true, start_prev_free);
  merged.write_footer();
  insert_free(start);
  if (const std::uint64_t after = std::uint64_t{start} + units; after < end_) {
    block(static_cast<BlockRef>(after)).set_prev_is_free(true);
  }
  if (cursor_ > start && cursor_ < start + units) {
    cursor_ = start;
  }
  return start;
}

}  // namespace discache::node
