#include "shard_operations.h"

#include <algorithm>

#include "node_clock.h"
#include "wire_text.h"

namespace discache::node {
namespace {

wire::Status to_wire(StoreStatus status) {
  switch (status) {
    case StoreStatus::ok:
      return wire::Status::OK;
    case StoreStatus::not_found:
      return wire::Status::NOT_FOUND;
    case StoreStatus::exists:
      return wire::Status::EXISTS;
    case StoreStatus::version_mismatch:
      return wire::Status::VERSION_MISMATCH;
    case StoreStatus::too_large:
      return wire::Status::TOO_LARGE;
    case StoreStatus::invalid:
      return wire::Status::INVALID;
    case StoreStatus::out_of_memory:
      return wire::Status::OUT_OF_MEMORY;
  }
  return wire::Status::INVALID;
}

PutMode to_store(wire::PutMode mode) {
  switch (mode) {
    case wire::PutMode::UPSERT:
      return PutMode::upsert;
    case wire::PutMode::IF_ABSENT:
      return PutMode::if_absent;
    case wire::PutMode::COMPARE_AND_SET:
      return PutMode::compare_and_set;
  }
  return PutMode::upsert;
}

}  // namespace

void ShardOperations::get(capnp::Data::Reader key, KeyHash hash, wire::OpResult::Builder out,
                          AnswerRoom* room, std::uint64_t copies) {
  ++shard_.counters.gets;
  if (room != nullptr && room->full()) {
    // Not even looked up: a flood of gets costs the node as little as can be.
    out.setStatus(wire::Status::DEFERRED);
    return;
  }
  const std::uint64_t now = node_now_ms();
  const ItemView* item = read_through_gate(key, hash, now);
  if (item == nullptr) {
    ++shard_.counters.misses;
    out.setStatus(wire::Status::NOT_FOUND);
    // A tombstone's version tells the client a replica's copy is older.
    out.setVersion(shard_.tombstones.version(view_of(key), now));
    return;
  }
  if (room != nullptr && !room->take(item->value.size(), copies)) {
    // Not copied: the caller asks again (docs/design.md, "The in-flight budget").
    out.setStatus(wire::Status::DEFERRED);
    return;
  }
  ++shard_.counters.hits;
  out.setStatus(wire::Status::OK);
  out.setValue(data_of(item->value));
  out.setVersion(item->version);
  out.setTtlMs(item->ttl_ms);
}

void ShardOperations::put(capnp::Data::Reader key, KeyHash hash, capnp::Data::Reader value,
                          wire::PutOptions::Reader options, wire::OpResult::Builder out) {
  ++shard_.counters.puts;
  const std::uint64_t now = node_now_ms();
  std::uint64_t version = options.getVersion();
  shard_.versions.observe(version);
  if (version != 0 && options.getMode() == wire::PutMode::UPSERT) {
    if (const std::uint64_t held = held_version(key, hash, now); held >= version) {
      // The writer learns what beat it, so it can write again above it.
      out.setStatus(wire::Status::STALE);
      out.setVersion(held);
      return;
    }
  } else if (version != 0 && options.getMode() == wire::PutMode::IF_ABSENT) {
    // An add is decided here, and the key may have been deleted at a version
    // above the writer's clock: stamp the add above the delete (the writer
    // copies the version of this reply to the other owners), or the owners
    // holding that tombstone would refuse the copies and reads would skip it.
    const std::uint64_t deleted = shard_.tombstones.version(view_of(key), now);
    if (deleted >= version) {
      shard_.versions.observe(deleted);
      version = shard_.versions.next();
    }
  }
  if (version == 0) {
    version = shard_.versions.next();
  }
  PutRequest request{view_of(key),
                     view_of(value),
                     options.getTtlMs(),
                     to_store(options.getMode()),
                     options.getExpectedVersion(),
                     version};
  auto result = shard_.items.put(request, hash, now);
  if (result.status == StoreStatus::ok) {
    shard_.tombstones.erase(view_of(key));
    if (options.getHandoff()) {
      // A handoff copy this node lacked: it may be older than a write a
      // client that had not learnt the ring made to the old owners only
      // (see ReadGate). Noted in this job, before any read of this shard
      // can see the copy. A copy refused as not newer gates nothing: the
      // owners already shared that write.
      shard_.heal.read_gate.note_fill(now);
    }
  }
  out.setStatus(to_wire(result.status));
  out.setVersion(result.version);
  if (result.status == StoreStatus::too_large) {
    out.setMessage(store_.explain_too_large(key.size(), value.size()).c_str());
  } else if (result.status == StoreStatus::out_of_memory) {
    // The key's shard is what filled up: its part of --memory, not all of it.
    out.setMessage(kj::str(
        "no room for ", key.size() + value.size(), " bytes even after evicting; its shard has ",
        shard_.items.memory_limit(), " of the node's ", store_.memory_limit(), " bytes"));
  } else if (result.status == StoreStatus::invalid) {
    out.setMessage("empty key");
  }
}

void ShardOperations::erase(capnp::Data::Reader key, KeyHash hash, std::uint64_t version,
                            wire::OpResult::Builder out) {
  ++shard_.counters.deletes;
  const std::uint64_t now = node_now_ms();
  shard_.versions.observe(version);
  if (version != 0) {
    if (const std::uint64_t held = held_version(key, hash, now); held >= version) {
      out.setStatus(wire::Status::STALE);  // a newer value (or delete) is here
      out.setVersion(held);
      return;
    }
  }
  if (version == 0) {
    version = shard_.versions.next();
  }
  shard_.tombstones.add(view_of(key), version, now);
  out.setStatus(to_wire(shard_.items.erase(view_of(key), hash, now)));
  out.setVersion(version);
}

std::uint64_t ShardOperations::held_version(capnp::Data::Reader key, KeyHash hash,
                                            std::uint64_t now) {
  const std::uint64_t tombstone = shard_.tombstones.version(view_of(key), now);
  const ItemView* item = shard_.items.find(view_of(key), hash, now);
  return item == nullptr ? tombstone : std::max(tombstone, item->version);
}

bool ShardOperations::has(capnp::Data::Reader key, KeyHash hash) {
  return read_through_gate(key, hash, node_now_ms()) != nullptr;
}

const ItemView* ShardOperations::read_through_gate(capnp::Data::Reader key, KeyHash hash,
                                                   std::uint64_t now) {
  if (shard_.heal.read_gate.closed_at(now)) {
    // A heal's handoffs (or a joiner's catch-ups) have not all landed:
    // what this shard holds may be older than a write or delete made
    // across the cut, or to the old owners by a lagging writer. A miss is
    // safe.
    return nullptr;
  }
  return shard_.items.find(view_of(key), hash, now);
}

void ShardOperations::apply(wire::Op::Reader op, KeyHash hash, wire::OpResult::Builder out,
                            AnswerRoom* room, std::uint64_t copies) {
  switch (op.which()) {
    case wire::Op::GET:
      get(op.getKey(), hash, out, room, copies);
      return;
    case wire::Op::PUT: {
      auto put_op = op.getPut();
      put(op.getKey(), hash, put_op.getValue(), put_op.getOptions(), out);
      return;
    }
    case wire::Op::DELETE:
      erase(op.getKey(), hash, op.getVersion(), out);
      return;
    case wire::Op::HAS:
      out.setStatus(has(op.getKey(), hash) ? wire::Status::OK : wire::Status::NOT_FOUND);
      return;
  }
  out.setStatus(wire::Status::INVALID);
  out.setMessage("unknown operation");
}

}  // namespace discache::node
