// The key operations of the wire protocol, applied to one shard.
#pragma once

#include <capnp/list.h>

#include <cstdint>

#include "discache.capnp.h"
#include "in_flight_budget.h"
#include "key_hash.h"
#include "shard_state.h"
#include "sharded_store.h"

namespace discache::node {

// The shard's owning thread only. Shared by the single-key calls, batch()
// and ops handed over from another loop, so every path applies the same
// version and tombstone rules. `hash` is hash_key(op.key), computed once by
// whoever routed the op.
class ShardOperations {
 public:
  // `store` only explains size limits in words; items live in `shard`.
  ShardOperations(ShardState& shard, const ShardedStore& store) : shard_(shard), store_(store) {}

  // Applies one op and writes its outcome; never throws for bad input (an
  // unknown or malformed op is Status::invalid). A get's value goes into
  // `out` only if `room` (the call's answer) has room for it, copied
  // `copies` times (see AnswerRoom::take); else the get is Status::deferred.
  // No room (nullptr): the node's own reads, bounded by their callers.
  void apply(wire::Op::Reader op, KeyHash hash, wire::OpResult::Builder out,
             AnswerRoom* room = nullptr, std::uint64_t copies = 1);

  // The ops one by one, for the single-key calls (same rules as apply()).
  void get(capnp::Data::Reader key, KeyHash hash, wire::OpResult::Builder out,
           AnswerRoom* room = nullptr, std::uint64_t copies = 1);
  void put(capnp::Data::Reader key, KeyHash hash, capnp::Data::Reader value,
           wire::PutOptions::Reader options, wire::OpResult::Builder out);
  // `version` 0: the shard stamps the delete with its own clock.
  void erase(capnp::Data::Reader key, KeyHash hash, std::uint64_t version,
             wire::OpResult::Builder out);
  bool has(capnp::Data::Reader key, KeyHash hash);

 private:
  // The newest version this shard holds for `key`, item or tombstone (0:
  // none): a versioned write at or below it is stale.
  std::uint64_t held_version(capnp::Data::Reader key, KeyHash hash, std::uint64_t now);
  // The item a read (get, has) may return: none while the heal gate is
  // closed, the one rule for every read path.
  const ItemView* read_through_gate(capnp::Data::Reader key, KeyHash hash, std::uint64_t now);

  ShardState& shard_;
  const ShardedStore& store_;
};

}  // namespace discache::node
