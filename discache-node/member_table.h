// The node's view of the cluster: every member with its state and incarnation.
#pragma once

#include <discache/member.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace discache::node {

// Event-loop thread only. Merging is SWIM's rule: a higher incarnation wins;
// at equal incarnation the more severe state wins; only a member raises its
// own incarnation (to refute a rumour about itself). So old news never
// overwrites new, and any two tables that saw the same news agree.
class MemberTable {
 public:
  // Called once per change with a human-readable line (for the node's log
  // and to wake member-list watchers).
  using ChangeLog = std::function<void(const std::string&)>;
  using Clock = std::chrono::steady_clock;

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
  // Marks another member suspect or dead at its current incarnation (the
  // failure detector's verdict); only ever makes its state more severe.
  bool mark(const std::string& name, MemberState state);

  // Records first-hand contact with `name` (a successful exchange).
  void heard_from(const std::string& name, Clock::time_point now);
  // When this node last heard from `name` first-hand (or learnt of it).
  Clock::time_point last_heard(const std::string& name) const;
  // The list with each member's last_heard_ms_ago filled in, for the wire.
  MemberList snapshot(Clock::time_point now) const;

  // Members other than self that are worth talking to (not left).
  std::vector<Member> peers() const;

  // How often this node refuted a rumour that it was dead: each time, some
  // member had taken it out of the ring (a cut, a freeze), so what it holds
  // may be older than writes made meanwhile (Rebalancer's read gate).
  std::uint64_t dead_rumours_refuted() const { return dead_rumours_refuted_; }

 private:
  void changed(const std::string& what);
  Member* find(const std::string& name);

  MemberList list_;
  std::size_t self_index_ = 0;
  // A member's clock starts when it is learnt of or changes incarnation, so a
  // newcomer gets a full grace period before it can be suspected.
  std::map<std::string, Clock::time_point> heard_;
  std::uint64_t dead_rumours_refuted_ = 0;
  ChangeLog log_;
};

// Severity order used when incarnations tie.
int state_rank(MemberState state) noexcept;

}  // namespace discache::node
