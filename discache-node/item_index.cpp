#include "item_index.h"

#include <cstring>
#include <utility>

namespace discache::node {

ItemIndex::ItemIndex(std::byte* memory, std::size_t buckets) noexcept
    : refs_(reinterpret_cast<BlockRef*>(memory)),
      tags_(reinterpret_cast<std::uint8_t*>(memory + buckets * kSlotsPerBucket * sizeof(BlockRef))),
      buckets_(buckets),
      mask_(buckets - 1) {
  std::memset(tags_, 0, slots());
}

bool ItemIndex::place_in(std::size_t bucket, std::uint8_t tag, BlockRef ref) noexcept {
  for (std::size_t slot = bucket * kSlotsPerBucket; slot < (bucket + 1) * kSlotsPerBucket; ++slot) {
    if (tags_[slot] == 0) {
      tags_[slot] = tag;
      refs_[slot] = ref;
      return true;
    }
  }
  return false;
}

bool ItemIndex::insert(KeyHash hash, BlockRef ref) noexcept {
  std::uint8_t tag = tag_of(hash);
  std::size_t bucket = bucket_of(hash);
  if (place_in(bucket, tag, ref) || place_in(alternate(bucket, tag), tag, ref)) {
    ++size_;
    return true;
  }
  // Random walk: swap the homeless entry into a random slot of its bucket
  // and carry the one it displaced to that one's other bucket. The slots
  // touched are remembered so a walk that fails can be undone exactly.
  std::size_t path[kMaxKicks];
  for (int kick = 0; kick < kMaxKicks; ++kick) {
    kick_state_ ^= kick_state_ << 13;
    kick_state_ ^= kick_state_ >> 7;
    kick_state_ ^= kick_state_ << 17;
    const std::size_t slot = bucket * kSlotsPerBucket + (kick_state_ % kSlotsPerBucket);
    path[kick] = slot;
    std::swap(tag, tags_[slot]);
    std::swap(ref, refs_[slot]);
    bucket = alternate(bucket, tag);
    if (place_in(bucket, tag, ref)) {
      ++size_;
      return true;
    }
  }
  for (int kick = kMaxKicks - 1; kick >= 0; --kick) {
    std::swap(tag, tags_[path[kick]]);
    std::swap(ref, refs_[path[kick]]);
  }
  return false;
}

bool ItemIndex::erase(KeyHash hash, BlockRef ref) noexcept {
  const std::uint8_t tag = tag_of(hash);
  const std::size_t first = bucket_of(hash);
  for (const std::size_t bucket : {first, alternate(first, tag)}) {
    for (std::size_t slot = bucket * kSlotsPerBucket; slot < (bucket + 1) * kSlotsPerBucket;
         ++slot) {
      if (tags_[slot] == tag && refs_[slot] == ref) {
        tags_[slot] = 0;
        --size_;
        return true;
      }
    }
  }
  return false;
}

bool ItemIndex::replace(KeyHash hash, BlockRef old_ref, BlockRef new_ref) noexcept {
  const std::uint8_t tag = tag_of(hash);
  const std::size_t first = bucket_of(hash);
  for (const std::size_t bucket : {first, alternate(first, tag)}) {
    for (std::size_t slot = bucket * kSlotsPerBucket; slot < (bucket + 1) * kSlotsPerBucket;
         ++slot) {
      if (tags_[slot] == tag && refs_[slot] == old_ref) {
        refs_[slot] = new_ref;
        return true;
      }
    }
  }
  return false;
}

BlockRef ItemIndex::any_in_first_bucket(KeyHash hash) const noexcept {
  const std::size_t bucket = bucket_of(hash);
  for (std::size_t slot = bucket * kSlotsPerBucket; slot < (bucket + 1) * kSlotsPerBucket; ++slot) {
    if (tags_[slot] != 0) {
      return refs_[slot];
    }
  }
  return kNoBlock;
}

}  // namespace discache::node
