// TTL: an expired item is never returned, and its memory comes back on
// access or through the bounded sweep. The clock is passed in.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "item_store.h"

namespace discache::node {
namespace {

constexpr std::uint64_t kNow = 1'700'000'000'000;  // a realistic wall clock

ItemStore make_store() {
  StoreLimits limits{.max_key_bytes = 250, .max_value_bytes = 4096};
  limits.memory_bytes = 1 << 20;
  return ItemStore(limits);
}

PutRequest with_ttl(std::string_view key, std::string_view value, std::uint64_t ttl_ms) {
  return PutRequest{.key = key, .value = value, .ttl_ms = ttl_ms};
}

TEST_CASE("an item expires at now + ttl, and its memory comes back when it is read") {
  ItemStore store = make_store();
  const std::uint64_t empty = store.memory_used();  // the index alone
  REQUIRE(store.put(with_ttl("k", "value", 1000), kNow).status == StoreStatus::ok);
  CHECK(store.memory_used() > empty);
  CHECK(store.find("k", kNow + 999) != nullptr);
  CHECK(store.find("k", kNow + 1000) == nullptr);
  CHECK(store.expirations() == 1);
  CHECK(store.evictions() == 0);
  CHECK(store.items() == 0);
  CHECK(store.memory_used() == empty);
}

TEST_CASE("an expired item is never returned or counted as present by any call") {
  ItemStore store = make_store();
  REQUIRE(store.put(with_ttl("k", "v", 10), kNow).status == StoreStatus::ok);
  CHECK(store.erase("k", kNow + 10) == StoreStatus::not_found);
  REQUIRE(store.put(with_ttl("k", "v", 10), kNow).status == StoreStatus::ok);
  PutRequest if_absent = with_ttl("k", "new", 0);
  if_absent.mode = PutMode::if_absent;
  CHECK(store.put(if_absent, kNow + 10).status == StoreStatus::ok);
  REQUIRE(store.find("k", kNow + 10) != nullptr);
  CHECK(store.find("k", kNow + 10)->value == "new");
}

TEST_CASE("long ttls and a clock that steps back behave") {
  ItemStore store = make_store();
  constexpr std::uint64_t kYear = 365ull * 24 * 3600 * 1000;
  REQUIRE(store.put(with_ttl("year", "v", kYear), kNow).status == StoreStatus::ok);
  REQUIRE(store.put(with_ttl("forever", "v", 0), kNow).status == StoreStatus::ok);
  CHECK(store.find("year", kNow + kYear - 1) != nullptr);
  CHECK(store.find("year", kNow + kYear) == nullptr);
  // Written by a clock one minute behind the first expiry written.
  REQUIRE(store.put(with_ttl("early", "v", 30'000), kNow - 60'000).status == StoreStatus::ok);
  CHECK(store.find("early", kNow - 30'001) != nullptr);
  CHECK(store.find("early", kNow - 30'000) == nullptr);
  CHECK(store.find("forever", kNow + 100 * kYear) != nullptr);
}

TEST_CASE("the sweep frees expired items nobody reads, a bounded number of blocks per call") {
  ItemStore store = make_store();
  const std::string value(100, 'v');
  for (int i = 0; i < 2000; ++i) {
    const std::uint64_t ttl = i % 2 == 0 ? 500 : 0;  // half expire
    REQUIRE(store.put(with_ttl("key-" + std::to_string(i), value, ttl), kNow).status ==
            StoreStatus::ok);
  }
  const std::uint64_t full = store.memory_used();
  // Before the deadline nothing goes.
  CHECK(store.sweep_expired(kNow + 499, 100000) == 0);
  CHECK(store.items() == 2000);

  // A small step looks at no more than its budget of blocks.
  CHECK(store.sweep_expired(kNow + 500, 10) <= 10);
  // Enough steps cover the whole arena: bounded, and all expired items go.
  for (int tick = 0; tick < 1000 && store.items() > 1000; ++tick) {
    store.sweep_expired(kNow + 500, 64);
  }
  CHECK(store.items() == 1000);
  CHECK(store.expirations() == 1000);
  CHECK(store.memory_used() < full);
  // Every item here takes 136 bytes (28 header + 5..8 key + 100 value).
  CHECK(full - store.memory_used() == 1000 * ArenaBlock::units_for_item(8, 100) * kUnitBytes);
  CHECK(store.check_consistency() == "");
  // Survivors are intact.
  REQUIRE(store.find("key-1", kNow + 500) != nullptr);
  CHECK(store.find("key-1", kNow + 500)->value == value);
  CHECK(store.find("key-0", kNow + 500) == nullptr);
}

TEST_CASE("an overwrite replaces the ttl, in place and when the size changes") {
  ItemStore store = make_store();
  REQUIRE(store.put(with_ttl("k", "aaaa", 100), kNow).status == StoreStatus::ok);
  REQUIRE(store.put(with_ttl("k", "bbbb", 0), kNow).status == StoreStatus::ok);  // in place
  CHECK(store.find("k", kNow + 1000) != nullptr);
  REQUIRE(store.put(with_ttl("k", std::string(500, 'c'), 100), kNow).status == StoreStatus::ok);
  CHECK(store.find("k", kNow + 99) != nullptr);
  CHECK(store.find("k", kNow + 100) == nullptr);
}

}  // namespace
}  // namespace discache::node
