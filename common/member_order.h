// Which of two member-list entries for one name is newer: the one rule that
// nodes (MemberTable) and clients (ClusterView) merge member lists by.
#pragma once

#include <discache/member.hpp>

namespace discache {

// Severity order used when incarnations tie.
int state_rank(MemberState state) noexcept;

// Whether entry `a` replaces entry `b` for the same name. A higher
// incarnation wins. At equal incarnations, entries of two processes
// (different boot ids; 0 is an old node's "unknown") are ordered by boot id,
// so every table keeps the same one; entries of one process by severity
// (suspect beats alive, and so on).
bool supersedes(const Member& a, const Member& b) noexcept;

// `current` with every entry of `incoming` that supersedes its own (or is
// new) folded in; the epoch is the larger of the two. Epochs are per node:
// one node's epoch may run ahead of the others' (a node that left raised its
// own and is gone), so a list is never taken or refused whole by its epoch.
// Returns whether any entry changed.
bool merge_member_list(MemberList& current, const MemberList& incoming);

}  // namespace discache
