// ClusterView's sending half: ops become replica sends, sends become batch calls.
#include <kj/debug.h>

#include <algorithm>

#include "cluster_view.h"
#include "kj_duration.h"
#include "size_limits.h"
#include "wire_text.h"

namespace discache::detail {
namespace {

Reply failed(Errc code, std::string message) {
  Reply reply;
  reply.kind = Reply::Kind::failed;
  reply.error = Error{code, std::move(message)};
  return reply;
}

Reply decode(wire::OpResult::Reader result) {
  Reply reply;
  reply.version = result.getVersion();
  switch (result.getStatus()) {
    case wire::Status::OK:
      reply.kind = Reply::Kind::ok;
      reply.value = to_std(result.getValue());
      reply.ttl_ms = result.getTtlMs();
      return reply;
    case wire::Status::NOT_FOUND:
      reply.kind = Reply::Kind::not_found;
      return reply;
    case wire::Status::STALE:
      reply.kind = Reply::Kind::stale;
      return reply;
    case wire::Status::EXISTS:
      return failed(Errc::exists, "key already has a value");
    case wire::Status::VERSION_MISMATCH:
      return failed(Errc::version_mismatch, "the item changed since it was read");
    case wire::Status::TOO_LARGE:
      return failed(Errc::too_large, to_std(result.getMessage()));
    case wire::Status::OUT_OF_MEMORY:
      return failed(Errc::out_of_memory, to_std(result.getMessage()));
    case wire::Status::INVALID:
      return failed(Errc::invalid_argument, to_std(result.getMessage()));
    case wire::Status::DEFERRED:  // send_batch asks again; never decoded there
      return failed(Errc::overloaded, "the node had no room to answer; ask again");
  }
  return failed(Errc::protocol, "node answered with an unknown status");
}

void encode(const ClusterView::Pending& pending, wire::Op::Builder out) {
  const KeyOp& op = pending.op->op();
  const Send& send = pending.send;
  out.setKey(data_of(op.key()));
  switch (send.kind) {
    case OpKind::get:
      out.setGet();
      break;
    case OpKind::put: {
      auto put = out.initPut();
      put.setValue(data_of(send.repair ? std::string_view(send.repair_value)
                                       : std::string_view(op.value())));
      auto options = put.initOptions();
      // A read repair carries the item's remaining TTL; a copy of a put
      // (conditional put's replicas) carries the put's own.
      options.setTtlMs(send.repair && op.kind() != OpKind::put
                           ? send.repair_ttl_ms
                           : static_cast<std::uint64_t>(op.options().ttl.count()));
      if (!send.repair) {
        switch (op.options().mode) {
          case PutMode::upsert:
            options.setMode(wire::PutMode::UPSERT);
            break;
          case PutMode::if_absent:
            options.setMode(wire::PutMode::IF_ABSENT);
            break;
          case PutMode::compare_and_set:
            options.setMode(wire::PutMode::COMPARE_AND_SET);
            options.setExpectedVersion(op.options().expected_version);
            break;
        }
      }
      options.setVersion(send.version);
      break;
    }
    case OpKind::del:
      out.setDelete();
      out.setVersion(send.version);
      break;
    case OpKind::has:
      out.setHas();
      break;
  }
}

std::size_t wire_bytes(const ClusterView::Pending& pending) {
  return pending.op->op().wire_bytes() + pending.send.repair_value.size();
}

}  // namespace

std::vector<Member> ClusterView::live_owners(std::string_view key, std::vector<Member>* skipped) {
  std::vector<Member> out;
  if (ring_.empty()) {
    return out;
  }
  std::uint32_t idx[16];
  const std::size_t n = ring_.owners(key, std::span(idx, std::min<std::size_t>(replicas(), 16)));
  for (std::size_t i = 0; i < n; ++i) {
    const Member& m = ring_members_[idx[i]];
    if (!down_error(m)) {
      out.push_back(m);
    } else if (skipped != nullptr) {
      skipped->push_back(m);
    }
  }
  return out;
}

std::vector<Member> ClusterView::previous_owners(std::string_view key,
                                                 const std::vector<Member>& current) {
  std::vector<Member> out;
  if (previous_ring_.empty() || io_.provider->getTimer().now() >= previous_until_) {
    return out;
  }
  std::uint32_t idx[16];
  const std::size_t n =
      previous_ring_.owners(key, std::span(idx, std::min<std::size_t>(replicas(), 16)));
  for (std::size_t i = 0; i < n; ++i) {
    const Member& m = previous_members_[idx[i]];
    const bool is_current = std::any_of(current.begin(), current.end(),
                                        [&](const Member& c) { return c.name == m.name; });
    // A leaving node still holds its keys while it hands them over; a dead
    // or departed one does not.
    const bool reachable =
        std::any_of(members_.members.begin(), members_.members.end(), [&](const Member& c) {
          return c.name == m.name &&
                 (c.state == MemberState::alive || c.state == MemberState::suspect ||
                  c.state == MemberState::leaving);
        });
    if (!is_current && reachable && !down_error(m)) {
      out.push_back(m);
    }
  }
  return out;
}

void ClusterView::dispatch(std::vector<KeyOp> ops) {
  const ReplicaPolicy policy{options_.write_acks, options_.read_fallback_on_miss};
  Outbox outbox;
  for (auto& op : ops) {
    const bool write = op.kind() == OpKind::put || op.kind() == OpKind::del;
    if (op.kind() == OpKind::put && op.options().mode == PutMode::compare_and_set) {
      // The version a compare-and-set replaces was seen, even if by another
      // client: the new one must be above it, or the other owners would
      // refuse the copies (whatever the clocks say).
      versions_.observe(op.options().expected_version);
    }
    const std::uint64_t version = write ? versions_.next() : 0;
    std::vector<Member> skipped;
    auto owners = live_owners(op.key(), write ? &skipped : nullptr);
    for (const auto& owner : skipped) {
      add_hint(owner, op, version);
    }
    auto previous = previous_owners(op.key(), owners);
    auto replicated = std::make_shared<ReplicatedOp>(std::move(op), version, std::move(owners),
                                                     std::move(previous), policy, versions_);
    post(outbox, replicated, replicated->start());
  }
  flush(outbox);
}

void ClusterView::post(Outbox& outbox, const std::shared_ptr<ReplicatedOp>& op,
                       std::vector<Send> sends) {
  for (auto& send : sends) {
    auto& queue = outbox[send.target.name];
    queue.push_back(Pending{op, std::move(send), {}});
  }
}

void ClusterView::flush(Outbox& outbox) {
  // Everything for one node leaves together, split only at the batch caps;
  // ops for one node keep their order (one connection delivers in order).
  for (auto& [name, pendings] : outbox) {
    std::size_t start = 0;
    while (start < pendings.size()) {
      std::size_t end = start;
      std::size_t bytes = 0;
      while (end < pendings.size() && end - start < limits::kMaxBatchOps &&
             (end == start || bytes + wire_bytes(pendings[end]) <= limits::kMaxBatchBytes)) {
        bytes += wire_bytes(pendings[end]);
        ++end;
      }
      const Member target = pendings[start].send.target;
      std::vector<Pending> chunk(std::make_move_iterator(pendings.begin() + start),
                                 std::make_move_iterator(pendings.begin() + end));
      send_batch(target, std::move(chunk));
      start = end;
    }
  }
  outbox.clear();
  auto hinted = std::move(hinted_);
  hinted_.clear();
  for (const auto& name : hinted) {
    flush_hints(name);
  }
}

void ClusterView::handle_reply(Outbox& outbox, Pending& pending, Reply reply) {
  // Every version a node reports (a value's, a tombstone's, the one that
  // beat a write) moves this client's clock past it.
  versions_.observe(reply.version);
  const KeyOp& op = pending.op->op();
  const bool write = op.kind() == OpKind::put || op.kind() == OpKind::del;
  if (write && !pending.send.previous_owner_copy && reply.kind == Reply::Kind::failed &&
      reply.error &&
      (reply.error->code == Errc::timeout || reply.error->code == Errc::unavailable)) {
    // The replica may never have seen this write (a conditional put's copies
    // included): it is owed a tombstone. A previous owner is not: its copy
    // only serves readers on the old ring, and the nodes drop it once the
    // ring has settled.
    add_hint(pending.send.target, op, pending.send.version);
  }
  if (pending.send.repair) {
    return;  // best effort; a lost read repair is redone by the next read
  }
  const std::uint64_t version = pending.op->version();
  auto sends = pending.op->on_reply(pending.send, std::move(reply));
  if (write && pending.op->version() != version) {
    // The write goes again above a newer version: owners it skipped as down
    // are owed the new version, or the old hint would leave them the winner
    // it just overwrote.
    std::vector<Member> skipped;
    live_owners(op.key(), &skipped);
    for (const auto& owner : skipped) {
      add_hint(owner, op, pending.op->version());
    }
  }
  post(outbox, pending.op, std::move(sends));
}

void ClusterView::send_batch(const Member& member, std::vector<Pending> pendings) {
  // Shared by the call and its deadline; exclusiveJoin runs only one of them.
  auto batch = std::make_shared<std::vector<Pending>>(std::move(pendings));
  auto request = node_for(member).batchRequest();
  auto wire_ops = request.initOps(static_cast<unsigned>(batch->size()));
  for (unsigned i = 0; i < batch->size(); ++i) {
    encode((*batch)[i], wire_ops[i]);
  }
  auto fail_all = [this, batch](const Error& error) {
    Outbox outbox;
    for (auto& pending : *batch) {
      handle_reply(outbox, pending, failed(error.code, error.message));
    }
    flush(outbox);
  };
  auto call = request.send().then(
      [this, batch, fail_all](capnp::Response<wire::Node::BatchResults> response) {
        auto results = response.getResults();
        if (results.size() != batch->size()) {
          fail_all(Error{Errc::protocol, "batch answer has the wrong size"});
          return;
        }
        Outbox outbox;
        std::vector<Pending> deferred;
        bool served = false;
        for (unsigned i = 0; i < results.size(); ++i) {
          if (results[i].getStatus() == wire::Status::DEFERRED) {
            deferred.push_back(std::move((*batch)[i]));
            continue;
          }
          served = true;
          handle_reply(outbox, (*batch)[i], decode(results[i]));
        }
        ask_again(outbox, std::move(deferred), served);
        flush(outbox);
      },
      [this, member, fail_all](kj::Exception&& e) {
        Error error = translate(e, member);
        if (error.code == Errc::unavailable) {
          drop_link(member.name, /*broken=*/true);
        } else if (error.code == Errc::tls) {
          // Not down: it answers, but not to us. The next op tries a fresh
          // handshake, so a node whose certificate is fixed is used again.
          drop_link(member.name);
        }
        fail_all(error);
      });
  auto deadline =
      io_.provider->getTimer()
          .afterDelay(to_kj(options_.deadline))
          .then([this, member, fail_all, ms = options_.deadline.count()]() {
            // A node that does not answer in time is routed around until the
            // retry time, so it costs at most one deadline.
            drop_link(member.name, /*broken=*/true);
            fail_all(Error{Errc::timeout, "node " + member.name + " did not answer within " +
                                              std::to_string(ms) + " ms"});
          });
  ++calls_in_flight_;
  tasks_.add(
      call.exclusiveJoin(kj::mv(deadline)).attach(kj::defer([this]() { --calls_in_flight_; })));
}

void ClusterView::ask_again(Outbox& outbox, std::vector<Pending> deferred, bool served) {
  if (deferred.empty()) {
    return;
  }
  if (served) {
    // The answer was full: the rest leave in the next batch, at once.
    for (auto& pending : deferred) {
      outbox[pending.send.target.name].push_back(std::move(pending));
    }
    return;
  }
  // Nothing served: the node's in-flight budget is full. Pause, doubling.
  std::chrono::milliseconds pause{1};
  std::vector<Pending> again;
  for (auto& pending : deferred) {
    pause = std::max(pause, std::min(kMaxDeferPause, pending.deferred_for * 2));
  }
  for (auto& pending : deferred) {
    if (pending.deferred_for >= options_.deadline) {
      const Member& node = pending.send.target;
      handle_reply(outbox, pending,
                   failed(Errc::overloaded,
                          "node " + node.name + " (" + node.address + ") had no room to answer for " +
                              std::to_string(pending.deferred_for.count()) +
                              " ms: its in-flight budget is full; try again later"));
      continue;
    }
    pending.deferred_for += pause;
    again.push_back(std::move(pending));
  }
  if (again.empty()) {
    return;
  }
  ++calls_in_flight_;  // settle() waits for them too
  tasks_.add(io_.provider->getTimer()
                 .afterDelay(pause.count() * kj::MILLISECONDS)
                 .then([this, again = std::move(again)]() mutable {
                   Outbox outbox;
                   for (auto& pending : again) {
                     outbox[pending.send.target.name].push_back(std::move(pending));
                   }
                   flush(outbox);
                 })
                 .attach(kj::defer([this]() { --calls_in_flight_; })));
}

kj::Promise<void> ClusterView::settle(kj::Duration limit) {
  // Polls (1 ms) only during shutdown, so no bookkeeping on the hot path.
  auto& timer = io_.provider->getTimer();
  auto until = timer.now() + limit;
  auto wait = kj::evalLater([]() {});
  return wait.then([this, &timer, until]() -> kj::Promise<void> {
    if (calls_in_flight_ == 0 || timer.now() >= until) {
      return kj::READY_NOW;
    }
    return timer.afterDelay(1 * kj::MILLISECONDS).then([this, until]() {
      return settle(until - io_.provider->getTimer().now());
    });
  });
}

}  // namespace discache::detail
