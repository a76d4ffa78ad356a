// Moves copies of keys when the ring changes: re-replication, joins, drains.
#pragma once

#include <kj/async-io.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "hash_ring.h"
#include "node_loop.h"
#include "peer_links.h"

namespace discache::node {

// Loop 0 only (the member list's loop); each loop scans and reads its own
// shard for it.
//
// Whenever the set of serving nodes (alive or suspect) changes, the node
// walks its store in small chunks and, for each key whose owners under the
// new ring include nodes that were not owners under the old one, copies the
// item there. To send each copy once, only the first old owner that is still
// serving sends it (every node computes the same rings with the same
// HashRing code the clients use). Copies are version-preserving puts, which
// a node ignores if it already holds something newer or a tombstone.
//
// One mechanism serves four cases: a dead node's keys regain N copies from
// the survivors; a joining node receives the keys it now owns; a draining
// node hands every key to its owners in the ring without it; a restarted
// node (a serving member whose boot id changed: its store is empty, however
// briefly it was away) is refilled as if it were joining, by the first of
// each key's other owners still serving.
//
// Tombstones travel the same way as items: for each tombstone it holds, the
// node sends a version-preserving delete to the new owners, which apply it
// only over older values. So when a partition heals, deletes made on one
// side reach the copies the other side kept.
//
// A member seen dead since the last pass that serves again (a healed cut,
// a thawed node) may hold anything, older than writes made meanwhile: in
// the next pass it sends nothing, and it receives every key it owns, as if
// new, even when it was in the old ring too (the pass that would have
// taken it out may not have run before it came back).
//
// The rebalancer also keeps the node's HealState (NodeContext::heal):
// - tombstones may expire only while the cluster is whole in this node's
//   view (no member suspect or dead, except one dead for over
//   kDeadForGood) and no pass is due or running; then they live their
//   lifetime past the later of their delete and `unowned_grace` after that
//   moment (when stale unowned copies are gone);
// - when a member this node saw dead comes back with the same boot id (a
//   healed partition, a thawed node), reads answer misses (the read gate)
//   until the pass for that change has finished and `heal_grace` more has
//   passed, for the other nodes' handoffs to land here too. Refuting a
//   rumour that this node is dead closes it as well (peers re-admit it
//   only after that), opening by itself if no member comes back;
// - a node whose store starts empty among peers (started with seeds, or it
//   forgot its store after a stall) has its shards close the gate for a
//   while after each handoff copy they receive, until the senders'
//   catch-up passes can have landed (the joiner gate).
//
// A pass that sent copies to new owners runs once more (a catch-up pass)
// `heal_grace` after it finished: writers that had not yet learnt the ring
// wrote to the old owners only meanwhile, and those writes must reach the
// new owners before readers on the new ring trust them. A drain repeats its
// pass once if writes arrived while it ran.
//
// Copies of keys this node does not own under the current ring (it was an
// owner before the ring changed, or a client with an older view wrote to it)
// are dropped once the ring has stayed the same for `unowned_grace`, and
// looked for again while it stays so (every grace period, doubling while
// none are found). Kept, such a copy could outlive a delete
// of its key on the owners (the delete never reaches it) and come back
// when a later ring change makes this node an owner again.
class Rebalancer {
 public:
  // `heal_grace`: how long the read gate stays closed after this node's pass
  // for a heal, on top of that pass's own duration (main derives it from
  // the probe interval).
  Rebalancer(NodeLoop& loop, PeerLinks& peers, kj::Timer& timer, kj::Duration unowned_grace,
             kj::Duration heal_grace);

  // A dead member stops holding tombstones back after this long: a node
  // that crashed for good must not make them pile up to the count bound.
  static constexpr auto kDeadForGood = std::chrono::hours(1);

  // The member list changed; starts (or queues) a pass if the serving set did.
  void membership_changed();
  // This node started empty and has peers to join (seeds or discovery): for
  // a while after each handoff copy it receives, its reads miss, until the
  // senders' catch-ups can have landed (the joiner gate). Call once, before
  // serving.
  void joining_with_empty_store();
  // Copies every key this node holds to its owners in the ring without this
  // node. Resolves when done or after `limit`.
  kj::Promise<void> drain(kj::Duration limit);

