// The replica policy of one operation, without any network: which node is
// asked next, when a read is repaired, when W acks complete a write.
#include <doctest/doctest.h>

#include "replicated_op.h"

#include <algorithm>
#include <string>

namespace discache::detail {
namespace {

Member node(const char* name) { return Member{name, std::string(name) + ":1", MemberState::alive, 1}; }

// The send an answer is to: `name`, carrying `version` (a write's round).
Send to(const char* name, std::uint64_t version = 0) {
  return Send{node(name), OpKind::get, false, {}, version};
}

// The copy a write sent to `name`, a previous owner during a ring transition.
Send to_previous(const char* name, std::uint64_t version) {
  Send send = to(name, version);
  send.previous_owner_copy = true;
  return send;
}

// The client's clock. Versions these tests start writes with are small;
// the ones that beat a write are far in the future, so a write that goes
// again is above them only because the op had its clock observe them.
VersionClock clock(1);
constexpr std::uint64_t kFuture = std::uint64_t{1} << 62;

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
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b")}, {}, {}, clock);
  auto sends = op.start();
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].target.name == "a");
  CHECK(op.on_reply(to("a"), ok("v", 7)).empty());
  REQUIRE(out.done);
  REQUIRE(out.result.has_value());
  CHECK(out.result->value == "v");
  CHECK(out.result->version == 7);
}

TEST_CASE("a read falls back on failure, then on a miss, and repairs the replica that missed") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b"), node("c")}, {}, {}, clock);
  op.start();
  auto next = op.on_reply(to("a"), fail(Errc::unavailable));
  REQUIRE(next.size() == 1);
  CHECK(next[0].target.name == "b");
  next = op.on_reply(to("b"), miss());
  REQUIRE(next.size() == 1);
  CHECK(next[0].target.name == "c");
  auto repairs = op.on_reply(to("c"), ok("v", 9));
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
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b")}, {}, {}, clock);
  op.start();
  // a says deleted at version 100: nothing older may come back.
  auto next = op.on_reply(to("a"), miss(100));
  REQUIRE(next.size() == 1);
  CHECK(op.on_reply(to("b"), ok("old", 60)).empty());  // no repair of the old value
  REQUIRE(out.done);
  CHECK(out.result.error().is(Errc::not_found));
}

TEST_CASE("a value newer than a tombstone (a write the replica missed) is found and repaired") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b")}, {}, {}, clock);
  op.start();
  // a holds a tombstone just below the write it missed (a client's hint).
  auto next = op.on_reply(to("a"), miss(99));
  REQUIRE(next.size() == 1);
  CHECK(next[0].target.name == "b");
  auto repairs = op.on_reply(to("b"), ok("new", 100));
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
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b")}, {node("old")}, policy,
                  clock);
  op.start();
  auto next = op.on_reply(to("a"), miss());
  REQUIRE(next.size() == 1);
  CHECK(next[0].target.name == "old");
  auto repairs = op.on_reply(to("old"), ok("v", 3));
  REQUIRE(out.result.has_value());
  // The transition copy: the current owner that missed gets the value.
  REQUIRE(repairs.size() == 1);
  CHECK(repairs[0].target.name == "a");
}

TEST_CASE("a read that every replica failed reports the first error; all misses are not_found") {
  Outcome failed_out;
  ReplicatedOp failed_op(make_op(OpKind::get, failed_out), 0, {node("a"), node("b")}, {}, {},
                         clock);
  failed_op.start();
  failed_op.on_reply(to("a"), fail(Errc::timeout));
  failed_op.on_reply(to("b"), fail(Errc::unavailable));
  REQUIRE(failed_out.done);
  CHECK(failed_out.result.error().is(Errc::timeout));

  Outcome miss_out;
  ReplicatedOp miss_op(make_op(OpKind::get, miss_out), 0, {node("a"), node("b")}, {}, {}, clock);
  miss_op.start();
  miss_op.on_reply(to("a"), fail(Errc::timeout));
  miss_op.on_reply(to("b"), miss());
  CHECK(miss_out.result.error().is(Errc::not_found));
}

// Regression: with every owner marked down, a read once completed as a miss.
TEST_CASE("a read with no live owner is unavailable, never not_found") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::get, out), 0, {}, {}, {}, clock);
  CHECK(op.start().empty());
  REQUIRE(out.done);
  CHECK(out.result.error().is(Errc::unavailable));
}

