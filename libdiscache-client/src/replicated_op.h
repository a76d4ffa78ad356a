// What one key operation does across its replicas: pure logic, no I/O.
#pragma once

#include <discache/client.hpp>

#include <memory>
#include <optional>
#include <vector>

#include "key_op.h"
#include "version_clock.h"

namespace discache::detail {

// One node's answer to one operation, before policy turns it into a result.
struct Reply {
  enum class Kind : std::uint8_t { ok, not_found, stale, failed };
  Kind kind = Kind::failed;
  std::string value;           // get: the value
  // ok: the item's; not_found: a tombstone's (or 0); stale: the newest the
  // node holds (item or tombstone), which beat the write
  std::uint64_t version = 0;
  std::uint64_t ttl_ms = 0;    // ok: the time the item has left, 0 = no expiry
  std::optional<Error> error;  // failed: why (unavailable, timeout, too_large, ...)
};

// What to send next: `op` to `target`. Repairs carry their own value and
// version; their replies are ignored.
struct Send {
  Member target;
  OpKind kind;
  bool repair = false;
  std::string repair_value;     // repair puts only
  std::uint64_t version = 0;    // put/delete: the write's version
  std::uint64_t repair_ttl_ms = 0;  // read repairs: the item's remaining TTL
  // A write's copy to a previous owner during a ring transition: never
  // counted toward W, its answer (failure or stale included) is ignored, and
  // it leaves no hint. It keeps that owner's copy current for readers that
  // have not learnt the new ring yet.
  bool previous_owner_copy = false;
};

struct ReplicaPolicy {
  std::size_t write_acks = 1;      // W: acks before a put/delete succeeds
  bool read_fallback_on_miss = true;
};

// The state of one KeyOp across replicas. I/O thread only.
//
// Reads ask the first live owner, then the next on failure or (by policy) on
// a miss, then the previous owners of the key during a ring transition. A
// value found after misses is written back to the owners that missed (read
// repair) with its original version, which a node refuses if it holds
// anything newer, so repair never resurrects a deleted or older value.
// Writes go to every live owner with one version; W acks complete them.
// During a ring transition they also go, with the same version, to the
// key's previous owners (`previous_owner_copy`), which count for nothing.
//
// A plain put or delete that meets a newer version (`stale`) before W acks
// is not acknowledged: it is written again to every owner with a fresh
// version from the client's clock, which has observed the winning version,
// so the new one is above it (at most kMaxWriteRounds rounds). Otherwise a
// client whose clock runs behind would be told "ok" for writes that every
// replica dropped. A stale that arrives after W acks means a later or
// concurrent write won, and changes nothing.
class ReplicatedOp {
 public:
  // Rounds of a plain write, the first included, before it gives up.
  static constexpr int kMaxWriteRounds = 4;

  // `version`: the write's first version (0 for reads); `versions`: the
  // clock it came from, asked again when a write must go above a newer
  // version. `owners`: live owners in replica order; `previous`: owners
  // under the previous ring that are not in `owners` (empty outside a
  // transition).
  ReplicatedOp(KeyOp op, std::uint64_t version, std::vector<Member> owners,
               std::vector<Member> previous, ReplicaPolicy policy, VersionClock& versions);

  // The first sends; completes the op at once when there is nobody to ask.
  std::vector<Send> start();
  // Handles `reply` to `sent`, a non-repair send this op made; returns
  // follow-ups (the next replica to ask, read repairs, a write's next round).
  // A reply to a copy sent to a previous owner changes nothing.
  std::vector<Send> on_reply(const Send& sent, Reply reply);

  const KeyOp& op() const { return op_; }
  bool completed() const { return completed_; }
  // A write's current version: it changes when the write goes again above a
  // newer version.
  std::uint64_t version() const { return version_; }

 private:
  std::vector<Send> next_read();
  // Completes the op on an error no replica would answer differently
  // (returns true); otherwise remembers the first error for later.
  bool note_failure(Reply reply);
  std::vector<Send> next_decider();
  std::vector<Send> on_conditional_reply(Reply reply);
  std::vector<Send> finish_read_with_value(std::string value, std::uint64_t version,
                                           std::uint64_t ttl_ms);
  std::vector<Send> send_write_round();
  // A write's copies, at version_, to the previous owners.
  std::vector<Send> previous_owner_copies() const;
  std::vector<Send> on_stale_write(const Member& from, std::uint64_t held);
  void complete(OpResult result);

  KeyOp op_;
  std::uint64_t version_;
  std::vector<Member> owners_;
  std::vector<Member> previous_;
  ReplicaPolicy policy_;
  VersionClock& versions_;
  bool completed_ = false;
  // Reads: where we are in owners_ then previous_, who missed, the newest
  // tombstone seen, the first error.
  std::size_t next_ = 0;
  std::vector<Member> missed_;
  std::uint64_t tombstone_ = 0;
  std::optional<Error> first_error_;
  // Writes. A conditional put (if_absent, compare_and_set) is decided by one
  // owner, then copied to the others with the version it got.
  bool conditional_ = false;
  std::size_t acks_ = 0;
  std::size_t failures_ = 0;
  std::size_t needed_ = 1;
  int rounds_ = 0;  // plain writes: rounds sent, the first included
};

}  // namespace discache::detail
