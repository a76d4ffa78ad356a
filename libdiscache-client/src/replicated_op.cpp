#include "replicated_op.h"

#include <algorithm>
#include <string>

namespace discache::detail {
namespace {

bool is_read(OpKind kind) {
  return kind == OpKind::get || kind == OpKind::has;
}

// Errors that another replica would answer the same way: stop at once.
// (exists and version_mismatch only come from the one owner that decides a
// conditional put.)
bool is_final(const Error& error) {
  return error.code == Errc::too_large || error.code == Errc::invalid_argument ||
         error.code == Errc::out_of_memory || error.code == Errc::protocol ||
         error.code == Errc::exists || error.code == Errc::version_mismatch;
}

}  // namespace

ReplicatedOp::ReplicatedOp(KeyOp op, std::uint64_t version, std::vector<Member> owners,
                           std::vector<Member> previous, ReplicaPolicy policy,
                           VersionClock& versions)
    : op_(std::move(op)),
      version_(version),
      owners_(std::move(owners)),
      previous_(std::move(previous)),
      policy_(policy),
      versions_(versions) {}

void ReplicatedOp::complete(OpResult result) {
  if (!completed_) {
    completed_ = true;
    op_.complete(std::move(result));
  }
}

std::vector<Send> ReplicatedOp::start() {
  if (is_read(op_.kind())) {
    return next_read();
  }
  if (owners_.empty()) {
    complete(std::unexpected(Error{Errc::unavailable, "no live node owns this key"}));
    return {};
  }
  if (op_.kind() == OpKind::put && op_.options().mode != PutMode::upsert) {
    conditional_ = true;
    return next_decider();
  }
  needed_ = std::clamp<std::size_t>(policy_.write_acks, 1, owners_.size());
  return send_write_round();
}

std::vector<Send> ReplicatedOp::send_write_round() {
  ++rounds_;
  acks_ = 0;
  failures_ = 0;
  std::vector<Send> sends;
  for (const auto& owner : owners_) {
    sends.push_back(Send{owner, op_.kind(), false, {}, version_});
  }
  for (auto& copy : previous_owner_copies()) {
    sends.push_back(std::move(copy));
  }
  return sends;
}

std::vector<Send> ReplicatedOp::previous_owner_copies() const {
  // A reader that has not learnt the new ring still reads these nodes; a
  // copy that stopped getting writes would answer it with an older value.
  // Plain writes send the op itself (same mode, same version); a
  // conditional put sends the decided copy, like to its other owners.
  std::vector<Send> copies;
  for (const auto& owner : previous_) {
    Send copy{owner, op_.kind(), conditional_, conditional_ ? op_.value() : std::string(),
              version_};
    copy.previous_owner_copy = true;
    copies.push_back(std::move(copy));
  }
  return copies;
}

std::vector<Send> ReplicatedOp::on_stale_write(const Member& from, std::uint64_t held) {
  if (rounds_ >= kMaxWriteRounds) {
    complete(std::unexpected(Error{
        Errc::version_mismatch,
        "key '" + op_.key() + "': its owner " + from.name + " (" + from.address +
            ") still holds a newer version (" + std::to_string(held) + ") after " +
            std::to_string(rounds_) +
            " writes, each above the newest version seen: other clients keep writing this key"}));
    return {};
  }
  // Every owner again, the ones that took the old version included: each
  // must end up with a version above the winner's.
  versions_.observe(held);
  version_ = versions_.next();
  return send_write_round();
}

bool ReplicatedOp::note_failure(Reply reply) {
  Error error = reply.error.value_or(Error{Errc::internal, "no error given"});
  if (is_final(error)) {
    complete(std::unexpected(std::move(error)));
    return true;
  }
  if (!first_error_) {
    first_error_ = std::move(error);
  }
  return false;
}

std::vector<Send> ReplicatedOp::next_decider() {
  if (next_ < owners_.size()) {
    return {Send{owners_[next_++], OpKind::put, false, {}, version_}};
  }
  complete(std::unexpected(first_error_.value_or(Error{Errc::unavailable, "no owner answered"})));
  return {};
}

std::vector<Send> ReplicatedOp::on_conditional_reply(Reply reply) {
  switch (reply.kind) {
    case Reply::Kind::ok: {
      // The decider took it: copy to the other owners with the version it
      // stored (an add it stamped above a newer delete, else ours).
      if (reply.version != 0) {
        version_ = reply.version;
      }
      std::vector<Send> copies;
      for (std::size_t i = 0; i < owners_.size(); ++i) {
        if (i + 1 != next_) {
          copies.push_back(Send{owners_[i], OpKind::put, true, op_.value(), version_});
        }
      }
      for (auto& copy : previous_owner_copies()) {
        copies.push_back(std::move(copy));
      }
      complete(Item{{}, version_});
      return copies;
    }
    case Reply::Kind::not_found:
      complete(std::unexpected(Error{Errc::not_found, "no item to compare with"}));
      return {};
    case Reply::Kind::stale:
      complete(std::unexpected(Error{Errc::version_mismatch, "a newer write is there"}));
      return {};
    case Reply::Kind::failed:
      if (note_failure(std::move(reply))) {
        return {};
      }
      return next_decider();  // that owner is unreachable: the next one decides
  }
  return {};
}

std::vector<Send> ReplicatedOp::next_read() {
  const std::size_t total = owners_.size() + previous_.size();
  if (next_ < total) {
    const Member& target =
        next_ < owners_.size() ? owners_[next_] : previous_[next_ - owners_.size()];
    ++next_;
    return {Send{target, op_.kind(), false, {}, 0}};
  }
  if (!missed_.empty()) {
    complete(std::unexpected(Error{Errc::not_found, "not found"}));
  } else if (first_error_) {
    complete(std::unexpected(*first_error_));
  } else {
    // Nobody could be asked (every owner is down): never a silent miss.
    complete(std::unexpected(Error{Errc::unavailable, "no live node owns this key"}));
  }
  return {};
}

std::vector<Send> ReplicatedOp::finish_read_with_value(std::string value, std::uint64_t version,
                                                       std::uint64_t ttl_ms) {
  std::vector<Send> repairs;
  if (op_.kind() == OpKind::get) {
    for (const auto& m : missed_) {
      const bool current = std::any_of(owners_.begin(), owners_.end(),
                                       [&](const Member& o) { return o.name == m.name; });
      if (current) {
        // The copy expires when the original does: never an immortal item.
        repairs.push_back(Send{m, OpKind::put, true, value, version, ttl_ms});
      }
    }
  }
  complete(Item{std::move(value), version});
  return repairs;
}

std::vector<Send> ReplicatedOp::on_reply(const Send& sent, Reply reply) {
  if (sent.previous_owner_copy) {
    // Not an owner any more: its ack, stale or failure says nothing about
    // whether the write is durable where the new ring will look for it.
    return {};
  }
  const Member& from = sent.target;
  if (completed_ && is_read(op_.kind())) {
    return {};
  }
  if (is_read(op_.kind())) {
    switch (reply.kind) {
      case Reply::Kind::ok:
        if (reply.version != 0 && reply.version < tombstone_) {
          break;  // older than a delete another replica saw: a miss
        }
        return finish_read_with_value(std::move(reply.value), reply.version, reply.ttl_ms);
      case Reply::Kind::not_found:
        missed_.push_back(from);
        // A tombstone does not end the read: it may be one a client owed
        // this replica for a write it missed (just below that write), so a
        // newer value can be elsewhere. Anything older than it is a miss.
        // (So a tombstone miss falls back even when plain misses do not.)
        tombstone_ = std::max(tombstone_, reply.version);
        if (!policy_.read_fallback_on_miss && reply.version == 0 && next_ < owners_.size()) {
          next_ = owners_.size();  // skip other replicas, still ask previous owners
        }
        break;
      case Reply::Kind::stale:
      case Reply::Kind::failed:
        if (note_failure(std::move(reply))) {
          return {};
        }
        break;
    }
    return next_read();
  }

  if (conditional_) {
    return completed_ ? std::vector<Send>{} : on_conditional_reply(std::move(reply));
  }
  // Plain writes. An answer to an earlier round's version says nothing
  // about the current one.
  if (sent.version != version_) {
    return {};
  }
  switch (reply.kind) {
    case Reply::Kind::stale:
      if (completed_) {
        return {};  // a later or concurrent write won after W acks: let it
      }
      return on_stale_write(from, reply.version);
    case Reply::Kind::ok:
    case Reply::Kind::not_found:  // delete of an absent key
      ++acks_;
      if (acks_ >= needed_) {
        complete(Item{{}, version_});
      }
      return {};
    case Reply::Kind::failed: {
      if (note_failure(std::move(reply))) {
        return {};
      }
      ++failures_;
      if (failures_ > owners_.size() - needed_) {
        complete(std::unexpected(*first_error_));
      }
      return {};
    }
  }
  return {};
}

}  // namespace discache::detail
