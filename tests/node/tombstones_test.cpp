#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tombstones.h"

namespace discache::node {
namespace {

TEST_CASE("a tombstone remembers the newest delete until it expires") {
  TombstoneExpiry expiry(/*lifetime_ms=*/1000);
  Tombstones t(expiry, /*max_entries=*/10);
  CHECK(t.version("k", 0) == 0);
  t.add("k", 5, 100);
  CHECK(t.version("k", 100) == 5);
  t.add("k", 3, 200);  // an older delete does not lower it
  CHECK(t.version("k", 200) == 5);
  t.add("k", 9, 300);  // a newer one raises it and restarts its clock
  CHECK(t.version("k", 1299) == 9);
  CHECK(t.version("k", 1300) == 0);
}

TEST_CASE("erase and sweep forget tombstones; the count stays bounded") {
  TombstoneExpiry expiry(1000);
  Tombstones t(expiry, 3);
  t.add("a", 1, 0);
  t.add("b", 1, 10);
  t.erase("a");
  CHECK(t.version("a", 10) == 0);
  t.add("c", 1, 20);
  t.add("d", 1, 30);
  t.add("e", 1, 40);  // over the bound: the oldest go first
  CHECK(t.size() <= 3);
  CHECK(t.dropped_live() == 1);  // "b" went before it expired
  CHECK(t.version("e", 40) == 1);
  t.sweep(5000, 100);
  CHECK(t.size() == 0);
}

TEST_CASE("while held, no tombstone expires; released, each lives past the release") {
  TombstoneExpiry expiry(1000);
  Tombstones t(expiry, 10);
  t.add("old", 1, 0);
  expiry.hold();  // a member is cut off
  t.add("new", 2, 500);
  CHECK(t.version("old", 100'000) == 1);
  t.sweep(100'000, 100);
  CHECK(t.size() == 2);
  expiry.release(100'000);  // whole and settled again at t = 100 s
  CHECK(t.version("old", 100'999) == 1);
  CHECK(t.version("new", 100'999) == 2);
  t.sweep(100'999, 100);
  CHECK(t.size() == 2);
  CHECK(t.version("old", 101'000) == 0);
  t.sweep(101'000, 100);
  CHECK(t.size() == 0);
}

TEST_CASE("a scan visits every live tombstone once, in chunks, resuming after sweeps") {
  TombstoneExpiry expiry(1000);
  Tombstones t(expiry, 100);
  for (std::uint64_t i = 0; i < 10; ++i) {
    t.add("k" + std::to_string(i), i + 1, /*now_ms=*/i);
  }
  t.erase("k3");
  t.add("k5", 50, 20);  // replaced: seen once, with its new version
  std::vector<std::string> seen;
  std::uint64_t k5_version = 0;
  auto visit = [&](std::string_view key, std::uint64_t version) {
    seen.emplace_back(key);
    if (key == "k5") {
      k5_version = version;
    }
  };
  std::uint64_t cursor = t.scan(0, 4, 20, visit);
  CHECK(cursor != 0);
  t.sweep(1000, 1);  // "k0" expires between chunks: the cursor still holds
  while (cursor != 0) {
    cursor = t.scan(cursor, 4, 1000, visit);
  }
  CHECK(seen.size() == 9);  // k0..k9 but k3; k0 seen before it expired
  CHECK(k5_version == 50);
  CHECK(std::count(seen.begin(), seen.end(), "k5") == 1);
  CHECK(std::count(seen.begin(), seen.end(), "k3") == 0);
}

}  // namespace
}  // namespace discache::node
