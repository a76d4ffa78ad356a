#include "item_store.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace discache::node {
namespace {

// 256 buckets x 4 slots: 5 KiB, enough for ~900 items before the first
// doubling.
constexpr std::size_t kInitialIndexBuckets = 256;
// Index blocks keep their table 8 bytes in (after the size word and flags).
constexpr std::size_t kIndexTableOffset = 8;
// How many single victims make_room() evicts before it frees a contiguous
// range instead. With items of one size the first victim always makes room;
// with mixed sizes a few victims usually leave a large enough hole (freed
// neighbours merge), and the range eviction bounds the rest.
constexpr int kPolicyEvictionTries = 8;
// Expiry codes: 40 bits, ms relative to the first expiry written, biased so
// that times before it (a wall clock stepping back) still order correctly.
constexpr std::int64_t kExpiryBias = std::int64_t{1} << 39;
constexpr std::int64_t kExpiryMaxCode = (std::int64_t{1} << 40) - 1;

}  // namespace

ItemStore::ItemStore(StoreLimits limits)
    : limits_(limits),
      arena_(limits.memory_bytes >= kMinMemoryBytes
                 ? limits.memory_bytes
                 : throw std::invalid_argument("store memory must be at least 64 KiB")),
      queue_(arena_, limits.eviction) {
  max_item_bytes_ = arena_.capacity_bytes() / 8 / kUnitBytes * kUnitBytes;
  if (!grow_index()) {
    throw std::invalid_argument("store memory too small for its index");
  }
}

BlockRef ItemStore::lookup(std::string_view key, KeyHash hash) const {
  return index_.find(hash, [&](BlockRef ref) { return arena_.block(ref).key() == key; });
}

std::uint64_t ItemStore::remaining_ttl(const ArenaBlock& item, std::uint64_t now_ms) const noexcept {
  const std::uint64_t code = item.expiry();
  if (code == 0) {
    return 0;
  }
  const std::int64_t now_code = static_cast<std::int64_t>(now_ms) -
                                static_cast<std::int64_t>(expiry_base_ms_) + kExpiryBias;
  return static_cast<std::uint64_t>(
      std::max<std::int64_t>(1, static_cast<std::int64_t>(code) - now_code));
}

bool ItemStore::is_expired(const ArenaBlock& item, std::uint64_t now_ms) const noexcept {
  const std::uint64_t code = item.expiry();
  if (code == 0) {
    return false;
  }
  const std::int64_t now_code = std::clamp<std::int64_t>(
      static_cast<std::int64_t>(now_ms) - static_cast<std::int64_t>(expiry_base_ms_) + kExpiryBias,
      1, kExpiryMaxCode);
  return static_cast<std::uint64_t>(now_code) >= code;
}

std::uint64_t ItemStore::encode_expiry(std::uint64_t ttl_ms, std::uint64_t now_ms) noexcept {
  if (ttl_ms == 0) {
    return 0;
  }
  if (!has_expiry_base_) {
    has_expiry_base_ = true;
    expiry_base_ms_ = now_ms;
  }
  // Far-future expiries saturate at ~17 years after the base.
  const std::int64_t relative_now =
      static_cast<std::int64_t>(now_ms) - static_cast<std::int64_t>(expiry_base_ms_);
  const std::int64_t ttl =
      static_cast<std::int64_t>(std::min<std::uint64_t>(ttl_ms, kExpiryMaxCode));
  return static_cast<std::uint64_t>(
      std::clamp<std::int64_t>(relative_now + ttl + kExpiryBias, 1, kExpiryMaxCode));
}

BlockRef ItemStore::remove_item(BlockRef ref, KeyHash hash, Removal why) noexcept {
  const ArenaBlock item = arena_.block(ref);
  index_.erase(hash, ref);
  queue_.remove(ref);
  --items_;
  payload_bytes_ -= item.key_size() + item.value_size();
  if (why == Removal::evicted) {
    ++evictions_;
  } else if (why == Removal::expired) {
    ++expirations_;
  }
  return arena_.release(ref);
}

