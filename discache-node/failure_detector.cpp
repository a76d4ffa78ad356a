#include "failure_detector.h"

namespace discache::node {

int detect_failures(MemberTable& members, const FailureTiming& timing,
                    MemberTable::Clock::time_point now) {
  int changed = 0;
  for (const Member& peer : members.peers()) {
    if (peer.state == MemberState::dead) {
      continue;
    }
    const auto silent = now - members.last_heard(peer.name);
    if (peer.state == MemberState::leaving && silent >= timing.suspect_after) {
      // It announced it was leaving and went quiet: it finished, even if its
      // final `left` announcement was lost on the way.
      changed += members.mark(peer.name, MemberState::left) ? 1 : 0;
    } else if (silent >= timing.dead_after) {
      changed += members.mark(peer.name, MemberState::dead) ? 1 : 0;
    } else if (silent >= timing.suspect_after && peer.state == MemberState::alive) {
      changed += members.mark(peer.name, MemberState::suspect) ? 1 : 0;
    }
  }
  return changed;
}

}  // namespace discache::node
