// ItemStore: put/get/erase semantics, limits, conditional writes and expiry.
// Time is always passed in explicitly, so expiry is tested without waiting.
#include "item_store.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>

namespace discache::node {
namespace {

constexpr StoreLimits kLimits{.max_key_bytes = 8, .max_value_bytes = 16};
constexpr std::uint64_t kNow = 1'000'000;

PutRequest upsert(std::string_view key, std::string_view value, std::uint64_t ttl_ms = 0,
                  std::uint64_t version = 1) {
  return PutRequest{.key = key, .value = value, .ttl_ms = ttl_ms, .version = version};
}

// The live value of `key`, copied out (a view dies at the next mutation).
std::optional<std::string> value_at(ItemStore& store, std::string_view key, std::uint64_t now_ms) {
  const ItemView* found = store.find(key, now_ms);
  if (found == nullptr) {
    return std::nullopt;
  }
  return std::string(found->value);
}

TEST_CASE("put, find and erase a key") {
  ItemStore store(kLimits);
  CHECK(store.find("k", kNow) == nullptr);

  const PutResult put = store.put(upsert("k", "v1", 0, 10), kNow);
  REQUIRE(put.status == StoreStatus::ok);
  CHECK(put.version == 10);
  const ItemView* found = store.find("k", kNow);
  REQUIRE(found != nullptr);
  CHECK(found->value == "v1");
  CHECK(found->version == put.version);

  const PutResult overwrite = store.put(upsert("k", "v2", 0, 11), kNow);
  REQUIRE(overwrite.status == StoreStatus::ok);
  CHECK(overwrite.version == 11);
  found = store.find("k", kNow);
  REQUIRE(found != nullptr);
  CHECK(found->value == "v2");
  CHECK(found->version == 11);

  CHECK(store.erase("k", kNow) == StoreStatus::ok);
  CHECK(store.find("k", kNow) == nullptr);
  CHECK(store.erase("k", kNow) == StoreStatus::not_found);
}

// The store never makes versions up: the shard's clock stamps every write.
TEST_CASE("a writer-supplied version is kept") {
  ItemStore store(kLimits);
  PutRequest request = upsert("k", "v");
  request.version = 12345;
  CHECK(store.put(request, kNow).version == 12345);
  REQUIRE(store.find("k", kNow) != nullptr);
  CHECK(store.find("k", kNow)->version == 12345);
}

TEST_CASE("keys and values over the limits are too_large; at the limit they fit") {
  ItemStore store(kLimits);
  const std::string max_key(kLimits.max_key_bytes, 'k');
  const std::string max_value(kLimits.max_value_bytes, 'v');
  CHECK(store.put(upsert(max_key, max_value), kNow).status == StoreStatus::ok);
  CHECK(store.put(upsert(max_key + "k", "v"), kNow).status == StoreStatus::too_large);
  CHECK(store.put(upsert("k", max_value + "v"), kNow).status == StoreStatus::too_large);
  // A refused write leaves nothing behind.
  CHECK(store.items() == 1);
  CHECK(store.find("k", kNow) == nullptr);
}

TEST_CASE("an empty key is invalid; an empty value is fine") {
  ItemStore store(kLimits);
  CHECK(store.put(upsert("", "v"), kNow).status == StoreStatus::invalid);
  CHECK(store.items() == 0);
  REQUIRE(store.put(upsert("k", ""), kNow).status == StoreStatus::ok);
  const ItemView* found = store.find("k", kNow);
  REQUIRE(found != nullptr);
  CHECK(found->value.empty());
}

// Regression (fuzz-node under UBSan): an empty value as the wire delivers it
// has a null data(); overwriting an item in place copied from it.
TEST_CASE("an empty value with a null data() overwrites an item in place") {
  ItemStore store(kLimits);
  REQUIRE(store.put(upsert("k", "v"), kNow).status == StoreStatus::ok);
  const std::string_view null_empty{};
  REQUIRE(null_empty.data() == nullptr);
  REQUIRE(store.put(upsert("k", null_empty), kNow).status == StoreStatus::ok);
  CHECK(value_at(store, "k", kNow) == std::optional<std::string>(""));
  REQUIRE(store.put(upsert("k", "again"), kNow).status == StoreStatus::ok);
  CHECK(value_at(store, "k", kNow) == std::optional<std::string>("again"));
}

TEST_CASE("if_absent does not overwrite a live item") {
  ItemStore store(kLimits);
  PutRequest request = upsert("k", "first");
  request.mode = PutMode::if_absent;
  const PutResult first = store.put(request, kNow);
  REQUIRE(first.status == StoreStatus::ok);

  request.value = "second";
  const PutResult second = store.put(request, kNow);
  CHECK(second.status == StoreStatus::exists);
  // The caller learns which version beat it.
  CHECK(second.version == first.version);
  CHECK(value_at(store, "k", kNow) == "first");
}

TEST_CASE("if_absent treats an expired item as absent") {
  ItemStore store(kLimits);
  REQUIRE(store.put(upsert("k", "old", 10), kNow).status == StoreStatus::ok);
  PutRequest request = upsert("k", "new");
  request.mode = PutMode::if_absent;
  CHECK(store.put(request, kNow + 10).status == StoreStatus::ok);
  CHECK(value_at(store, "k", kNow + 10) == "new");
}

TEST_CASE("compare_and_set writes only over the expected version") {
  ItemStore store(kLimits);
  const PutResult first = store.put(upsert("k", "v1"), kNow);
  REQUIRE(first.status == StoreStatus::ok);

  PutRequest cas = upsert("k", "v2");
  cas.mode = PutMode::compare_and_set;
  cas.expected_version = first.version + 1;
  CHECK(store.put(cas, kNow).status == StoreStatus::version_mismatch);
  CHECK(value_at(store, "k", kNow) == "v1");

  cas.expected_version = first.version;
  cas.version = first.version + 5;
  const PutResult won = store.put(cas, kNow);
  CHECK(won.status == StoreStatus::ok);
  CHECK(won.version == first.version + 5);
  CHECK(value_at(store, "k", kNow) == "v2");

  // The old version is now stale: a second writer holding it loses.
  CHECK(store.put(cas, kNow).status == StoreStatus::version_mismatch);

  cas.key = "absent";
  CHECK(store.put(cas, kNow).status == StoreStatus::not_found);
  CHECK(store.find("absent", kNow) == nullptr);
}

TEST_CASE("an item with a ttl lives until now + ttl, exclusive") {
  ItemStore store(kLimits);
  REQUIRE(store.put(upsert("k", "v", 100), kNow).status == StoreStatus::ok);
  CHECK(store.find("k", kNow + 99) != nullptr);
  CHECK(store.find("k", kNow + 100) == nullptr);
  // find() dropped it, so it no longer counts.
  CHECK(store.items() == 0);
  CHECK(store.bytes() == 0);

  REQUIRE(store.put(upsert("k", "v", 100), kNow).status == StoreStatus::ok);
  CHECK(store.erase("k", kNow + 100) == StoreStatus::not_found);
  CHECK(store.items() == 0);

  // ttl 0 means no expiry.
  REQUIRE(store.put(upsert("forever", "v"), kNow).status == StoreStatus::ok);
  CHECK(store.find("forever", kNow + 1'000'000'000) != nullptr);

  // An overwrite replaces the ttl.
  REQUIRE(store.put(upsert("k", "v", 100), kNow).status == StoreStatus::ok);
  REQUIRE(store.put(upsert("k", "v"), kNow + 50).status == StoreStatus::ok);
  CHECK(store.find("k", kNow + 1'000) != nullptr);
}

TEST_CASE("bytes and items follow every write and return to zero") {
  ItemStore store(kLimits);
  REQUIRE(store.put(upsert("a", "1234"), kNow).status == StoreStatus::ok);
  REQUIRE(store.put(upsert("bb", "12"), kNow).status == StoreStatus::ok);
  CHECK(store.items() == 2);
  CHECK(store.bytes() == 1 + 4 + 2 + 2);

  // Overwrites swap the value's bytes; the key is counted once.
  REQUIRE(store.put(upsert("a", "123456789"), kNow).status == StoreStatus::ok);
  CHECK(store.items() == 2);
  CHECK(store.bytes() == 1 + 9 + 2 + 2);
  REQUIRE(store.put(upsert("a", ""), kNow).status == StoreStatus::ok);
  CHECK(store.bytes() == 1 + 0 + 2 + 2);

  // Refused writes change nothing.
  CHECK(store.put(upsert("a", std::string(17, 'x')), kNow).status == StoreStatus::too_large);
  CHECK(store.bytes() == 1 + 0 + 2 + 2);

  CHECK(store.erase("a", kNow) == StoreStatus::ok);
  CHECK(store.erase("bb", kNow) == StoreStatus::ok);
  CHECK(store.items() == 0);
  CHECK(store.bytes() == 0);
}

}  // namespace
}  // namespace discache::node
