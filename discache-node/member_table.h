// The node's view of the cluster: every member with its state and incarnation.
#pragma once

#include <discache/member.hpp>

#include <functional>
#include <string>
#include <vector>

namespace discache::node {

// Event-loop thread only. Merging is SWIM's rule: a higher incarnation wins;
// at equal incarnation the more severe state wins; only a member raises its
// own incarnation (to refute a rumour about itself). So old news never
// overwrites new, and any two tables that saw the same news agree.
class MemberTable {
 public:
  // Called once per change with a human-readable line (for the node's log).
  using ChangeLog = std::function<void(const std::string&)>;

  MemberTable(Member self, std::uint32_t replicas, ChangeLog log);

  const Member& self() const { return list_.members[self_index_]; }
  const MemberList& list() const { return list_; }
  std::uint64_t epoch() const { return list_.epoch; }

  // Folds a remote list in; returns true when anything changed here.
  bool merge(const MemberList& remote);
  // Folds one remote entry in; returns true when it changed this table.
  bool merge_one(const Member& remote);
  // Marks this node leaving/left (raising its incarnation so it wins).
  void set_self_state(MemberState state);

  // Members other than self that are worth talking to (not left).
  std::vector<Member> peers() const;

 private:
  void changed(const std::string& what);
  Member* find(const std::string& name);

  MemberList list_;
  std::size_t self_index_ = 0;
  ChangeLog log_;
};

// Severity order used when incarnations tie.
int state_rank(MemberState state) noexcept;

}  // namespace discache::node