TEST_CASE("a final error (value too large) stops at once") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::get, out), 0, {node("a"), node("b")}, {}, {}, clock);
  op.start();
  CHECK(op.on_reply(to("a"), fail(Errc::too_large)).empty());
  CHECK(out.result.error().is(Errc::too_large));
}

Reply stale(std::uint64_t held) {
  Reply r;
  r.kind = Reply::Kind::stale;
  r.version = held;
  return r;
}

TEST_CASE("a write goes to every owner with one version and completes after W acks") {
  Outcome out;
  ReplicaPolicy policy;
  policy.write_acks = 2;
  ReplicatedOp op(make_op(OpKind::put, out, "v"), 42, {node("a"), node("b"), node("c")}, {},
                  policy, clock);
  auto sends = op.start();
  REQUIRE(sends.size() == 3);
  for (const auto& s : sends) {
    CHECK(s.version == 42);
    CHECK_FALSE(s.repair);
  }
  op.on_reply(to("a", 42), ok("", 42));
  CHECK_FALSE(out.done);
  op.on_reply(to("b", 42), ok("", 42));
  REQUIRE(out.done);
  REQUIRE(out.result.has_value());
  CHECK(out.result->version == 42);
  // After W acks a stale from the last replica means a later or concurrent
  // write won there: nothing is sent, the result stands.
  CHECK(op.on_reply(to("c", 42), stale(kFuture)).empty());
  CHECK(op.version() == 42);
}

// Regression (issue 14): a client whose clock ran 5 s behind was told "ok"
// for puts every replica dropped as stale.
TEST_CASE("a put that meets a newer version before W acks goes again above it, to every owner") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::put, out, "v"), 42, {node("a"), node("b")}, {}, {}, clock);
  REQUIRE(op.start().size() == 2);
  auto again = op.on_reply(to("a", 42), stale(kFuture));
  CHECK_FALSE(out.done);  // stale is no acknowledgement
  REQUIRE(again.size() == 2);
  CHECK(again[0].target.name == "a");
  CHECK(again[1].target.name == "b");
  const std::uint64_t second = op.version();
  CHECK(second > kFuture);
  for (const auto& s : again) {
    CHECK(s.kind == OpKind::put);
    CHECK_FALSE(s.repair);
    CHECK(s.version == second);
  }
  // b took the first version: that answers the old round, not this one.
  CHECK(op.on_reply(to("b", 42), ok("", 42)).empty());
  CHECK_FALSE(out.done);
  op.on_reply(to("b", second), ok("", second));
  REQUIRE(out.done);
  REQUIRE(out.result.has_value());
  CHECK(out.result->version == second);
  // The clock keeps what it learnt: the client's next write is above too.
  CHECK(clock.next() > second);
}

TEST_CASE("a delete that meets a newer value goes again above it; a miss then acknowledges") {
  Outcome out;
  ReplicaPolicy policy;
  policy.write_acks = 2;
  ReplicatedOp op(make_op(OpKind::del, out), 7, {node("a"), node("b")}, {}, policy, clock);
  op.start();
  op.on_reply(to("a", 7), ok("", 7));  // a had nothing newer: one ack of two
  auto again = op.on_reply(to("b", 7), stale(kFuture + 5));
  REQUIRE(again.size() == 2);  // a too: its ack was for the old version
  const std::uint64_t second = op.version();
  CHECK(second > kFuture + 5);
  CHECK(again[0].kind == OpKind::del);
  op.on_reply(to("a", second), miss());
  CHECK_FALSE(out.done);  // acks of the old round do not count
  op.on_reply(to("b", second), ok("", second));
  REQUIRE(out.done);
  CHECK(out.result.has_value());
}

TEST_CASE("failures are counted per round") {
  Outcome out;
  ReplicaPolicy policy;
  policy.write_acks = 2;
  ReplicatedOp op(make_op(OpKind::put, out, "v"), 3, {node("a"), node("b"), node("c")}, {},
                  policy, clock);
  op.start();
  op.on_reply(to("a", 3), fail(Errc::timeout));
  REQUIRE(op.on_reply(to("b", 3), stale(kFuture)).size() == 3);
  const std::uint64_t second = op.version();
  // The old round's failure is not held against the new one: one failure
  // of three still leaves two to ack.
  op.on_reply(to("c", 3), fail(Errc::unavailable));  // old round: ignored
  op.on_reply(to("a", second), fail(Errc::timeout));
  CHECK_FALSE(out.done);
  op.on_reply(to("b", second), ok("", second));
  op.on_reply(to("c", second), ok("", second));
  REQUIRE(out.done);
  CHECK(out.result.has_value());
}

