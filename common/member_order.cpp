#include "member_order.h"

#include <algorithm>

namespace discache {

int state_rank(MemberState state) noexcept {
  switch (state) {
    case MemberState::alive:
      return 0;
    case MemberState::suspect:
      return 1;
    case MemberState::leaving:
      return 2;
    case MemberState::dead:
      return 3;
    case MemberState::left:
      return 4;
  }
  return 0;
}

bool supersedes(const Member& a, const Member& b) noexcept {
  if (a.incarnation != b.incarnation) {
    return a.incarnation > b.incarnation;
  }
  if (a.boot_id != b.boot_id && a.boot_id != 0 && b.boot_id != 0) {
    return a.boot_id > b.boot_id;
  }
  return state_rank(a.state) > state_rank(b.state);
}

bool merge_member_list(MemberList& current, const MemberList& incoming) {
  bool changed = false;
  for (const Member& theirs : incoming.members) {
    auto mine = std::find_if(current.members.begin(), current.members.end(),
                             [&](const Member& m) { return m.name == theirs.name; });
    if (mine == current.members.end()) {
      current.members.push_back(theirs);
      changed = true;
    } else if (supersedes(theirs, *mine)) {
      *mine = theirs;
      changed = true;
    } else if (!supersedes(*mine, theirs)) {
      // The same entry: only the observer's figures may differ.
      mine->last_heard_ms_ago = theirs.last_heard_ms_ago;
    }
  }
  current.epoch = std::max(current.epoch, incoming.epoch);
  current.replicas = std::max(current.replicas, incoming.replicas);
  return changed;
}

}  // namespace discache
