// The tombstones a client owes a replica it skipped: merging, bounds, and
// what happens to hints whose send was answered or lost.
#include "hint_set.h"

#include <doctest/doctest.h>

namespace discache::detail {
namespace {

TEST_CASE("per key only the newest hint is kept and sent once") {
  HintSet hints(100);
  hints.add("a", 5);
  hints.add("a", 3);  // older: already covered
  hints.add("b", 1);
  auto sent = hints.take(10, 1 << 20);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].key == "a");
  CHECK(sent[0].version == 5);
  CHECK_FALSE(hints.has_pending());
  CHECK(hints.take(10, 1 << 20).empty());  // in flight: not sent twice
  hints.acknowledged(sent);
  CHECK(hints.empty());
}

TEST_CASE("a lost send makes its hints pending again") {
  HintSet hints(100);
  hints.add("a", 5);
  auto sent = hints.take(10, 1 << 20);
  hints.lost(sent);
  CHECK(hints.has_pending());
  auto again = hints.take(10, 1 << 20);
  REQUIRE(again.size() == 1);
  CHECK(again[0].version == 5);
}

TEST_CASE("a newer hint while the older one is in flight is sent again and survives its ack") {
  HintSet hints(100);
  hints.add("a", 5);
  auto first = hints.take(10, 1 << 20);
  hints.add("a", 9);
  CHECK(hints.has_pending());
  hints.acknowledged(first);  // acks version 5 only
  REQUIRE(hints.size() == 1);
  auto second = hints.take(10, 1 << 20);
  REQUIRE(second.size() == 1);
  CHECK(second[0].version == 9);
  hints.lost(first);  // a late loss of the old send changes nothing
  CHECK_FALSE(hints.has_pending());
}

TEST_CASE("take respects the op and byte caps") {
  HintSet hints(100);
  for (int i = 0; i < 10; ++i) {
    hints.add(std::string(100, static_cast<char>('a' + i)), 1);
  }
  CHECK(hints.take(3, 1 << 20).size() == 3);
  CHECK(hints.take(100, 250).size() == 2);  // 100-byte keys, 250 bytes
  CHECK(hints.take(100, 1).size() == 1);    // always at least one
}

TEST_CASE("past the bound new keys are dropped and counted, known keys still advance") {
  HintSet hints(2);
  hints.add("a", 1);
  hints.add("b", 1);
  hints.add("c", 1);
  CHECK(hints.size() == 2);
  CHECK(hints.dropped() == 1);
  hints.add("a", 7);
  auto sent = hints.take(10, 1 << 20);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].version == 7);
}

}  // namespace
}  // namespace discache::detail