TEST_CASE("a write that keeps meeting newer versions gives up, naming the owner") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::put, out, "v"), 1, {node("a"), node("b")}, {}, {}, clock);
  op.start();
  std::uint64_t held = kFuture + 100;
  for (int round = 1; round < ReplicatedOp::kMaxWriteRounds; ++round) {
    held = std::max(held, op.version()) + 100;  // another writer wins again
    REQUIRE(op.on_reply(to("b", op.version()), stale(held)).size() == 2);
    CHECK_FALSE(out.done);
  }
  CHECK(op.on_reply(to("b", op.version()), stale(held + 100)).empty());
  REQUIRE(out.done);
  REQUIRE_FALSE(out.result.has_value());
  CHECK(out.result.error().is(Errc::version_mismatch));
  const std::string& why = out.result.error().message;
  CHECK(why.find("'k'") != std::string::npos);
  CHECK(why.find("b (b:1)") != std::string::npos);
  CHECK(why.find(std::to_string(held + 100)) != std::string::npos);
}

TEST_CASE("a conditional put keeps its meaning: stale from the decider is a version mismatch") {
  Outcome out;
  PutOptions options;
  options.mode = PutMode::if_absent;
  KeyOp put(OpKind::put, "k", "v", options, [&out](OpResult r) {
    out.done = true;
    out.result = std::move(r);
  });
  ReplicatedOp op(std::move(put), 9, {node("a"), node("b")}, {}, {}, clock);
  auto sends = op.start();
  REQUIRE(sends.size() == 1);  // one owner decides
  CHECK(op.on_reply(to("a", 9), stale(kFuture)).empty());
  REQUIRE(out.done);
  CHECK(out.result.error().is(Errc::version_mismatch));
  CHECK(op.version() == 9);  // never written again with another version
}

TEST_CASE("a conditional put's copies carry the version the decider stored") {
  Outcome out;
  PutOptions options;
  options.mode = PutMode::if_absent;
  KeyOp put(OpKind::put, "k", "v", options, [&out](OpResult r) {
    out.done = true;
    out.result = std::move(r);
  });
  ReplicatedOp op(std::move(put), 9, {node("a"), node("b")}, {}, {}, clock);
  op.start();
  // The decider stamped the add above a delete it holds.
  auto copies = op.on_reply(to("a", 9), ok("", kFuture));
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].target.name == "b");
  CHECK(copies[0].repair);
  CHECK(copies[0].version == kFuture);
  REQUIRE(out.done);
  REQUIRE(out.result.has_value());
  CHECK(out.result->version == kFuture);
}

// Regression (verifying workload, issue 14): during a ring transition a
// reader that had not learnt the new ring read a previous owner whose copy
// no longer got the writes, and saw a value older than an acknowledged one.
TEST_CASE("during a transition a write also goes to previous owners; only owners count for W") {
  Outcome out;
  ReplicaPolicy policy;
  policy.write_acks = 2;
  ReplicatedOp op(make_op(OpKind::put, out, "v"), 42, {node("a"), node("b")}, {node("old")},
                  policy, clock);
  auto sends = op.start();
  REQUIRE(sends.size() == 3);
  CHECK(sends[0].target.name == "a");
  CHECK(sends[1].target.name == "b");
  CHECK_FALSE(sends[0].previous_owner_copy);
  CHECK_FALSE(sends[1].previous_owner_copy);
  // The same put, with the same version: no repair, nothing of its own.
  CHECK(sends[2].target.name == "old");
  CHECK(sends[2].previous_owner_copy);
  CHECK(sends[2].kind == OpKind::put);
  CHECK_FALSE(sends[2].repair);
  CHECK(sends[2].version == 42);
  CHECK(op.on_reply(to_previous("old", 42), ok("", 42)).empty());
  op.on_reply(to("a", 42), ok("", 42));
  CHECK_FALSE(out.done);  // the previous owner's ack was not one of the W
  op.on_reply(to("b", 42), ok("", 42));
  REQUIRE(out.done);
  CHECK(out.result.has_value());
}

