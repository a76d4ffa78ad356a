#include "heal_state.h"
#include "reconcile_digest.h"

#include <doctest/doctest.h>

#include <string>
#include <unordered_set>

#include "version_clock.h"

namespace discache::node {
namespace {

constexpr std::uint64_t kNow = 1'800'000'000'000;  // ms since 1970, in 2027

StoreLimits small_limits() {
  return StoreLimits{1024, 1 << 20, 4ull << 20};
}

// A version stamped `ago_ms` before kNow.
std::uint64_t version_at(std::uint64_t ago_ms, std::uint16_t writer = 1) {
  const std::uint64_t us = (kNow - ago_ms) * 1000 - VersionClock::kEpochUs;
  return (us << VersionClock::kWriterBits) | writer;
}

DigestTable digest(const ReconcileScope& scope, const ShardState& shard) {
  DigestTable table(scope.peers.size(), kReconcileBuckets);
  digest_tombstones(scope, shard, kNow, table);
  std::uint64_t cursor = 0;
  do {
    cursor = digest_items(scope, shard, cursor, 7, kNow, table);  // small chunks
  } while (cursor != 0);
  return table;
}

std::vector<std::uint32_t> differing(const DigestTable& a, const DigestTable& b) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t i = 0; i < a.buckets; ++i) {
    if (a.sums[i] != b.sums[i]) {
      out.push_back(i);
    }
  }
  return out;
}

void put(ShardState& shard, const std::string& key, std::uint64_t version) {
  REQUIRE(shard.items.put(PutRequest{key, "v", 0, PutMode::upsert, 0, version}, kNow).status ==
          StoreStatus::ok);
}

TEST_CASE(
    "co-owners holding the same keys agree; one newer version or tombstone differs in its "
    "bucket only") {
  const std::vector<std::string> names{"a", "b"};
  auto scope_a = ReconcileScope::make(names, 2, "a", {"b"});
  auto scope_b = ReconcileScope::make(names, 2, "b", {"a"});
  REQUIRE(scope_a);
  REQUIRE(scope_b);
  CHECK(scope_a->id == scope_b->id);
  ItemStore store_a(small_limits());
  ItemStore store_b(small_limits());
  HealState heal;
  ShardState a(store_a, 1, 1000, heal);
  ShardState b(store_b, 2, 1000, heal);
  for (int i = 0; i < 500; ++i) {
    put(a, "k" + std::to_string(i), version_at(1000));
    put(b, "k" + std::to_string(i), version_at(1000));
  }
  CHECK(differing(digest(*scope_a, a), digest(*scope_b, b)).empty());

  put(a, "k7", version_at(10));
  b.tombstones.add("k9", version_at(5), kNow);
  REQUIRE(b.items.erase("k9", kNow) == StoreStatus::ok);
  auto diff = differing(digest(*scope_a, a), digest(*scope_b, b));
  const auto bucket7 = reconcile_bucket(hash_key("k7"), kReconcileBuckets);
  const auto bucket9 = reconcile_bucket(hash_key("k9"), kReconcileBuckets);
  std::unordered_set<std::uint32_t> expected{bucket7, bucket9};
  CHECK(std::unordered_set<std::uint32_t>(diff.begin(), diff.end()) == expected);

  std::vector<ReconcileEntry> from_b;
  std::uint64_t cursor = 0;
  do {
    cursor = collect_items(*scope_b, b, cursor, 100, kNow, kReconcileBuckets, expected, from_b);
  } while (cursor != 0);
  collect_tombstones(*scope_b, b, kNow, kReconcileBuckets, expected, from_b);
  bool saw_tombstone = false;
  for (const auto& e : from_b) {
    CHECK(expected.contains(reconcile_bucket(hash_key(e.key), kReconcileBuckets)));
    if (e.key == "k9") {
      saw_tombstone = e.deleted && e.version == version_at(5);
    }
  }
  CHECK(saw_tombstone);
}

