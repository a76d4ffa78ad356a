// HashRing: the contract clients and nodes rely on to agree on key owners.
#include "hash_ring.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace discache {
namespace {

std::vector<std::string> node_names(std::size_t count) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < count; ++i) {
    names.push_back("node-" + std::to_string(i));
  }
  return names;
}

std::vector<std::string> test_keys(std::size_t count) {
  std::vector<std::string> keys;
  keys.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    keys.push_back("key-" + std::to_string(i));
  }
  return keys;
}

// First owner of each key by name: indexes shift when the member set changes,
// names do not, so movement is measured on names.
std::vector<std::string> first_owner_names(const HashRing& ring,
                                           const std::vector<std::string>& keys) {
  std::vector<std::string> owners;
  owners.reserve(keys.size());
  for (const auto& key : keys) {
    owners.push_back(ring.nodes()[ring.owner(key)]);
  }
  return owners;
}

TEST_CASE("rings built from the same names in any order agree on every owner") {
  std::vector<std::string> names = node_names(10);
  std::vector<std::string> shuffled = {names[7], names[2], names[9], names[0], names[5],
                                       names[1], names[8], names[3], names[6], names[4]};
  // A duplicate must not change the ring either: it is kept once.
  shuffled.push_back(names[3]);
  const HashRing a(names);
  const HashRing b(shuffled);
  REQUIRE(a.nodes() == b.nodes());

  constexpr std::size_t kReplicas = 3;
  std::array<std::uint32_t, kReplicas> from_a{};
  std::array<std::uint32_t, kReplicas> from_b{};
  for (const auto& key : test_keys(10'000)) {
    CAPTURE(key);
    REQUIRE(a.owners(key, from_a) == kReplicas);
    REQUIRE(b.owners(key, from_b) == kReplicas);
    REQUIRE(from_a == from_b);
  }
}

TEST_CASE("owners(key, n) gives n distinct nodes, the first being owner(key)") {
  const HashRing ring(node_names(10));
  std::array<std::uint32_t, 4> out{};
  for (const auto& key : test_keys(2'000)) {
    CAPTURE(key);
    REQUIRE(ring.owners(key, out) == out.size());
    std::array<std::uint32_t, 4> sorted = out;
    std::sort(sorted.begin(), sorted.end());
    REQUIRE(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
    REQUIRE(sorted.back() < ring.size());
    REQUIRE(out[0] == ring.owner(key));
    // Asking for fewer replicas gives a prefix of the longer answer, so a
    // replica set never reorders when N changes.
    std::array<std::uint32_t, 2> two{};
    REQUIRE(ring.owners(key, two) == 2);
    REQUIRE(two[0] == out[0]);
    REQUIRE(two[1] == out[1]);
  }
}

TEST_CASE("asking for more owners than nodes gives every node once") {
  const HashRing ring(node_names(3));
  std::array<std::uint32_t, 5> out{};
  for (const auto& key : test_keys(500)) {
    CAPTURE(key);
    const std::size_t count = ring.owners(key, out);
    REQUIRE(count == 3);
    std::vector<std::uint32_t> got(out.begin(), out.begin() + 3);
    std::sort(got.begin(), got.end());
    REQUIRE(got == std::vector<std::uint32_t>{0, 1, 2});
  }
  CHECK(ring.owner_names("k", 5).size() == 3);
}

TEST_CASE("an empty ring owns nothing") {
  const HashRing ring;
  std::array<std::uint32_t, 2> out{};
  CHECK(ring.empty());
  CHECK(ring.owners("key", out) == 0);
  CHECK(ring.owner_names("key", 2).empty());
  CHECK(ring.shares().empty());

  const HashRing from_empty_list(std::vector<std::string>{});
  CHECK(from_empty_list.owners("key", out) == 0);
}

TEST_CASE("a one-node ring owns everything") {
  const HashRing ring({"only"}, 1);
  std::array<std::uint32_t, 2> out{};
  CHECK(ring.owners("key", out) == 1);
  CHECK(out[0] == 0);
  REQUIRE(ring.shares().size() == 1);
  CHECK(ring.shares()[0] == doctest::Approx(1.0));
}

TEST_CASE("10 nodes x 512 vnodes spread 100k keys within 15% of the mean") {
  constexpr std::size_t kNodes = 10;
  constexpr std::size_t kKeys = 100'000;
  const HashRing ring(node_names(kNodes), 512);

  std::vector<std::size_t> counts(kNodes, 0);
  for (const auto& key : test_keys(kKeys)) {
    ++counts[ring.owner(key)];
  }
  const double mean_count = static_cast<double>(kKeys) / kNodes;
  for (std::size_t n = 0; n < kNodes; ++n) {
    CAPTURE(n);
    CHECK(static_cast<double>(counts[n]) >= mean_count * 0.85);
    CHECK(static_cast<double>(counts[n]) <= mean_count * 1.15);
  }

  const std::vector<double> shares = ring.shares();
  REQUIRE(shares.size() == kNodes);
  const double total = std::accumulate(shares.begin(), shares.end(), 0.0);
  CHECK(std::abs(total - 1.0) < 1e-9);
  const double mean_share = total / kNodes;
  const double max_share = *std::max_element(shares.begin(), shares.end());
  CHECK(max_share / mean_share < 1.15);
}

TEST_CASE("adding an 11th node moves about 1/11 of the keys, all to the new node") {
  constexpr std::size_t kKeys = 100'000;
  const std::vector<std::string> keys = test_keys(kKeys);
  std::vector<std::string> names = node_names(10);
  const HashRing before(names);
  names.push_back("node-new");
  const HashRing after(names);

  const std::vector<std::string> owner_before = first_owner_names(before, keys);
  const std::vector<std::string> owner_after = first_owner_names(after, keys);
  std::size_t moved = 0;
  for (std::size_t i = 0; i < kKeys; ++i) {
    if (owner_before[i] != owner_after[i]) {
      ++moved;
      CAPTURE(keys[i]);
      CHECK(owner_after[i] == "node-new");
    }
  }
  const double fraction = static_cast<double>(moved) / kKeys;
  CAPTURE(fraction);
  CHECK(fraction > 0.5 / 11);
  CHECK(fraction < 1.5 / 11);
}

TEST_CASE("removing one of 10 nodes moves only that node's keys") {
  constexpr std::size_t kKeys = 100'000;
  const std::vector<std::string> keys = test_keys(kKeys);
  std::vector<std::string> names = node_names(10);
  const HashRing before(names);
  const std::string removed = names[4];
  names.erase(names.begin() + 4);
  const HashRing after(names);

  const std::vector<std::string> owner_before = first_owner_names(before, keys);
  const std::vector<std::string> owner_after = first_owner_names(after, keys);
  std::size_t moved = 0;
  for (std::size_t i = 0; i < kKeys; ++i) {
    CAPTURE(keys[i]);
    if (owner_before[i] == removed) {
      ++moved;
      CHECK(owner_after[i] != removed);
    } else {
      CHECK(owner_after[i] == owner_before[i]);
    }
  }
  // The removed node did own something, so the check above was not vacuous.
  CHECK(moved > kKeys / 20);
}

}  // namespace
}  // namespace discache