TEST_CASE("a previous owner's failure or stale is no error and never sends the write again") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::del, out), 8, {node("a"), node("b")}, {node("old")}, {}, clock);
  auto sends = op.start();
  REQUIRE(sends.size() == 3);
  CHECK(sends[2].kind == OpKind::del);
  CHECK(sends[2].previous_owner_copy);
  CHECK(op.on_reply(to_previous("old", 8), stale(kFuture)).empty());
  CHECK(op.on_reply(to_previous("old", 8), fail(Errc::unavailable)).empty());
  CHECK(op.version() == 8);
  // W = 1 of two owners: one owner's failure leaves the other to ack; had
  // the previous owner's failure counted, this one would end the write.
  CHECK(op.on_reply(to("a", 8), fail(Errc::timeout)).empty());
  CHECK_FALSE(out.done);
  op.on_reply(to("b", 8), miss());
  REQUIRE(out.done);
  CHECK(out.result.has_value());
}

TEST_CASE("a write that goes again above a newer version copies the new one to previous owners") {
  Outcome out;
  ReplicatedOp op(make_op(OpKind::put, out, "v"), 42, {node("a")}, {node("old")}, {}, clock);
  REQUIRE(op.start().size() == 2);
  auto again = op.on_reply(to("a", 42), stale(kFuture));
  const std::uint64_t second = op.version();
  CHECK(second > kFuture);
  REQUIRE(again.size() == 2);
  CHECK(again[0].target.name == "a");
  CHECK_FALSE(again[0].previous_owner_copy);
  CHECK(again[1].target.name == "old");
  CHECK(again[1].previous_owner_copy);
  CHECK(again[1].version == second);
  op.on_reply(to("a", second), ok("", second));
  REQUIRE(out.done);
  CHECK(out.result->version == second);
}

TEST_CASE("a conditional put is decided by an owner and copied to previous owners too") {
  Outcome out;
  PutOptions options;
  options.mode = PutMode::if_absent;
  KeyOp put(OpKind::put, "k", "v", options, [&out](OpResult r) {
    out.done = true;
    out.result = std::move(r);
  });
  ReplicatedOp op(std::move(put), 9, {node("a"), node("b")}, {node("old")}, {}, clock);
  auto sends = op.start();
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].target.name == "a");  // never a previous owner
  auto copies = op.on_reply(to("a", 9), ok("", kFuture));
  REQUIRE(copies.size() == 2);
  CHECK(copies[0].target.name == "b");
  CHECK_FALSE(copies[0].previous_owner_copy);
  CHECK(copies[1].target.name == "old");
  CHECK(copies[1].previous_owner_copy);
  CHECK(copies[1].repair);
  CHECK(copies[1].repair_value == "v");
  CHECK(copies[1].version == kFuture);
  REQUIRE(out.done);
  CHECK(out.result->version == kFuture);
}

TEST_CASE("a conditional put whose owners all fail is not decided by a previous owner") {
  Outcome out;
  PutOptions options;
  options.mode = PutMode::if_absent;
  KeyOp put(OpKind::put, "k", "v", options, [&out](OpResult r) {
    out.done = true;
    out.result = std::move(r);
  });
  ReplicatedOp op(std::move(put), 9, {node("a")}, {node("old")}, {}, clock);
  op.start();
  CHECK(op.on_reply(to("a", 9), fail(Errc::unavailable)).empty());
  REQUIRE(out.done);
  CHECK(out.result.error().is(Errc::unavailable));
}

TEST_CASE("a write fails once too few owners can still ack") {
  Outcome out;
  ReplicaPolicy policy;
  policy.write_acks = 2;
  ReplicatedOp op(make_op(OpKind::put, out, "v"), 1, {node("a"), node("b")}, {}, policy, clock);
  op.start();
  op.on_reply(to("a", 1), fail(Errc::unavailable));
  REQUIRE(out.done);
  CHECK(out.result.error().is(Errc::unavailable));
}

TEST_CASE("W is clamped to the live owners; no owner at all is unavailable") {
  Outcome out;
  ReplicaPolicy policy;
  policy.write_acks = 3;
  ReplicatedOp op(make_op(OpKind::del, out), 5, {node("a")}, {}, policy, clock);
  REQUIRE(op.start().size() == 1);
  op.on_reply(to("a", 5), miss());  // deleting an absent key is fine
  REQUIRE(out.done);
  CHECK(out.result.has_value());

  Outcome none;
  ReplicatedOp nobody(make_op(OpKind::put, none, "v"), 5, {}, {}, {}, clock);
  CHECK(nobody.start().empty());
  REQUIRE(none.done);
  CHECK(none.result.error().is(Errc::unavailable));
}

}  // namespace
}  // namespace discache::detail