TEST_CASE("only keys both nodes own count") {
  const std::vector<std::string> names{"a", "b", "c"};
  auto scope = ReconcileScope::make(names, 2, "a", {"b"});
  REQUIRE(scope);
  ItemStore store(small_limits());
  HealState heal;
  ShardState shard(store, 1, 1000, heal);
  int shared = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(i);
    put(shard, key, version_at(1000));
    auto owners = scope->ring.owner_names(key, 2);
    if (std::find(owners.begin(), owners.end(), "a") != owners.end() &&
        std::find(owners.begin(), owners.end(), "b") != owners.end()) {
      ++shared;
    }
  }
  std::vector<ReconcileEntry> entries;
  std::unordered_set<std::uint32_t> all;
  for (std::uint32_t b = 0; b < kReconcileBuckets; ++b) {
    all.insert(b);
  }
  std::uint64_t cursor = 0;
  do {
    cursor = collect_items(*scope, shard, cursor, 64, kNow, kReconcileBuckets, all, entries);
  } while (cursor != 0);
  CHECK(shared > 0);
  CHECK(entries.size() == static_cast<std::size_t>(shared));
  CHECK(ReconcileScope::make(names, 2, "a", {"z"}) == nullptr);
  CHECK(ReconcileScope::make(names, 2, "z", {"a"}) == nullptr);
  CHECK(reconcile_ring_id(names, 2) != reconcile_ring_id(names, 3));
  CHECK(reconcile_ring_id({"ab", "c"}, 2) != reconcile_ring_id({"a", "bc"}, 2));
}

TEST_CASE(
    "the newer side wins; a value on one side only is copied only past the other's "
    "forgotten deletes") {
  ReconcileEntry old_value{"k", version_at(1000), false};
  ReconcileEntry new_value{"k", version_at(10), false};
  ReconcileEntry tombstone{"k", version_at(5), true};
  const std::uint64_t none_forgotten = 0;
  CHECK(reconcile_action(&new_value, &old_value, 0, 0) == ReconcileAction::push);
  CHECK(reconcile_action(&old_value, &new_value, 0, 0) == ReconcileAction::pull);
  CHECK(reconcile_action(&new_value, &new_value, 0, 0) == ReconcileAction::none);
  CHECK(reconcile_action(&tombstone, &new_value, 0, 0) == ReconcileAction::push);
  CHECK(reconcile_action(&new_value, &tombstone, 0, 0) == ReconcileAction::pull);
  CHECK(reconcile_action(&new_value, nullptr, 0, none_forgotten) == ReconcileAction::push);
  CHECK(reconcile_action(nullptr, &new_value, none_forgotten, 0) == ReconcileAction::pull);
  // A tombstone goes across whatever the other side forgot.
  CHECK(reconcile_action(nullptr, &tombstone, version_at(0), 0) == ReconcileAction::pull);
  CHECK(reconcile_action(&tombstone, nullptr, 0, version_at(0)) == ReconcileAction::push);
  // The side without the value forgot a delete newer than it: that delete
  // may have removed it, so it is left alone, in either direction.
  const std::uint64_t forgot_newer = version_at(500);
  CHECK(reconcile_action(&old_value, nullptr, 0, forgot_newer) == ReconcileAction::none);
  CHECK(reconcile_action(nullptr, &old_value, forgot_newer, 0) == ReconcileAction::none);
  // A value newer than anything forgotten is copied, however old it is.
  CHECK(reconcile_action(&old_value, nullptr, 0, version_at(2000)) == ReconcileAction::push);
}

TEST_CASE("a forgotten tombstone raises the watermark: expired or dropped over the bound") {
  TombstoneExpiry expiry(/*lifetime_ms=*/1000);
  Tombstones t(expiry, /*max_entries=*/2);
  CHECK(t.forgotten_version(0) == 0);
  t.add("a", 7, 0);
  t.add("b", 5, 10);
  CHECK(t.forgotten_version(500) == 0);
  CHECK(t.forgotten_version(1005) == 7);  // "a" expired, not yet swept
  t.add("c", 3, 20);                      // over the bound: "a" goes
  CHECK(t.forgotten_version(30) == 7);
  t.sweep(2000, 10);
  CHECK(t.forgotten_version(2000) == 7);
  t.add("d", 9, 2000);
  t.sweep(3001, 10);
  CHECK(t.forgotten_version(3001) == 9);
}

TEST_CASE("exactly one node of each pair starts the exchange, about half each") {
  int started_by_smaller = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string a = "node-" + std::to_string(i);
    const std::string b = "node-" + std::to_string(i + 1000);
    CHECK(starts_reconcile(a, b) != starts_reconcile(b, a));
    started_by_smaller += starts_reconcile(a, b) ? 1 : 0;
  }
  CHECK(started_by_smaller > 60);
  CHECK(started_by_smaller < 140);
}

}  // namespace
}  // namespace discache::node
