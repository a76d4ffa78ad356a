// ShardOperations: the version rules a node applies to writes. A write at or
// below what the shard holds is stale and the reply says what it holds; the
// shard's clock learns every version a write brings.
#include "heal_state.h"
#include "node_clock.h"
#include "shard_operations.h"

#include <capnp/message.h>
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace discache::node {
namespace {

// Versions far above any wall clock's, so only observing them puts the
// shard's own stamps above them.
constexpr std::uint64_t kFuture = std::uint64_t{1} << 62;

capnp::Data::Reader bytes(std::string_view text) {
  return {reinterpret_cast<const capnp::byte*>(text.data()), text.size()};
}

struct Shard {
  ShardedStore store{StoreLimits{.max_key_bytes = 64, .max_value_bytes = 64}, 1};
  HealState heal;
  ShardState state{store.shard(0), 7, 100, heal};
  ShardOperations ops{state, store};
};

struct Outcome {
  wire::Status status;
  std::uint64_t version;
};

Outcome put(Shard& shard, std::string_view key, std::string_view value, std::uint64_t version,
            wire::PutMode mode = wire::PutMode::UPSERT, bool handoff = false) {
  capnp::MallocMessageBuilder message;
  auto options = message.initRoot<wire::PutOptions>();
  options.setVersion(version);
  options.setMode(mode);
  options.setHandoff(handoff);
  capnp::MallocMessageBuilder answer;
  auto out = answer.initRoot<wire::OpResult>();
  shard.ops.put(bytes(key), hash_key(key), bytes(value), options.asReader(), out);
  return {out.getStatus(), out.getVersion()};
}

Outcome erase(Shard& shard, std::string_view key, std::uint64_t version) {
  capnp::MallocMessageBuilder answer;
  auto out = answer.initRoot<wire::OpResult>();
  shard.ops.erase(bytes(key), hash_key(key), version, out);
  return {out.getStatus(), out.getVersion()};
}

TEST_CASE("a put at or below the item's version is stale and learns the item's version") {
  Shard shard;
  REQUIRE(put(shard, "k", "new", 100).status == wire::Status::OK);
  for (const std::uint64_t older : {std::uint64_t{50}, std::uint64_t{100}}) {
    const Outcome stale = put(shard, "k", "old", older);
    CHECK(stale.status == wire::Status::STALE);
    CHECK(stale.version == 100);
  }
  const Outcome newer = put(shard, "k", "newer", 101);
  CHECK(newer.status == wire::Status::OK);
  CHECK(newer.version == 101);
}

TEST_CASE("a put or delete below a tombstone is stale and learns the tombstone's version") {
  Shard shard;
  REQUIRE(put(shard, "k", "v", 100).status == wire::Status::OK);
  REQUIRE(erase(shard, "k", 200).status == wire::Status::OK);
  const Outcome put_stale = put(shard, "k", "v", 150);
  CHECK(put_stale.status == wire::Status::STALE);
  CHECK(put_stale.version == 200);
  const Outcome delete_stale = erase(shard, "k", 199);
  CHECK(delete_stale.status == wire::Status::STALE);
  CHECK(delete_stale.version == 200);
}

TEST_CASE("a delete below the item is stale and learns the item's version") {
  Shard shard;
  REQUIRE(put(shard, "k", "v", 300).status == wire::Status::OK);
  const Outcome stale = erase(shard, "k", 250);
  CHECK(stale.status == wire::Status::STALE);
  CHECK(stale.version == 300);
}

// Regression (issue 14): an add from a client whose clock ran behind a
// delete was stored below the delete's tombstone on the deciding owner, and
// refused by the other owners.
TEST_CASE("an add below a tombstone is stored above it, and the reply says the version") {
  Shard shard;
  REQUIRE(put(shard, "k", "v", 100).status == wire::Status::OK);
  REQUIRE(erase(shard, "k", kFuture).status == wire::Status::OK);
  const Outcome added = put(shard, "k", "added", 150, wire::PutMode::IF_ABSENT);
  REQUIRE(added.status == wire::Status::OK);
  CHECK(added.version > kFuture);
  // Now it is there: a copy at that version is stale, a second add exists.
  CHECK(put(shard, "k", "added", added.version).status == wire::Status::STALE);
  CHECK(put(shard, "k", "again", 0, wire::PutMode::IF_ABSENT).status == wire::Status::EXISTS);
  // Above no tombstone, an add keeps the writer's version.
  const Outcome fresh = put(shard, "other", "v", 160, wire::PutMode::IF_ABSENT);
  CHECK(fresh.status == wire::Status::OK);
  CHECK(fresh.version == 160);
}

TEST_CASE("writes without a version are stamped above every version a write brought") {
  Shard shard;
  // A version from a writer whose clock is far ahead, even one refused.
  REQUIRE(put(shard, "a", "v", kFuture).status == wire::Status::OK);
  REQUIRE(put(shard, "a", "v", kFuture - 1).status == wire::Status::STALE);
  const Outcome stamped = put(shard, "b", "v", 0);
  REQUIRE(stamped.status == wire::Status::OK);
  CHECK(stamped.version > kFuture);
  const Outcome deleted = erase(shard, "a", 0);
  CHECK(deleted.status == wire::Status::OK);
  CHECK(deleted.version > stamped.version);
  // A conditional put without a version gets one from the same clock.
  const Outcome added = put(shard, "c", "v", 0, wire::PutMode::IF_ABSENT);
  REQUIRE(added.status == wire::Status::OK);
  CHECK(added.version > deleted.version);
}

// A get copies its value into the answer only if the answer has room for it
// in the node's in-flight budget (AnswerRoom); otherwise it is deferred, and
// nothing is copied. The room is the answer's until it is destroyed.
wire::Status get(Shard& shard, std::string_view key, AnswerRoom& room, std::uint64_t copies,
                 std::size_t* value_bytes = nullptr) {
  capnp::MallocMessageBuilder answer;
  auto out = answer.initRoot<wire::OpResult>();
  shard.ops.get(bytes(key), hash_key(key), out, &room, copies);
  if (value_bytes != nullptr) {
    *value_bytes = out.getValue().size();
  }
  return out.getStatus();
}

TEST_CASE("a get whose value does not fit in the in-flight budget is deferred, not copied") {
  Shard shard;
  const std::string value(64, 'v');
  REQUIRE(put(shard, "k", value, 0).status == wire::Status::OK);
  auto budget = std::make_shared<InFlightBudget>();
  budget->set_limit(1024, 1);  // 896 bytes for anyone (7/8); "small" is 16 bytes
  const std::uint64_t cost = AnswerRoom::cost(value.size());
  REQUIRE(cost == 64);
  const std::uint64_t fit = InFlightBudget::largest_frame(1024) / cost;
  {
    AnswerRoom room(budget, 0);
    for (std::uint64_t i = 0; i < fit; ++i) {
      std::size_t copied = 0;
      REQUIRE(get(shard, "k", room, 1, &copied) == wire::Status::OK);
      CHECK(copied == value.size());
    }
    // A miss costs nothing and is answered as before.
    CHECK(get(shard, "absent", room, 1) == wire::Status::NOT_FOUND);
    std::size_t copied = 1;
    CHECK(get(shard, "k", room, 1, &copied) == wire::Status::DEFERRED);
    CHECK(copied == 0);
    // Once denied, the answer is full: later gets are not even looked up.
    CHECK(room.full());
    CHECK(get(shard, "absent", room, 1) == wire::Status::DEFERRED);
    CHECK(budget->in_use() == fit * cost);
    room.release_copies();  // none: the answer's own room stays
    CHECK(budget->in_use() == fit * cost);
  }
  CHECK(budget->in_use() == 0);
  {
    // From another loop: counted twice until copied into the answer.
    AnswerRoom room(budget, 0);
    REQUIRE(get(shard, "k", room, 2) == wire::Status::OK);
    CHECK(budget->in_use() == 2 * cost);
    room.release_copies();
    CHECK(budget->in_use() == cost);
  }
  CHECK(budget->in_use() == 0);
}

TEST_CASE("an answer carries up to 8 MiB of values, and always its first one") {
  auto budget = std::make_shared<InFlightBudget>();
  budget->set_limit(64ull << 20, 1);
  AnswerRoom room(budget, 0);
  room.hold_results(1024, 1);  // results count, but not toward the values' cap
  CHECK_FALSE(room.full());
  CHECK(room.take(9ull << 20, 1));  // larger than the cap, but the first
  CHECK(room.full());
  CHECK_FALSE(room.take(8, 1));
  CHECK(room.denied() == 0);  // the cap, not the budget: no room to wait for
  CHECK(budget->in_use() == 1024 * AnswerRoom::kResultBytes + (9ull << 20));
}

// Regression: a copy handed to a node being filled could be older than a
// write a lagging client made to the old owners only (the verifying
// workload read counter-15 = 25 after 26 was acked). The gate holds reads
// after such a copy; a copy refused as not newer, or one that arrives
// outside the filling window, holds nothing.
TEST_CASE("the joiner gate: a handoff copy that applies while filling makes reads miss") {
  Shard shard;
  const std::uint64_t now = node_now_ms();
  REQUIRE(put(shard, "client", "v", 100).status == wire::Status::OK);
  // Outside the window (a node not being filled): no gate.
  REQUIRE(put(shard, "early", "v", 100, wire::PutMode::UPSERT, true).status == wire::Status::OK);
  CHECK(shard.ops.has(bytes("early"), hash_key("early")));

  shard.heal.read_gate.expect_fill_until(now + 60'000, 60'000);
  // Refused as not newer: the owners already shared that write.
  REQUIRE(put(shard, "client", "v", 100, wire::PutMode::UPSERT, true).status ==
          wire::Status::STALE);
  CHECK_FALSE(shard.heal.read_gate.closed_at(node_now_ms()));
  CHECK(shard.ops.has(bytes("client"), hash_key("client")));
  // A plain write gates nothing either.
  REQUIRE(put(shard, "plain", "v", 100).status == wire::Status::OK);
  CHECK_FALSE(shard.heal.read_gate.closed_at(node_now_ms()));

  REQUIRE(put(shard, "copied", "v", 100, wire::PutMode::UPSERT, true).status == wire::Status::OK);
  CHECK(shard.heal.read_gate.closed_at(node_now_ms()));
  CHECK_FALSE(shard.ops.has(bytes("copied"), hash_key("copied")));
  CHECK_FALSE(shard.ops.has(bytes("client"), hash_key("client")));  // every read misses
  CHECK_FALSE(shard.heal.read_gate.closed_at(now + 120'001));        // time-bounded
}

}  // namespace
}  // namespace discache::node
