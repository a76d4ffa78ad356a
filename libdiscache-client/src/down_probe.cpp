// ClusterView's handling of nodes it marked down: probing them back, and the
// tombstones (hints) it owes them for writes they missed meanwhile.
//
// Why a probe and not a retry timer: a node that froze (a hung process, a
// lost link) accepts connections but answers nothing, so retrying it after a
// fixed time costs another deadline each round. A probe is one call with no
// deadline on a fresh connection; the node is used again only once it
// answers, so it costs one deadline in all. The probe carries the owed
// tombstones, and later hints ride the same connection, so they reach the
// node ahead of any op this client sends it afterwards, and, for a frozen
// node, sit in its socket to be read the moment it resumes.
#include <algorithm>

#include "cluster_view.h"
#include "kj_duration.h"
#include "size_limits.h"
#include "wire_text.h"

namespace discache::detail {

const Member* ClusterView::member_named(std::string_view name) const {
  auto it = std::find_if(members_.members.begin(), members_.members.end(),
                         [&](const Member& m) { return m.name == name; });
  return it == members_.members.end() ? nullptr : &*it;
}

std::optional<Error> ClusterView::down_error(const Member& member) {
  if (!down_.contains(member.name)) {
    return std::nullopt;
  }
  return Error{Errc::unavailable, "node " + member.name + " (" + member.address +
                                      ") is down: it stopped answering or its connection "
                                      "broke; the client is reconnecting in the background"};
}

void ClusterView::mark_down(const std::string& name) {
  if (down_.contains(name)) {
    return;  // already down: its probe goes on
  }
  // Only ring members are routed to, so only they are marked (a seed or a
  // previous owner is just asked again next time).
  auto m = std::find_if(ring_members_.begin(), ring_members_.end(),
                        [&](const Member& r) { return r.name == name; });
  if (m == ring_members_.end()) {
    return;
  }
  down_.emplace(name, Down{m->incarnation});
  publish_route();
  // Not from inside the callback that found the break: its link is still
  // being torn down.
  tasks_.add(kj::evalLater([this, name]() { start_probe(name); }));
}

void ClusterView::start_probe(const std::string& name) {
  auto it = down_.find(name);
  if (it == down_.end() || it->second.probing) {
    return;
  }
  const Member* member = member_named(name);
  if (member == nullptr || member->state == MemberState::left) {
    // Gone for good, its keys handed over: nothing to wait for or owe.
    down_.erase(it);
    hints_.erase(name);
    publish_route();
    return;
  }
  Down& down = it->second;
  down.probing = true;
  const std::uint64_t probe = ++down.probe;
  std::vector<Hint> hints;
  if (auto owed = hints_.find(name); owed != hints_.end()) {
    hints = owed->second.take(limits::kMaxBatchOps, limits::kMaxBatchBytes);
  }
  // An empty batch is a ping.
  send_hints(*member, std::move(hints),
             [this, name, probe](bool answered) { on_probe_done(name, probe, answered); });
  flush_hints(name);  // the rest, if there were more than one batch
}

void ClusterView::on_probe_done(const std::string& name, std::uint64_t probe, bool answered) {
  auto it = down_.find(name);
  if (it == down_.end() || it->second.probe != probe) {
    return;  // superseded by a restart of the probe, or the node is gone
  }
  if (answered) {
    // Back. Ops sent from now on follow the hints on this connection.
    down_.erase(it);
    publish_route();
    flush_hints(name);
    return;
  }
  it->second.probing = false;
  drop_link(name);  // the probe's connection is broken: the next probe makes a new one
  tasks_.add(
      io_.provider->getTimer().afterDelay(to_kj(options_.down_retry)).then([this, name, probe]() {
        auto found = down_.find(name);
        if (found != down_.end() && found->second.probe == probe) {
          start_probe(name);
        }
      }));
}

void ClusterView::restart_probes(const MemberList& list) {
  std::vector<std::string> restart;
  for (auto it = down_.begin(); it != down_.end();) {
    auto m = std::find_if(list.members.begin(), list.members.end(),
                          [&](const Member& x) { return x.name == it->first; });
    if (m == list.members.end() || m->state == MemberState::left) {
      hints_.erase(it->first);
      it = down_.erase(it);  // left the cluster: its probe's answer is ignored
      continue;
    }
    if (m->incarnation > it->second.incarnation) {
      // Restarted or refuted a suspicion: ask it now rather than wait for a
      // probe that may be stuck on the old process.
      it->second.incarnation = m->incarnation;
      it->second.probing = false;
      ++it->second.probe;
      restart.push_back(it->first);
    }
    ++it;
  }
  for (auto& name : restart) {
    drop_link(name);
    tasks_.add(kj::evalLater([this, name]() { start_probe(name); }));
  }
}

void ClusterView::add_hint(const Member& owner, const KeyOp& op, std::uint64_t version) {
  if (version == 0) {
    return;
  }
  // A missed delete is owed as itself; a missed put as a tombstone just
  // below it, which removes the older copy but not the put if it did arrive.
  const std::uint64_t tombstone = op.kind() == OpKind::del ? version : version - 1;
  auto [it, inserted] = hints_.try_emplace(owner.name, kMaxHintsPerNode);
  it->second.add(op.key(), tombstone);
  if (inserted) {
    publish_route();
  }
  if (std::find(hinted_.begin(), hinted_.end(), owner.name) == hinted_.end()) {
    hinted_.push_back(owner.name);
  }
}

void ClusterView::flush_hints(const std::string& name) {
  auto owed = hints_.find(name);
  if (owed == hints_.end() || !owed->second.has_pending()) {
    return;
  }
  auto down = down_.find(name);
  if (down != down_.end() && !down->second.probing) {
    return;  // no connection until the next probe, which takes them
  }
  const Member* member = member_named(name);
  if (member == nullptr) {
    return;
  }
  const Member target = *member;
  while (owed->second.has_pending()) {
    send_hints(target, owed->second.take(limits::kMaxBatchOps, limits::kMaxBatchBytes),
               [](bool) {});
  }
}

void ClusterView::send_hints(const Member& member, std::vector<Hint> hints,
                             std::function<void(bool answered)> done) {
  auto request = node_for(member).batchRequest();
  auto ops = request.initOps(static_cast<unsigned>(hints.size()));
  for (unsigned i = 0; i < hints.size(); ++i) {
    ops[i].setKey(data_of(hints[i].key));
    ops[i].setDelete();
    ops[i].setVersion(hints[i].version);
  }
  auto sent = std::make_shared<std::vector<Hint>>(std::move(hints));
  // Whatever each op answered (deleted, absent, or something newer there),
  // the node has seen the tombstone.
  tasks_.add(request.send().then(
      [this, name = member.name, sent, done](capnp::Response<wire::Node::BatchResults> response) {
        for (auto result : response.getResults()) {
          versions_.observe(result.getVersion());  // as for every other reply
        }
        if (auto owed = hints_.find(name); owed != hints_.end()) {
          owed->second.acknowledged(*sent);
          if (owed->second.empty()) {
            hints_.erase(owed);
            publish_route();  // callers' threads may read from it again
          }
        }
        done(true);
      },
      [this, name = member.name, sent, done](kj::Exception&&) {
        if (auto owed = hints_.find(name); owed != hints_.end()) {
          owed->second.lost(*sent);
        }
        done(false);
      }));
}

}  // namespace discache::detail
