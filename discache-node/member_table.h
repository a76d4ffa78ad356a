// The node's view of the cluster: every member with its state and incarnation.
#pragma once

#include <discache/member.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "member_order.h"

namespace discache::node {

// Event-loop thread only. Merging is SWIM's rule (supersedes() below): a
// higher incarnation wins; only a member raises its own incarnation (to
// refute a rumour about itself). So old news never overwrites new, and any
// two tables that saw the same news agree.
//
// One name, one node: a name belongs to one process at a time (its boot id
// tells processes apart). An entry for this node's name from another process
// at another address is never refuted, which would flip the name between
// the two for ever; if that entry supersedes ours and its node may be alive,
// the name is taken and this node must stop (NameTaken). An entry of an
// earlier run of this node (same address, or dead) is outbid as a rumour.
class MemberTable {
 public:
  // Called once per change with a human-readable line (for the node's log
  // and to wake member-list watchers).
  using ChangeLog = std::function<void(const std::string&)>;
  // Called when another live process holds this node's name with an entry
  // that supersedes ours; the line names both. The node should exit without
  // announcing anything about the name (it is no longer ours).
  using NameTaken = std::function<void(const std::string&)>;
  using Clock = std::chrono::steady_clock;

  MemberTable(Member self, std::uint32_t replicas, ChangeLog log, NameTaken name_taken = nullptr);

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

  // This node's store is empty again (it forgot it after a stall): takes
  // `boot_id` and raises its incarnation, so peers learn the new boot id and
  // refill it as they would a restarted node.
  void renew_boot(std::uint64_t boot_id, const std::string& why);
  // `earlier` is what a seed knew of this node's name before it joined (an
  // earlier run, possibly from a clock ahead of ours): raises our
  // incarnation past it, so our entry replaces it everywhere.
  void outbid(const Member& earlier);
  // Whether `joining` may join: the member (possibly this node) that holds
  // its name at another address and may be alive (not dead or left, and
  // heard from within `gone_after`), or nullopt when the name is free or
  // already `joining`'s. A node restarted at a new address gets its name
  // back once its old process has been silent for `gone_after`.
  std::optional<Member> name_holder(const Member& joining, Clock::time_point now,
                                    Clock::duration gone_after) const;
  // We could not hear anyone while this node was stopped: restarts every
  // peer's silence at `now`, so our own freeze does not read as theirs.
  void restart_silence(Clock::time_point now);

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
  // merge_one() for an entry about this node's name.
  bool merge_self(const Member& remote);
  Member* find(const std::string& name);
  const Member* find(const std::string& name) const;

  MemberList list_;
  std::size_t self_index_ = 0;
  // A member's clock starts when it is learnt of or changes incarnation, so a
  // newcomer gets a full grace period before it can be suspected.
  std::map<std::string, Clock::time_point> heard_;
  std::uint64_t dead_rumours_refuted_ = 0;
  ChangeLog log_;
  NameTaken name_taken_;
};

// A fresh random boot id (never 0, which means "unknown").
std::uint64_t new_boot_id();

}  // namespace discache::node