BlockRef ItemStore::make_room(std::uint64_t units) noexcept {
  if (units > kMaxBlockUnits) {
    return kNoBlock;
  }
  // Bounded: every round evicts at least one item.
  for (int round = 0;; ++round) {
    if (const BlockRef block = arena_.allocate(static_cast<std::uint32_t>(units));
        block != kNoBlock) {
      return block;
    }
    const BlockRef victim = queue_.victim();
    if (victim == kNoBlock) {
      return kNoBlock;
    }
    if (round < kPolicyEvictionTries) {
      remove_item(victim, Removal::evicted);
    } else {
      evict_range(victim, units);
    }
  }
}

void ItemStore::evict_range(BlockRef first_victim, std::uint64_t units) noexcept {
  // Frees the victim and then the items right after it in memory until the
  // hole is large enough. Those neighbours are evicted whatever their
  // recency: the price of an item much larger than the ones around it.
  // Index tables and items being rewritten end the range.
  BlockRef hole = remove_item(first_victim, Removal::evicted);
  while (arena_.block(hole).units() < units) {
    const BlockRef next = arena_.next_block(hole);
    if (next == kNoBlock) {
      return;
    }
    const ArenaBlock neighbour = arena_.block(next);
    if (neighbour.is_free() || neighbour.is_internal() || neighbour.is_pinned()) {
      return;
    }
    hole = remove_item(next, Removal::evicted);
  }
}

bool ItemStore::grow_index() noexcept {
  const std::size_t buckets = index_.buckets() == 0 ? kInitialIndexBuckets : index_.buckets() * 2;
  const std::uint64_t units =
      (kIndexTableOffset + ItemIndex::bytes_for(buckets) + kUnitBytes - 1) / kUnitBytes;
  const BlockRef block = make_room(units);
  if (block == kNoBlock) {
    return false;
  }
  ArenaBlock table = arena_.block(block);
  table.set_internal();
  ItemIndex bigger(table.data() + kIndexTableOffset, buckets);
  // A larger table needs more hash bits than the slots keep, so each key is
  // hashed again. An entry that does not fit (vanishingly rare at half the
  // old load) is evicted rather than lost.
  std::vector<BlockRef> homeless;
  index_.for_each([&](BlockRef ref) {
    if (!bigger.insert(hash_key(arena_.block(ref).key()), ref)) {
      homeless.push_back(ref);
    }
  });
  const BlockRef old_block = index_block_;
  index_ = bigger;
  index_block_ = block;
  if (old_block != kNoBlock) {
    arena_.release(old_block);
  }
  for (const BlockRef ref : homeless) {
    const ArenaBlock item = arena_.block(ref);
    queue_.remove(ref);
    --items_;
    payload_bytes_ -= item.key_size() + item.value_size();
    ++evictions_;
    arena_.release(ref);
  }
  return true;
}

bool ItemStore::link_into_index(KeyHash hash, BlockRef ref) noexcept {
  if (index_.insert(hash, ref)) {
    return true;
  }
  if (grow_index() && index_.insert(hash, ref)) {
    return true;
  }
  // Evicting an item of the key's first bucket frees a slot there for sure.
  const BlockRef occupant = index_.any_in_first_bucket(hash);
  if (occupant == kNoBlock || arena_.block(occupant).is_pinned()) {
    return false;
  }
  remove_item(occupant, Removal::evicted);
  return index_.insert(hash, ref);
}

const ItemView* ItemStore::find(std::string_view key, KeyHash hash, std::uint64_t now_ms) {
  const BlockRef ref = lookup(key, hash);
  if (ref == kNoBlock) {
    return nullptr;
  }
  const ArenaBlock item = arena_.block(ref);
  if (is_expired(item, now_ms)) {
    remove_item(ref, hash, Removal::expired);
    return nullptr;
  }
  queue_.touch(ref);
  view_ = ItemView{item.value(), item.version(), remaining_ttl(item, now_ms)};
  return &view_;
}

