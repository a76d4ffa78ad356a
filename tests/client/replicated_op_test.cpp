// The replica policy of one operation, without any network: which node is
// asked next, when a read is repaired, when W acks complete a write.
#include <doctest/doctest.h>

#include "replicated_op.h"

namespace discache::detail {
namespace {

Member node(const char* name) { return Member{name, std::string(name) + ":1", MemberState::alive, 1}; }

struct Outcome {
  bool done = false;
  OpResult result = std::unexpected(Error{});
};

KeyOp make_op(OpKind kind, Outcome& out, std::string value = {}) {
  return KeyOp(kind, "k", std::move(value), PutOptions{}, [&out](OpResult r) {
    CHECK_FALSE(out.done);  // completes exactly once
    out.done = true;
    out.result = std::move(r);
  });
}

Reply ok(std::string value, std::uint64_t version) {
  Reply r;
  r.kind = Reply::Kind::ok;
  r.value = std::move(value);
  r.version = version;
  return r;
}
Reply miss(std::uint64_t tombstone = 0) {
  Reply r;
  r.kind = Reply::Kind::not_found;
  r.version = tombstone;
  return r;
}
Reply fail(Errc code) {
  Reply r;
  r.kind = Reply::Kind::failed;
  r.error = Error{code, "x"};
  return r;
}

TEST_CASE("a read asks the first owner only while it answers") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b")}, {}, {});
  auto sends = op.start();
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].target.name == "a");
  CHECK(op.on_reply(node("a"), ok("v", 7)).empty());
  REQUIRE(out.done);
  REQUIRE(out.result.has_value());
  CHECK(out.result->value == "v");
  CHECK(out.result->version == 7);
}

TEST_CASE("a read falls back on failure, then on a miss, and repairs the replica that missed") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b"), node("c")}, {}, {});
  op.start();
  auto next = op.on_reply(node("a"), fail(Errc::unavailable));
  REQUIRE(next.size() == 1);
  CHECK(next[0].target.name == "b");
  next = op.on_reply(node("b"), miss());
  REQUIRE(next.size() == 1);
  CHECK(next[0].target.name == "c");
  auto repairs = op.on_reply(node("c"), ok("v", 9));
  REQUIRE(out.result.has_value());
  CHECK(out.result->value == "v");
  // b missed and is a current owner: repaired with the original version; a
  // failed (maybe dead) is not.
  REQUIRE(repairs.size() == 1);
  CHECK(repairs[0].target.name == "b");
  CHECK(repairs[0].repair);
  CHECK(repairs[0].kind == OpKind::put);
  CHECK(repairs[0].repair_value == "v");
  CHECK(repairs[0].version == 9);
}

TEST_CASE("a value older than a tombstone another replica holds is a miss, never repaired back") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b")}, {}, {});
  op.start();
  // a says deleted at version 100: nothing older may come back.
  auto next = op.on_reply(node("a"), miss(100));
  REQUIRE(next.size() == 1);
  CHECK(op.on_reply(node("b"), ok("old", 60)).empty());  // no repair of the old value
  REQUIRE(out.done);
  CHECK(out.result.error().is(Errc::not_found));
}

TEST_CASE("a value newer than a tombstone (a write the replica missed) is found and repaired") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b")}, {}, {});
  op.start();
  // a holds a tombstone just below the write it missed (a client's hint).
  auto next = op.on_reply(node("a"), miss(99));
  REQUIRE(next.size() == 1);
  CHECK(next[0].target.name == "b");
  auto repairs = op.on_reply(node("b"), ok("new", 100));
  REQUIRE(out.result.has_value());
  CHECK(out.result->value == "new");
  REQUIRE(repairs.size() == 1);
  CHECK(repairs[0].target.name == "a");
  CHECK(repairs[0].version == 100);
}

