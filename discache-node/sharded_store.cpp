#include "sharded_store.h"

#include <stdexcept>

#include "size_text.h"

namespace discache::node {

ShardedStore::ShardedStore(StoreLimits limits, std::size_t shards) : limits_(limits) {
  if (shards == 0 || shards > 256) {
    throw std::invalid_argument("a store has 1 to 256 shards");
  }
  StoreLimits per_shard = limits;
  per_shard.memory_bytes = limits.memory_bytes / shards;
  shards_.reserve(shards);
  for (std::size_t i = 0; i < shards; ++i) {
    shards_.push_back(std::make_unique<ItemStore>(per_shard));
  }
}

std::string ShardedStore::explain_too_large(std::size_t key_size, std::size_t value_size) const {
  const ItemStore& any = *shards_.front();
  if (key_size > limits_.max_key_bytes || value_size > limits_.max_value_bytes) {
    return any.explain_too_large(key_size, value_size);
  }
  return "item is " +
         std::to_string(ArenaBlock::units_for_item(key_size, value_size) * kUnitBytes) +
         " bytes with its header; with --memory " + format_size(limits_.memory_bytes) +
         (shards_.size() > 1 ? " over " + std::to_string(shards_.size()) + " shards" : "") +
         " the largest item is " + std::to_string(any.max_item_bytes()) +
         " bytes (1/8 of a shard's memory)";
}

std::uint64_t ShardedStore::items() const noexcept { return sum(&ItemStore::items); }
std::uint64_t ShardedStore::bytes() const noexcept { return sum(&ItemStore::bytes); }
std::uint64_t ShardedStore::memory_used() const noexcept { return sum(&ItemStore::memory_used); }
std::uint64_t ShardedStore::memory_limit() const noexcept { return sum(&ItemStore::memory_limit); }
std::uint64_t ShardedStore::evictions() const noexcept { return sum(&ItemStore::evictions); }
std::uint64_t ShardedStore::expirations() const noexcept { return sum(&ItemStore::expirations); }

}  // namespace discache::node
