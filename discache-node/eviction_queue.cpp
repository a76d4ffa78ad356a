#include "eviction_queue.h"

namespace discache::node {

std::string_view to_string(EvictionPolicy policy) noexcept {
  switch (policy) {
    case EvictionPolicy::sieve: return "sieve";
    case EvictionPolicy::lru: return "lru";
  }
  return "unknown";
}

std::optional<EvictionPolicy> parse_eviction_policy(std::string_view text) noexcept {
  if (text == "sieve") {
    return EvictionPolicy::sieve;
  }
  if (text == "lru") {
    return EvictionPolicy::lru;
  }
  return std::nullopt;
}

void EvictionQueue::link_at_head(BlockRef ref) noexcept {
  ArenaBlock entry = item(ref);
  entry.set_newer(kNoBlock);
  entry.set_older(head_);
  if (head_ != kNoBlock) {
    item(head_).set_newer(ref);
  } else {
    tail_ = ref;
  }
  head_ = ref;
}

void EvictionQueue::unlink(BlockRef ref) noexcept {
  const ArenaBlock entry = item(ref);
  const BlockRef newer = entry.newer();
  const BlockRef older = entry.older();
  if (newer != kNoBlock) {
    item(newer).set_older(older);
  } else {
    head_ = older;
  }
  if (older != kNoBlock) {
    item(older).set_newer(newer);
  } else {
    tail_ = newer;
  }
}

void EvictionQueue::push(BlockRef ref) noexcept {
  item(ref).set_visited(false);
  link_at_head(ref);
  ++size_;
}

void EvictionQueue::touch(BlockRef ref) noexcept {
  if (policy_ == EvictionPolicy::sieve) {
    item(ref).set_visited(true);
    return;
  }
  if (head_ != ref) {
    unlink(ref);
    link_at_head(ref);
  }
}

void EvictionQueue::remove(BlockRef ref) noexcept {
  if (hand_ == ref) {
    // SIEVE: the hand goes on toward the head from where it was.
    hand_ = item(ref).newer();
  }
  unlink(ref);
  --size_;
}

BlockRef EvictionQueue::victim() noexcept {
  if (size_ == 0) {
    return kNoBlock;
  }
  if (policy_ == EvictionPolicy::lru) {
    return tail_;
  }
  BlockRef at = hand_ != kNoBlock ? hand_ : tail_;
  // Bounded: each step clears a bit, so after one full pass some item is
  // unvisited.
  while (item(at).visited()) {
    item(at).set_visited(false);
    const BlockRef newer = item(at).newer();
    at = newer != kNoBlock ? newer : tail_;
  }
  hand_ = at;
  return at;
}

}  // namespace discache::node
