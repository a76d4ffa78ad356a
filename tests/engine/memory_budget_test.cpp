// The store never uses more than its memory budget, whatever is put in it,
// and what it returns is always what was last written.
#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "item_store.h"
#include "sharded_store.h"

namespace discache::node {
namespace {

constexpr std::uint64_t kNow = 1'000'000;

StoreLimits limits_with_memory(std::uint64_t bytes, std::size_t max_value = 64 * 1024) {
  StoreLimits limits{.max_key_bytes = 250, .max_value_bytes = max_value};
  limits.memory_bytes = bytes;
  return limits;
}

std::string value_for(std::uint64_t seed, std::size_t size) {
  std::string value(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    value[i] = static_cast<char>('a' + (seed + i * 7) % 26);
  }
  return value;
}

TEST_CASE("random puts, gets and deletes of random sizes stay within the budget") {
  constexpr std::uint64_t kBudget = 1 << 20;
  ItemStore store(limits_with_memory(kBudget));
  CHECK(store.memory_limit() == kBudget);
  std::mt19937_64 rng(42);
  // What each key last held (a hit must return exactly this).
  std::map<std::string, std::string> written;
  std::uint64_t refused = 0;
  for (int step = 0; step < 30000; ++step) {
    const std::string key = "key-" + std::to_string(rng() % 3000);
    const int what = static_cast<int>(rng() % 10);
    if (what < 6) {
      // Mostly small values with a long tail, like real caches.
      const std::size_t size = rng() % 8 == 0 ? rng() % 60000 : rng() % 400;
      const std::string value = value_for(rng(), size);
      const PutResult put = store.put(PutRequest{.key = key, .value = value}, kNow);
      if (put.status == StoreStatus::ok) {
        written[key] = value;
      } else {
        ++refused;
        CHECK(put.status == StoreStatus::too_large);
      }
    } else if (what < 9) {
      const ItemView* item = store.find(key, kNow);
      if (item != nullptr) {
        REQUIRE(written.contains(key));
        CHECK(item->value == written[key]);
      }
    } else {
      store.erase(key, kNow);
      written.erase(key);
    }
    REQUIRE(store.memory_used() <= kBudget);
    if (step % 5000 == 0) {
      REQUIRE(store.check_consistency() == "");
    }
  }
  CHECK(store.check_consistency() == "");
  CHECK(store.evictions() > 0);
  // 1/8 of 1 MiB is 128 KiB: every value here fits.
  CHECK(refused == 0);
}

TEST_CASE(
    "same-size items fill the budget densely: 144 bytes for a 16-byte key and 100-byte value") {
  constexpr std::uint64_t kBudget = 4 << 20;
  ItemStore store(limits_with_memory(kBudget));
  const std::string value(100, 'v');
  char key[32];
  for (int i = 0; i < 200000; ++i) {
    std::snprintf(key, sizeof key, "key-%012d", i);
    REQUIRE(store.put(PutRequest{.key = key, .value = value}, kNow).status == StoreStatus::ok);
    REQUIRE(store.memory_used() <= kBudget);
  }
  CHECK(store.evictions() > 0);
  const double per_item = static_cast<double>(kBudget) / static_cast<double>(store.items());
  INFO("bytes of budget per item: ", per_item);
  // 144 for the item, ~5.5-11 for the index, a little slack in a full arena.
  CHECK(per_item < 160);
  CHECK(store.check_consistency() == "");
}

TEST_CASE("overwrites with other sizes keep the latest value and the counts") {
  ItemStore store(limits_with_memory(256 * 1024));
  for (std::size_t size : {10u, 200u, 10u, 0u, 3000u, 3001u, 3005u, 50u}) {
    const std::string value = value_for(size, size);
    REQUIRE(store.put(PutRequest{.key = "k", .value = value}, kNow).status == StoreStatus::ok);
    const ItemView* item = store.find("k", kNow);
    REQUIRE(item != nullptr);
    CHECK(item->value == value);
    CHECK(store.items() == 1);
    CHECK(store.bytes() == 1 + size);
    CHECK(store.check_consistency() == "");
  }
}

TEST_CASE("an item over 1/8 of the memory is too_large, and the message names the limit") {
  ItemStore store(limits_with_memory(1 << 20, 1 << 20));
  CHECK(store.max_item_bytes() == (1 << 20) / 8);
  const std::string big(200 * 1024, 'x');
  CHECK(store.put(PutRequest{.key = "k", .value = big}, kNow).status == StoreStatus::too_large);
  const std::string why = store.explain_too_large(1, big.size());
  CHECK(why.find("largest item is 131072 bytes") != std::string::npos);
  CHECK(store.explain_too_large(1, 2 << 20).find("max-value-bytes is 1048576") !=
        std::string::npos);
  CHECK(store.explain_too_large(300, 1).find("max-key-bytes is 250") != std::string::npos);
  // A value just under the item limit fits, evicting whatever it must.
  const std::string largest(store.max_item_bytes() - kItemHeaderBytes - 1, 'y');
  for (int i = 0; i < 2000; ++i) {
    store.put(PutRequest{.key = "small-" + std::to_string(i), .value = "12345678"}, kNow);
  }
  CHECK(store.put(PutRequest{.key = "k", .value = largest}, kNow).status == StoreStatus::ok);
  CHECK(store.find("k", kNow) != nullptr);
  CHECK(store.memory_used() <= store.memory_limit());
  CHECK(store.check_consistency() == "");
}

TEST_CASE("a store refuses a budget too small to be useful") {
  CHECK_THROWS_AS(ItemStore(limits_with_memory(1000)), std::invalid_argument);
}

TEST_CASE("a sharded store splits the budget and routes each key to one shard") {
  ShardedStore store(limits_with_memory(8 << 20), 4);
  CHECK(store.shard_count() == 4);
  CHECK(store.memory_limit() == 8 << 20);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(store.shard(i).memory_limit() == 2 << 20);
  }
  const std::string value(100, 'v');
  for (int i = 0; i < 100000; ++i) {
    const std::string key = "key-" + std::to_string(i);
    REQUIRE(store.put(PutRequest{.key = key, .value = value}, kNow).status == StoreStatus::ok);
  }
  CHECK(store.memory_used() <= store.memory_limit());
  std::uint64_t items = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    // Keys spread evenly: every shard is full and evicting.
    CHECK(store.shard(i).evictions() > 0);
    CHECK(store.shard(i).memory_used() <= store.shard(i).memory_limit());
    items += store.shard(i).items();
  }
  CHECK(items == store.items());
  // The key is where routing says, and nowhere else.
  const std::string key = "key-99999";
  const KeyHash hash = hash_key(key);
  const std::size_t owner = store.shard_index(hash);
  CHECK(store.shard(owner).find(key, hash, kNow) != nullptr);
  for (std::size_t i = 0; i < 4; ++i) {
    if (i != owner) {
      CHECK(store.shard(i).find(key, hash, kNow) == nullptr);
    }
  }
  CHECK(store.find(key, kNow) != nullptr);
}

}  // namespace
}  // namespace discache::node