PutResult ItemStore::put(const PutRequest& request, KeyHash hash, std::uint64_t now_ms) {
  const std::string_view key = request.key;
  const std::string_view value = request.value;
  if (key.empty()) {
    return {StoreStatus::invalid};
  }
  if (key.size() > limits_.max_key_bytes || key.size() > 65536 ||
      value.size() > limits_.max_value_bytes) {
    return {StoreStatus::too_large};
  }
  const std::uint64_t units = ArenaBlock::units_for_item(key.size(), value.size());
  if (units * kUnitBytes > max_item_bytes_) {
    return {StoreStatus::too_large};
  }
  // Grow before looking up: growing may evict, which must not happen to an
  // item we hold a ref to. A failed growth is not fatal (the insert below
  // has its own fallback).
  if (index_.needs_growth(items_ + 1)) {
    grow_index();
  }

  BlockRef old = lookup(key, hash);
  if (old != kNoBlock && is_expired(arena_.block(old), now_ms)) {
    remove_item(old, hash, Removal::expired);
    old = kNoBlock;
  }
  if (request.mode == PutMode::if_absent && old != kNoBlock) {
    return {StoreStatus::exists, arena_.block(old).version()};
  }
  if (request.mode == PutMode::compare_and_set &&
      (old == kNoBlock || arena_.block(old).version() != request.expected_version)) {
    return {old == kNoBlock ? StoreStatus::not_found : StoreStatus::version_mismatch};
  }
  const std::uint64_t version = request.version;
  const std::uint64_t expiry = encode_expiry(request.ttl_ms, now_ms);

  if (old != kNoBlock) {
    ArenaBlock item = arena_.block(old);
    // Same block size (to within what the pad absorbs): rewrite in place.
    if (units <= item.units() && item.units() - units < kMinFreeUnits) {
      payload_bytes_ -= item.value_size();
      item.resize_value(value.size());
      if (!value.empty()) {  // as below: an empty value's data() may be null
        std::memcpy(item.value_data(), value.data(), value.size());
      }
      item.set_version(version);
      item.set_expiry(expiry);
      payload_bytes_ += value.size();
      queue_.touch(old);
      return {StoreStatus::ok, version};
    }
    // Out of the queue and pinned while room is made: it must survive if
    // the put fails, and must not be chosen to make room for itself.
    queue_.remove(old);
    item.set_pinned(true);
  }

  const BlockRef fresh = make_room(units);
  if (fresh == kNoBlock) {
    if (old != kNoBlock) {
      arena_.block(old).set_pinned(false);
      queue_.push(old);
    }
    return {StoreStatus::out_of_memory};
  }
  ArenaBlock item = arena_.block(fresh);
  item.init_item(key, value.size());
  if (!value.empty()) {  // an empty value's data() may be null (found by tests/fuzz)
    std::memcpy(item.value_data(), value.data(), value.size());
  }
  item.set_version(version);
  item.set_expiry(expiry);

  if (old != kNoBlock) {
    const ArenaBlock old_item = arena_.block(old);
    index_.replace(hash, old, fresh);
    payload_bytes_ -= old_item.key_size() + old_item.value_size();
    arena_.release(old);
    queue_.push(fresh);
    queue_.touch(fresh);  // a rewrite is an access
  } else {
    item.set_pinned(true);  // linking may grow the index, which may evict
    if (!link_into_index(hash, fresh)) {
      arena_.release(fresh);
      return {StoreStatus::out_of_memory};
    }
    arena_.block(fresh).set_pinned(false);
    queue_.push(fresh);
    ++items_;
  }
  payload_bytes_ += key.size() + value.size();
  return {StoreStatus::ok, version};
}

StoreStatus ItemStore::erase(std::string_view key, KeyHash hash, std::uint64_t now_ms) {
  const BlockRef ref = lookup(key, hash);
  if (ref == kNoBlock) {
    return StoreStatus::not_found;
  }
  const bool live = !is_expired(arena_.block(ref), now_ms);
  remove_item(ref, hash, live ? Removal::deleted : Removal::expired);
  return live ? StoreStatus::ok : StoreStatus::not_found;
}

