// Turns silence into verdicts: alive -> suspect -> dead.
#pragma once

#include <chrono>

#include "member_table.h"

namespace discache::node {

struct FailureTiming {
  // How often each peer is probed (a push-pull gossip exchange).
  std::chrono::milliseconds probe_interval{250};
  // A probe that has not answered after this long has failed.
  std::chrono::milliseconds probe_timeout{500};
  // Silence after which a member is suspect, and after which it is dead.
  std::chrono::milliseconds suspect_after{1500};
  std::chrono::milliseconds dead_after{4000};
};

// Marks members nobody has heard from first-hand within the timing's bounds.
// A suspect that is alive refutes the rumour itself (MemberTable::merge_one),
// so the detector never needs to un-suspect anyone. A `leaving` member that
// goes silent has finished leaving: it becomes `left`, not `dead`, even if
// its own `left` announcement was lost. Returns the number of
// members whose state it changed.
int detect_failures(MemberTable& members, const FailureTiming& timing,
                    MemberTable::Clock::time_point now);

}  // namespace discache::node