TEST_CASE("without fallback on miss, a miss skips the other replicas but asks previous owners") {
  Outcome out;
  ReplicaPolicy policy;
  policy.read_fallback_on_miss = false;
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b")}, {node("old")}, policy);
  op.start();
  auto next = op.on_reply(node("a"), miss());
  REQUIRE(next.size() == 1);
  CHECK(next[0].target.name == "old");
  auto repairs = op.on_reply(node("old"), ok("v", 3));
  REQUIRE(out.result.has_value());
  // The transition copy: the current owner that missed gets the value.
  REQUIRE(repairs.size() == 1);
  CHECK(repairs[0].target.name == "a");
}

TEST_CASE("a read that every replica failed reports the first error; all misses are not_found") {
  Outcome failed_out;
  ReplicatedOp failed_op(make_op(OpKind::get, failed_out), 0, {node("a"), node("b")}, {}, {});
  failed_op.start();
  failed_op.on_reply(node("a"), fail(Errc::timeout));
  failed_op.on_reply(node("b"), fail(Errc::unavailable));
  REQUIRE(failed_out.done);
  CHECK(failed_out.result.error().is(Errc::timeout));

  Outcome miss_out;
  ReplicatedOp miss_op(make_op(OpKind::get, miss_out), 0, {node("a"), node("b")}, {}, {});
  miss_op.start();
  miss_op.on_reply(node("a"), fail(Errc::timeout));
  miss_op.on_reply(node("b"), miss());
  CHECK(miss_out.result.error().is(Errc::not_found));
}

// Regression: with every owner marked down, a read once completed as a miss.
TEST_CASE("a read with no live owner is unavailable, never not_found") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::get, out), 0, {}, {}, {});
  CHECK(op.start().empty());
  REQUIRE(out.done);
  CHECK(out.result.error().is(Errc::unavailable));
}

TEST_CASE("a final error (value too large) stops at once") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b")}, {}, {});
  op.start();
  CHECK(op.on_reply(node("a"), fail(Errc::too_large)).empty());
  CHECK(out.result.error().is(Errc::too_large));
}

TEST_CASE("a write goes to every owner with one version and completes after W acks") {
  Outcome out;
  ReplicaPolicy policy;
  policy.write_acks = 2;
  ReplicatedOp op(make_op(OpKind::put, out, "v"), 42, {node("a"), node("b"), node("c")}, {},
                  policy);
  auto sends = op.start();
  REQUIRE(sends.size() == 3);
  for (const auto& s : sends) {
    CHECK(s.version == 42);
    CHECK_FALSE(s.repair);
  }
  op.on_reply(node("a"), ok("", 42));
  CHECK_FALSE(out.done);
  Reply stale;
  stale.kind = Reply::Kind::stale;  // a newer write is there: counts as done
  op.on_reply(node("b"), stale);
  REQUIRE(out.done);
  CHECK(out.result.has_value());
  op.on_reply(node("c"), fail(Errc::unavailable));  // after completion: ignored
}

TEST_CASE("a write fails once too few owners can still ack") {
  Outcome out;
  ReplicaPolicy policy;
  policy.write_acks = 2;
  ReplicatedOp op(make_op(OpKind::put, out, "v"), 1, {node("a"), node("b")}, {}, policy);
  op.start();
  op.on_reply(node("a"), fail(Errc::unavailable));
  REQUIRE(out.done);
  CHECK(out.result.error().is(Errc::unavailable));
}

TEST_CASE("W is clamped to the live owners; no owner at all is unavailable") {
  Outcome out;
  ReplicaPolicy policy;
  policy.write_acks = 3;
  ReplicatedOp op(make_op(OpKind::del, out), 5, {node("a")}, {}, policy);
  REQUIRE(op.start().size() == 1);
  op.on_reply(node("a"), miss());  // deleting an absent key is fine
  REQUIRE(out.done);
  CHECK(out.result.has_value());

  Outcome none;
  ReplicatedOp nobody(make_op(OpKind::put, none, "v"), 5, {}, {}, {});
  CHECK(nobody.start().empty());
  REQUIRE(none.done);
  CHECK(none.result.error().is(Errc::unavailable));
}

}  // namespace
}  // namespace discache::detail
