#include "member_table.h"

#include <algorithm>
#include <random>

namespace discache::node {

std::uint64_t new_boot_id() {
  // Random rather than a time, so no clock can make two starts look alike.
  std::random_device device;
  std::uint64_t id = 0;
  while (id == 0) {
    id = (static_cast<std::uint64_t>(device()) << 32) | device();
  }
  return id;
}

MemberTable::MemberTable(Member self, std::uint32_t replicas, ChangeLog log, NameTaken name_taken)
    : log_(std::move(log)), name_taken_(std::move(name_taken)) {
  list_.epoch = 1;
  list_.replicas = replicas;
  list_.members.push_back(std::move(self));
}

Member* MemberTable::find(const std::string& name) {
  for (auto& m : list_.members) {
    if (m.name == name) {
      return &m;
    }
  }
  return nullptr;
}

const Member* MemberTable::find(const std::string& name) const {
  for (const auto& m : list_.members) {
    if (m.name == name) {
      return &m;
    }
  }
  return nullptr;
}

void MemberTable::changed(const std::string& what) {
  ++list_.epoch;
  if (log_) {
    log_(what);
  }
}

bool MemberTable::merge_one(const Member& remote) {
  if (remote.name.empty()) {
    return false;
  }
  Member* local = find(remote.name);
  if (local == nullptr) {
    list_.members.push_back(remote);
    list_.members.back().last_heard_ms_ago = 0;
    heard_[remote.name] = Clock::now();
    // push_back may move self; its index is unchanged.
    changed("member " + remote.name + " (" + remote.address + ") is " +
            std::string(to_string(remote.state)));
    return true;
  }
  if (local == &list_.members[self_index_]) {
    return merge_self(remote);
  }
  if (!supersedes(remote, *local)) {
    return false;
  }
  const bool state_changed = remote.state != local->state;
  const bool address_changed = remote.address != local->address;
  // A new process under the name: its store starts empty (the rebalancer
  // refills it, as for a joining node).
  const bool restarted =
      remote.boot_id != local->boot_id && remote.boot_id != 0 && local->boot_id != 0;
  if (remote.incarnation > local->incarnation) {
    heard_[remote.name] = Clock::now();
  }
  *local = remote;
  local->last_heard_ms_ago = 0;
  if (state_changed || address_changed || restarted) {
    changed("member " + remote.name + " (" + remote.address + ") is " +
            std::string(to_string(remote.state)) +
            (restarted ? ", with an empty store (new boot id)" : ""));
  } else {
    ++list_.epoch;  // a new incarnation is a change too, just not worth a log line
  }
  return true;
}

bool MemberTable::merge_self(const Member& remote) {
  Member& me = list_.members[self_index_];
  const bool other_process =
      remote.boot_id != me.boot_id && remote.boot_id != 0 && me.boot_id != 0;
  const bool may_be_alive = remote.state == MemberState::alive ||
                            remote.state == MemberState::suspect ||
                            remote.state == MemberState::leaving;
  if (other_process && remote.address != me.address && may_be_alive) {
    // Another process holds (or held) our name elsewhere. Refuting it would
    // make the two outbid each other for ever, flipping the name's address
    // in every table. The entry that supersedes the other wins everywhere
    // (every table applies the same rule); if that is theirs, we yield.
    if (supersedes(remote, me) && name_taken_) {
      name_taken_("the name " + me.name + " is held by another node at " + remote.address +
                  " (" + std::string(to_string(remote.state)) + ", incarnation " +
                  std::to_string(remote.incarnation) + "); this node at " + me.address +
                  " stops: one name, one node");
    }
    return false;
  }
  // Someone believes this process is not alive, or an earlier run of this
  // node (same address, or gone) left an entry: refute with a higher
  // incarnation, unless we are leaving on purpose.
  // (A higher incarnation than ours can only come from before a restart
  // whose wall clock was behind: outbid it too, or peers keep the old entry.)
  const bool contradicts = remote.state != me.state || remote.address != me.address ||
                           remote.incarnation > me.incarnation || other_process;
  if (remote.incarnation >= me.incarnation && contradicts && me.state == MemberState::alive) {
    me.incarnation = remote.incarnation + 1;
    if (remote.state == MemberState::dead) {
      ++dead_rumours_refuted_;  // the heal gate closes on it (Rebalancer)
    }
    changed("refuted a rumour that this node is " + std::string(to_string(remote.state)) +
            (other_process ? " (an entry of an earlier run)" : ""));
    return true;
  }
  return false;
}

bool MemberTable::merge(const MemberList& remote) {
  bool any = false;
  // Nodes should all run with the same --replicas; if they do not, the
  // largest wins everywhere, so clients still agree on one N.
  if (remote.replicas > list_.replicas) {
    list_.replicas = remote.replicas;
    changed("replication factor is now " + std::to_string(remote.replicas));
    any = true;
  }
  for (const auto& m : remote.members) {
    any = merge_one(m) || any;
  }
  // Epochs only grow: adopt a higher one, so a client that moves between
  // nodes never sees the epoch go back.
  if (remote.epoch > list_.epoch) {
    list_.epoch = remote.epoch + (any ? 1 : 0);
  }
  return any;
}

void MemberTable::set_self_state(MemberState state) {
  Member& me = list_.members[self_index_];
  if (me.state == state) {
    return;
  }
  me.state = state;
  ++me.incarnation;
  changed("this node is " + std::string(to_string(state)));
}

bool MemberTable::mark(const std::string& name, MemberState state) {
  Member* member = find(name);
  if (member == nullptr || member == &list_.members[self_index_] ||
      state_rank(state) <= state_rank(member->state)) {
    return false;
  }
  member->state = state;
  changed("member " + name + " (" + member->address + ") is " + std::string(to_string(state)));
  return true;
}

void MemberTable::renew_boot(std::uint64_t boot_id, const std::string& why) {
  Member& me = list_.members[self_index_];
  me.boot_id = boot_id;
  ++me.incarnation;
  changed("this node " + why + "; new boot id, so peers refill it");
}

void MemberTable::outbid(const Member& earlier) {
  Member& me = list_.members[self_index_];
  if (earlier.name != me.name || earlier.boot_id == me.boot_id ||
      earlier.incarnation < me.incarnation) {
    return;
  }
  me.incarnation = earlier.incarnation + 1;
  ++list_.epoch;
}

std::optional<Member> MemberTable::name_holder(const Member& joining, Clock::time_point now,
                                               Clock::duration gone_after) const {
  const Member* holder = find(joining.name);
  if (holder == nullptr || holder->address == joining.address ||
      (holder->boot_id != 0 && holder->boot_id == joining.boot_id)) {
    // Free, or held at the joiner's own address: a restart there (the old
    // process let go of the port) or the same process joining again.
    return std::nullopt;
  }
  if (holder == &list_.members[self_index_]) {
    return *holder;  // this node is alive: it is answering
  }
  if (holder->state == MemberState::dead || holder->state == MemberState::left ||
      now - last_heard(holder->name) >= gone_after) {
    return std::nullopt;  // gone: a node restarted elsewhere takes its name back
  }
  return *holder;
}

void MemberTable::restart_silence(Clock::time_point now) {
  for (auto& [name, heard] : heard_) {
    heard = std::max(heard, now);
  }
}

void MemberTable::heard_from(const std::string& name, Clock::time_point now) {
  auto it = heard_.find(name);
  if (it != heard_.end() && it->second < now) {
    it->second = now;
  }
}

MemberTable::Clock::time_point MemberTable::last_heard(const std::string& name) const {
  auto it = heard_.find(name);
  return it == heard_.end() ? Clock::time_point{} : it->second;
}

MemberList MemberTable::snapshot(Clock::time_point now) const {
  MemberList out = list_;
  for (std::size_t i = 0; i < out.members.size(); ++i) {
    if (i == self_index_) {
      continue;
    }
    auto heard = last_heard(out.members[i].name);
    out.members[i].last_heard_ms_ago =
        heard == Clock::time_point{}
            ? 0
            : static_cast<std::uint64_t>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(now - heard).count());
  }
  return out;
}

std::vector<Member> MemberTable::peers() const {
  std::vector<Member> out;
  for (std::size_t i = 0; i < list_.members.size(); ++i) {
    if (i != self_index_ && list_.members[i].state != MemberState::left) {
      out.push_back(list_.members[i]);
    }
  }
  return out;
}

}  // namespace discache::node