 private:
  struct Pass;
  struct PlannedCopy {
    std::string target;  // node name
    std::string key;
    std::size_t shard;  // whose loop reads the item
    bool tombstone = false;  // send the key's tombstone, not its item
  };
  using Plan = std::vector<PlannedCopy>;
  struct ItemCopy {
    std::string key;
    std::string value;
    std::uint64_t version;
    std::uint64_t ttl_ms;
    bool deleted = false;  // a tombstone: sent as a delete at `version`
  };
  void schedule();
  // Closes the read gate when a member seen dead is serving again with
  // the same boot id.
  void note_heals();
  // Closes the read gate for a while: a peer had this node dead, so the
  // heal is on its way. If no member comes back within a few graces (the
  // heal proper, whose pass then opens it), it opens again by itself.
  void close_gate_for_rumour();
  // Opens the read gate after `delay` unless another heal came since.
  void open_gate_after(kj::Duration delay, std::uint64_t generation);
  // Holds tombstones while the cluster is cut or unsettled, releases them
  // once it is whole and settled.
  void update_tombstone_hold();
  // stats' handoffPending: a pass running or a catch-up due, or reads
  // missing until handoffs land (the read gate): what a rolling restart
  // waits for before stopping the next node.
  void update_pending();
  bool cluster_whole() const;
  kj::Promise<void> hold_ticks();
  // Drops unowned copies after `delay`, unless the ring changes first.
  void arm_unowned_sweep(kj::Duration delay);
  // Resolves with how many copies it dropped.
  kj::Promise<std::size_t> drop_unowned(std::uint64_t generation);
  // A sweep armed at `generation` may go on: no pass ran or is due since.
  bool sweep_still_valid(std::uint64_t generation) const;
  struct UnownedSweep;
  kj::Promise<void> drop_unowned_from(std::shared_ptr<UnownedSweep> sweep, std::size_t shard,
                                      std::uint64_t cursor);
  // On the shard's loop: looks at up to a chunk of items from `cursor` and
  // erases those whose owners under `ring` (first `replicas` nodes) do not
  // include `self`. Returns where to go on (0: done) and how many it erased.
  static std::pair<std::uint64_t, std::size_t> drop_unowned_chunk(const HashRing& ring,
                                                                  std::size_t replicas,
                                                                  ShardState& shard,
                                                                  const std::string& self,
                                                                  std::uint64_t cursor);
  // Opens the filling window (ReadGate::note_fill): handoff copies received
  // soon make reads miss until the senders' catch-ups can have landed.
  // `why` (logged) when this node's store just started empty; nullptr to
  // extend the window once it is in a ring with peers.
  void expect_fill(const char* why);
  void start_if_needed();
  // Runs `pass` (running_ must be false) and handles its end.
  void launch(std::shared_ptr<Pass> pass);
  // Runs `done`'s plan again (catch-up), now or after the pass running.
  void catch_up(std::shared_ptr<const Pass> done);
  // Puts and deletes applied by every shard so far (for the drain's repeat).
  kj::Promise<std::uint64_t> writes_applied();
  kj::Promise<void> run(std::shared_ptr<Pass> pass);
  kj::Promise<void> make_plan(std::shared_ptr<Pass> pass);
  // On the shard's loop: the copies of its items this pass must send.
  static Plan plan_shard(const Pass& pass, std::size_t index, const ShardState& shard,
                         const std::string& self);
  kj::Promise<void> run_chunk(std::shared_ptr<Pass> pass);
  kj::Promise<void> send_chunk(std::shared_ptr<Pass> pass,
                               std::map<std::string, std::vector<ItemCopy>> outbox);
  std::vector<std::string> serving_names() const;
  // Boot id of each serving member, by name.
  std::map<std::string, std::uint64_t> serving_boots() const;
  // Serving members (not self) whose boot id changed since the last pass.
  std::set<std::string> restarted_since_last_pass(
      const std::map<std::string, std::uint64_t>& boots) const;

  NodeLoop& loop_;
  NodeContext& ctx_;
  PeerLinks& peers_;
  kj::Timer& timer_;
  std::vector<std::string> last_names_;  // the serving set the store was balanced for
  std::map<std::string, std::uint64_t> last_boots_;  // and their boot ids
  bool scheduled_ = false;
  bool running_ = false;
  bool again_ = false;
  bool draining_ = false;
  // The pass running now, for a drain to wait on.
  kj::Maybe<kj::ForkedPromise<void>> current_pass_;
  kj::Duration unowned_grace_;
  kj::Duration heal_grace_;
  // Members seen dead, with the boot id they had then.
  std::map<std::string, std::uint64_t> seen_dead_;
  // Members seen dead since the last pass started: clients left them out
  // of writes meanwhile, so the next pass refills them (Pass::refilled).
  std::set<std::string> lapsed_;
  std::uint64_t gate_generation_ = 0;  // bumped by each heal
  std::uint64_t dead_rumours_seen_ = 0;  // MemberTable::dead_rumours_refuted() handled
  bool gate_waits_for_pass_ = false;   // a heal's pass has yet to start or finish
  // The filling window is extended at this node's first pass with peers.
  bool fill_awaits_first_pass_ = false;
  std::uint64_t self_boot_ = 0;  // this node's boot id, to notice a forgotten store
  // Catch-ups that came due while a pass ran: they run after it.
  std::vector<std::shared_ptr<const Pass>> catch_ups_due_;
  std::size_t catch_ups_armed_ = 0;  // catch-ups waiting for their grace
  std::uint64_t sweep_generation_ = 0;  // a pass bumps it: sweeps armed before it are void
  kj::Own<kj::TaskSet::ErrorHandler> errors_;
  kj::TaskSet tasks_;
};

}  // namespace discache::node
