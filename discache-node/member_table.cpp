#include "member_table.h"

#include <algorithm>

namespace discache::node {

int state_rank(MemberState state) noexcept {
  switch (state) {
    case MemberState::alive: return 0;
    case MemberState::suspect: return 1;
    case MemberState::leaving: return 2;
    case MemberState::dead: return 3;
    case MemberState::left: return 4;
  }
  return 0;
}

MemberTable::MemberTable(Member self, std::uint32_t replicas, ChangeLog log)
    : log_(std::move(log)) {
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
    // Someone believes we are not alive: refute with a higher incarnation,
    // unless we are leaving on purpose.
    // (A higher incarnation than ours about us can only come from before a
    // wall-clock step back: outbid it too, or peers keep the old entry.)
    const bool contradicts = remote.state != local->state || remote.address != local->address ||
                             remote.incarnation > local->incarnation;
    if (remote.incarnation >= local->incarnation && contradicts &&
        local->state == MemberState::alive) {
      local->incarnation = remote.incarnation + 1;
      if (remote.state == MemberState::dead) {
        ++dead_rumours_refuted_;
      }
      changed("refuted a rumour that this node is " + std::string(to_string(remote.state)));
      return true;
    }
    return false;
  }
  const bool newer = remote.incarnation > local->incarnation;
  const bool worse = remote.incarnation == local->incarnation &&
                     state_rank(remote.state) > state_rank(local->state);
  if (!newer && !worse) {
    return false;
  }
  const bool state_changed = remote.state != local->state;
  const bool address_changed = remote.address != local->address;
  if (newer) {
    heard_[remote.name] = Clock::now();
  }
  *local = remote;
  local->last_heard_ms_ago = 0;
  if (state_changed || address_changed) {
    changed("member " + remote.name + " (" + remote.address + ") is " +
            std::string(to_string(remote.state)));
  } else {
    ++list_.epoch;  // a new incarnation is a change too, just not worth a log line
  }
  return true;
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
