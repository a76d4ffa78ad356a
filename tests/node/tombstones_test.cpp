#include <doctest/doctest.h>

#include "tombstones.h"

namespace discache::node {
namespace {

TEST_CASE("a tombstone remembers the newest delete until it expires") {
  Tombstones t(/*ttl_ms=*/1000, /*max_entries=*/10);
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
  Tombstones t(1000, 3);
  t.add("a", 1, 0);
  t.add("b", 1, 10);
  t.erase("a");
  CHECK(t.version("a", 10) == 0);
  t.add("c", 1, 20);
  t.add("d", 1, 30);
  t.add("e", 1, 40);  // over the bound: the oldest go first
  CHECK(t.size() <= 3);
  CHECK(t.version("e", 40) == 1);
  t.sweep(5000, 100);
  CHECK(t.size() == 0);
}

}  // namespace
}  // namespace discache::node