std::size_t ItemStore::sweep_expired(std::uint64_t now_ms, std::size_t max_blocks) {
  std::size_t removed = 0;
  BlockRef at = arena_.cursor();
  for (std::size_t seen = 0; seen < max_blocks; ++seen) {
    if (at == kNoBlock) {
      at = arena_.first_block();
    }
    const ArenaBlock block = arena_.block(at);
    if (!block.is_free() && !block.is_internal() && !block.is_pinned() &&
        is_expired(block, now_ms)) {
      at = arena_.next_block(remove_item(at, Removal::expired));
      ++removed;
    } else {
      at = arena_.next_block(at);
    }
  }
  arena_.set_cursor(at == kNoBlock ? arena_.first_block() : at);
  return removed;
}

std::string ItemStore::explain_too_large(std::size_t key_size, std::size_t value_size) const {
  if (key_size > limits_.max_key_bytes) {
    return "key is " + std::to_string(key_size) + " bytes; max-key-bytes is " +
           std::to_string(limits_.max_key_bytes);
  }
  if (value_size > limits_.max_value_bytes) {
    return "value is " + std::to_string(value_size) + " bytes; max-value-bytes is " +
           std::to_string(limits_.max_value_bytes);
  }
  return "item is " +
         std::to_string(ArenaBlock::units_for_item(key_size, value_size) * kUnitBytes) +
         " bytes with its header; the largest item is " + std::to_string(max_item_bytes_) +
         " bytes, 1/8 of the store's memory of " + std::to_string(memory_limit()) + " bytes";
}

std::string ItemStore::check_consistency() const {
  std::uint64_t items = 0;
  std::uint64_t payload = 0;
  std::uint64_t allocated = 0;
  bool prev_free = false;
  for (BlockRef at = arena_.first_block(); at != kNoBlock; at = arena_.next_block(at)) {
    const ArenaBlock block = arena_.block(at);
    if (block.prev_is_free() != prev_free) {
      return "block " + std::to_string(at) + " has a wrong prev-free bit";
    }
    prev_free = block.is_free();
    if (block.is_free()) {
      continue;
    }
    allocated += block.bytes();
    if (block.is_internal()) {
      continue;
    }
    if (block.is_pinned()) {
      return "block " + std::to_string(at) + " is still pinned";
    }
    ++items;
    payload += block.key_size() + block.value_size();
    if (lookup(block.key(), hash_key(block.key())) != at) {
      return "item at " + std::to_string(at) + " is not in the index";
    }
  }
  if (items != items_ || items != index_.size() || items != queue_.size()) {
    return "item counts disagree: arena " + std::to_string(items) + ", counter " +
           std::to_string(items_) + ", index " + std::to_string(index_.size()) + ", queue " +
           std::to_string(queue_.size());
  }
  if (payload != payload_bytes_) {
    return "payload bytes disagree";
  }
  if (allocated != arena_.allocated_bytes() || allocated > arena_.capacity_bytes()) {
    return "allocated bytes disagree";
  }
  return "";
}

ScanStep ItemStore::scan(std::uint64_t cursor, std::size_t max_items, std::uint64_t now_ms,
                         const std::function<void(const ScannedItem&)>& visit) const {
  ScanStep step;
  std::size_t slot = static_cast<std::size_t>(cursor);
  const std::size_t slots = index_.slots();
  for (; slot < slots && step.visited < max_items; ++slot) {
    if (!index_.occupied(slot)) {
      continue;
    }
    const ArenaBlock& item = arena_.block(index_.ref_at(slot));
    if (is_expired(item, now_ms)) {
      continue;
    }
    visit(ScannedItem{item.key(), item.value(), item.version(), remaining_ttl(item, now_ms)});
    ++step.visited;
  }
  step.next = slot < slots ? slot : 0;
  return step;
}

}  // namespace discache::node
