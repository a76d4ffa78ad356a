#include "rebalancer.h"

#include <kj/debug.h>
#include <kj/vector.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <limits>
#include <map>

#include "hash_ring.h"
#include "wire_text.h"
#include "task_failures.h"

namespace discache::node {
namespace {

constexpr std::size_t kChunkItems = 256;  // copies sent per event-loop turn
constexpr auto kSendTimeout = 5 * kj::SECONDS;
// Items looked at per job of an unowned-copy sweep: the shard's loop serves
// between jobs, so a large store is swept without a long stall.
constexpr std::size_t kUnownedChunk = 4096;
// The longest wait between sweeps on a steady ring that found nothing.
constexpr kj::Duration kUnownedMaxRecheck = 10 * kj::MINUTES;
// How often the tombstone hold is looked at besides member-list changes: a
// dead member becomes dead for good with no change to tell us.
constexpr kj::Duration kHoldTick = 1 * kj::SECONDS;
// A node being filled misses reads this many heal graces after each handoff
// copy it receives: one for the sender's pass to finish and its clients to
// have learnt the ring, one for the catch-up's wait, one for the catch-up to
// land (ReadGate::note_fill).
constexpr std::int64_t kFillHoldGraces = 3;
// Handoff copies count as filling for this many graces after the node
// started (or forgot its store): long enough to meet its peers.
constexpr std::int64_t kFillWindowGraces = 10;
// And for this many after its first pass with peers: they learn of it
// within about a probe interval and start their passes 100 ms later, and
// the first chunk of a pass arrives at once (each copy extends the hold,
// so a long pass keeps the gate closed while it lasts). Short, so that a
// node restarted a little later in a rolling restart, whose copies make
// it miss too, is not gated again by copies meant for its co-owner.
constexpr std::int64_t kFillWindowAfterPassGraces = 2;

bool serving(MemberState state) {
  return state == MemberState::alive || state == MemberState::suspect;
}

}  // namespace

struct Rebalancer::Pass {
  HashRing old_ring;
  HashRing new_ring;
  std::map<std::string, Member> members;  // by name, for addresses
  // Owners under both rings that restarted (empty stores) or were seen dead
  // since the last pass (they missed writes; see lapsed_): they get copies
  // as if they were new owners, and never send.
  std::set<std::string> refilled;
  std::size_t replicas = 1;
  bool leaving = false;  // this node is going: send every key to its new owners
  // A repeat of an earlier pass's plan, for writes made to old owners by
  // clients that had not yet learnt the ring: it repeats no further.
  bool catch_up = false;
  // Every copy to send, planned in one turn per shard: a scan resumed
  // across turns would miss items that writes move in the index.
  Plan plan;
  std::size_t next = 0;
  std::uint64_t copies = 0;
  std::uint64_t deletes = 0;  // of `copies`, tombstones sent as deletes
  std::uint64_t failed = 0;
  // The read gate this pass opens when done (the heal it was started for),
  // unless a later heal bumped the generation.
  bool opens_gate = false;
  std::uint64_t gate_generation = 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

Rebalancer::Rebalancer(NodeLoop& loop, PeerLinks& peers, kj::Timer& timer,
                       kj::Duration unowned_grace, kj::Duration heal_grace)
    : loop_(loop),
      ctx_(loop.node()),
      peers_(peers),
      timer_(timer),
      last_names_{ctx_.name()},
      last_boots_{{ctx_.name(), ctx_.members.self().boot_id}},
      unowned_grace_(unowned_grace),
      heal_grace_(heal_grace),
      self_boot_(ctx_.members.self().boot_id),
      errors_(kj::heap<LogTaskFailures>("handoff task failed")),
      tasks_(*errors_) {
  arm_unowned_sweep(unowned_grace_);
  tasks_.add(hold_ticks());
}

std::vector<std::string> Rebalancer::serving_names() const {
  std::vector<std::string> names;
  for (const auto& m : ctx_.members.list().members) {
    if (serving(m.state)) {
      names.push_back(m.name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::map<std::string, std::uint64_t> Rebalancer::serving_boots() const {
  std::map<std::string, std::uint64_t> boots;
  for (const auto& m : ctx_.members.list().members) {
    if (serving(m.state)) {
      boots[m.name] = m.boot_id;
    }
  }
  return boots;
}

std::set<std::string> Rebalancer::restarted_since_last_pass(
    const std::map<std::string, std::uint64_t>& boots) const {
  std::set<std::string> restarted;
  for (const auto& [name, boot] : boots) {
    auto before = last_boots_.find(name);
    // 0: a node too old to say; self: we know our own store's state.
    if (before != last_boots_.end() && before->second != boot && boot != 0 &&
        before->second != 0 && name != ctx_.name()) {
      restarted.insert(name);
    }
  }
  return restarted;
}


void Rebalancer::membership_changed() {
  const std::uint64_t boot = ctx_.members.self().boot_id;
  if (boot != self_boot_) {
    self_boot_ = boot;
    // Forgot its store after a stall: peers refill it like a restarted node.
    const auto names = serving_names();
    if (names.size() > 1 || (names.size() == 1 && names.front() != ctx_.name())) {
      expect_fill("forgot its store after a stall");
    }
  }
  for (const auto& m : ctx_.members.list().members) {
    if (m.state == MemberState::dead) {
      lapsed_.insert(m.name);
    }
  }
  note_heals();
  schedule();
  update_tombstone_hold();
}

void Rebalancer::note_heals() {
  // Peers put this node back in their ring only once it has refuted their
  // "dead": closing the gate at the refutation means no client routed by a
  // healed view reaches it before the gate is shut, even when it has not
  // yet heard from the far side itself (it may learn the rumour from a
  // node on its own side).
  if (ctx_.members.dead_rumours_refuted() != dead_rumours_seen_) {
    dead_rumours_seen_ = ctx_.members.dead_rumours_refuted();
    close_gate_for_rumour();
  }
  for (const auto& m : ctx_.members.list().members) {
    if (m.name == ctx_.name()) {
      continue;
    }
    if (m.state == MemberState::dead) {
      seen_dead_[m.name] = m.boot_id;
      continue;
    }
    auto it = seen_dead_.find(m.name);
    if (it == seen_dead_.end()) {
      continue;
    }
    // Same boot id: the same process, with the copies it kept while cut off
    // (a new boot id is a restart with an empty store: a join, no gate).
    const bool healed = serving(m.state) && it->second == m.boot_id;
    seen_dead_.erase(it);
    if (!healed || draining_) {
      continue;  // a draining node runs no pass that could open the gate
    }
    ++gate_generation_;
    gate_waits_for_pass_ = true;
    std::cerr << "discache-node[" << ctx_.name() << "]: " << m.name
              << " is back (partition healed): reads miss until handoffs have landed"
              << std::endl;
    ctx_.heal.read_gate.close();
    update_pending();
  }
}

void Rebalancer::joining_with_empty_store() {
  expect_fill("started with an empty store among peers");
}

void Rebalancer::expect_fill(const char* why) {
  if (draining_) {
    return;
  }
  std::uint64_t window = kFillWindowAfterPassGraces;
  if (why != nullptr) {
    fill_awaits_first_pass_ = true;
    window = kFillWindowGraces;
    std::cerr << "discache-node[" << ctx_.name() << "]: " << why
              << ": reads miss for a while after each handoff copy it receives" << std::endl;
  }
  const auto grace_ms = static_cast<std::uint64_t>(heal_grace_ / kj::MILLISECONDS);
  ctx_.heal.read_gate.expect_fill_until(node_now_ms() + window * grace_ms,
                                        kFillHoldGraces * grace_ms);
}

void Rebalancer::close_gate_for_rumour() {
  if (draining_ || gate_waits_for_pass_) {
    return;  // closed already, until a pass that will run opens it
  }
  ++gate_generation_;
  std::cerr << "discache-node[" << ctx_.name()
            << "]: a peer had this node dead (partition healed?): reads miss until handoffs "
               "have landed"
            << std::endl;
  ctx_.heal.read_gate.close();
  update_pending();
  open_gate_after(4 * heal_grace_, gate_generation_);
}

void Rebalancer::open_gate_after(kj::Duration delay, std::uint64_t generation) {
  tasks_.add(timer_.afterDelay(delay).then([this, generation]() {
    if (generation != gate_generation_ || gate_waits_for_pass_ || !ctx_.heal.read_gate.closed()) {
      return;  // a later heal closed it again: its own pass opens it
    }
    ctx_.heal.read_gate.open();
    update_pending();
    std::cerr << "discache-node[" << ctx_.name() << "]: read gate open: serving reads again"
              << std::endl;
  }));
}

bool Rebalancer::cluster_whole() const {
  const auto now = MemberTable::Clock::now();
  for (const auto& m : ctx_.members.list().members) {
    if (m.name == ctx_.name()) {
      continue;
    }
    if (m.state == MemberState::suspect) {
      return false;
    }
    if (m.state == MemberState::dead && now - ctx_.members.last_heard(m.name) < kDeadForGood) {
      return false;
    }
  }
  return true;
}

void Rebalancer::update_pending() {
  ctx_.counters.handoff_pending = running_ || scheduled_ || catch_ups_armed_ > 0 ||
                                  !catch_ups_due_.empty() || ctx_.heal.read_gate.closed();
}

void Rebalancer::update_tombstone_hold() {
  update_pending();
  // Settled: whole, and the store balanced for the serving set (no pass due
  // or running), so every tombstone has been handed to its owners.
  const bool settled =
      cluster_whole() && !running_ && !scheduled_ && !draining_ && serving_names() == last_names_;
  auto& expiry = ctx_.heal.tombstone_expiry;
  if (!settled) {
    expiry.hold();
  } else if (expiry.held()) {
    // Counted from when the copies this node no longer owns are dropped
    // (--unowned-grace after the last pass; other nodes drop theirs at
    // about the same time): a tombstone must outlive every stale copy of
    // its key, and a client in its transition window still reads those.
    const auto grace_ms = static_cast<std::uint64_t>(unowned_grace_ / kj::MILLISECONDS);
    expiry.release(node_now_ms() + grace_ms);
  }
}

kj::Promise<void> Rebalancer::hold_ticks() {
  return timer_.afterDelay(kHoldTick).then([this]() {
    update_tombstone_hold();
    return hold_ticks();
  });
}

void Rebalancer::schedule() {
  if (scheduled_ || draining_) {
    return;
  }
  scheduled_ = true;
  update_pending();
  // Changes come in bursts (one per merged entry): settle first.
  tasks_.add(timer_.afterDelay(100 * kj::MILLISECONDS).then([this]() {
    scheduled_ = false;
    start_if_needed();
    update_pending();
  }));
}

void Rebalancer::start_if_needed() {
  if (running_) {
    again_ = true;
    return;
  }
  auto names = serving_names();
  auto boots = serving_boots();
  if (draining_) {
    return;
  }
  auto restarted = restarted_since_last_pass(boots);
  std::set<std::string> rejoined;
  for (const auto& name : lapsed_) {
    if (std::binary_search(names.begin(), names.end(), name)) {
      rejoined.insert(name);
    }
  }
  if (names == last_names_ && restarted.empty() && rejoined.empty()) {
    // Nothing to hand over, but a sweep may have stopped for this change.
    ++sweep_generation_;
    arm_unowned_sweep(unowned_grace_);
    if (gate_waits_for_pass_) {
      // Back before this node rebalanced without it: only the others'
      // handoffs can bring anything here.
      gate_waits_for_pass_ = false;
      open_gate_after(heal_grace_, gate_generation_);
    }
    update_tombstone_hold();
    return;
  }
  auto pass = std::make_shared<Pass>();
  pass->old_ring = HashRing(last_names_);
  pass->new_ring = HashRing(names);
  for (const auto& m : ctx_.members.list().members) {
    pass->members[m.name] = m;
  }
  pass->replicas = std::max<std::uint32_t>(1, ctx_.members.list().replicas);
  if (!restarted.empty()) {
    std::string list;
    for (const auto& name : restarted) {
      list += (list.empty() ? "" : ", ") + name;
    }
    std::cerr << "discache-node[" << ctx_.name() << "]: refilling " << list
              << " (restarted with an empty store)" << std::endl;
  }
  // Restarted (empty) and rejoined (missed writes while dead) members are
  // refilled alike.
  pass->refilled = std::move(restarted);
  pass->refilled.insert(rejoined.begin(), rejoined.end());
  // From now on only deaths after this pass's start count.
  std::erase_if(lapsed_, [&pass](const std::string& name) {
    auto it = pass->members.find(name);
    return it == pass->members.end() || it->second.state != MemberState::dead;
  });
  pass->opens_gate = gate_waits_for_pass_;
  pass->gate_generation = gate_generation_;
  last_names_ = std::move(names);
  last_boots_ = std::move(boots);
  ++ctx_.counters.handoff_runs;  // ring changes, not their catch-ups
  launch(std::move(pass));
}

namespace {
// A new pass with `done`'s rings and refills: its plan is made afresh.
template <typename Pass>
std::shared_ptr<Pass> repeat_of(const Pass& done) {
  auto pass = std::make_shared<Pass>();
  pass->old_ring = done.old_ring;
  pass->new_ring = done.new_ring;
  pass->members = done.members;
  pass->refilled = done.refilled;
  pass->replicas = done.replicas;
  pass->leaving = done.leaving;
  pass->catch_up = true;
  return pass;
}
}  // namespace

void Rebalancer::catch_up(std::shared_ptr<const Pass> done) {
  if (draining_) {
    return;  // the drain hands everything over itself
  }
  if (running_) {
    catch_ups_due_.push_back(std::move(done));  // never two passes at once
    return;
  }
  auto pass = repeat_of(*done);
  if (done->new_ring.nodes() != last_names_) {
    // The ring changed again since (a cluster forming, a rolling restart):
    // copy to the owners under the ring the store is balanced for now, or
    // keys written since would land on nodes that no longer own them.
    pass->new_ring = HashRing(last_names_);
    for (const auto& m : ctx_.members.list().members) {
      pass->members[m.name] = m;
    }
  }
  launch(std::move(pass));
}

void Rebalancer::launch(std::shared_ptr<Pass> pass) {
  running_ = true;
  update_tombstone_hold();
  ++sweep_generation_;
  auto current = run(pass)
                     .catch_([](kj::Exception&& e) {
                       // A pass that failed half way leaves copies for the
                       // next change or for read repair; it must not stop
                       // every later pass.
                       KJ_LOG(WARNING, "handoff pass failed", e.getDescription());
                     })
                     .fork();
  tasks_.add(current.addBranch().then([this, pass]() {
    running_ = false;
    current_pass_ = nullptr;
    if (pass->opens_gate && pass->gate_generation == gate_generation_) {
      // The other nodes started their passes for this heal within about a
      // probe interval of ours, and theirs take about as long: wait that
      // much more for their copies and deletes to reach us.
      gate_waits_for_pass_ = false;
      const auto took = std::chrono::steady_clock::now() - pass->started;
      open_gate_after(
          heal_grace_ +
              std::chrono::duration_cast<std::chrono::milliseconds>(took).count() *
                  kj::MILLISECONDS,
          gate_generation_);
    }
    if (fill_awaits_first_pass_ && !pass->catch_up && pass->new_ring.nodes().size() > 1) {
      // In a ring with peers at last: their passes for it start now.
      fill_awaits_first_pass_ = false;
      expect_fill(nullptr);
    }
    if (!pass->catch_up && !pass->leaving) {
      // Clients learn the new ring some milliseconds (at worst a refresh
      // interval) after us; until then they write to the old owners only,
      // after our copies left (or after our plan found nothing to send, and
      // a client on the new ring wrote the key to the new owner too). Once
      // they all have it, copy again.
      ++catch_ups_armed_;
      tasks_.add(timer_.afterDelay(heal_grace_).then([this, pass]() {
        --catch_ups_armed_;
        catch_up(pass);
        update_pending();
      }));
    }
    if (again_) {
      again_ = false;
      start_if_needed();
    }
    if (!running_ && !catch_ups_due_.empty()) {
      auto next = catch_ups_due_.front();
      catch_ups_due_.erase(catch_ups_due_.begin());
      catch_up(std::move(next));
    }
    if (!running_) {
      arm_unowned_sweep(unowned_grace_);
    }
    update_tombstone_hold();
  }));
  current_pass_ = kj::mv(current);
}

void Rebalancer::arm_unowned_sweep(kj::Duration delay) {
  const std::uint64_t generation = sweep_generation_;
  tasks_.add(timer_.afterDelay(delay).then([this, generation, delay]() -> kj::Promise<void> {
    if (!sweep_still_valid(generation)) {
      return kj::READY_NOW;  // the ring changed: the pass that followed re-arms
    }
    // While the ring stays the same, look again: a client with an
    // out-of-date view may have written a copy meanwhile. Such copies are
    // rare, so the wait doubles (up to kUnownedMaxRecheck) while sweeps find
    // none, and a sweep costs a whole scan.
    return drop_unowned(generation).then([this, generation, delay](std::size_t dropped) {
      if (sweep_still_valid(generation)) {
        arm_unowned_sweep(dropped > 0 ? unowned_grace_ : std::min(delay * 2, kUnownedMaxRecheck));
      }
    });
  }));
}

bool Rebalancer::sweep_still_valid(std::uint64_t generation) const {
  return generation == sweep_generation_ && !running_ && !scheduled_ && !draining_;
}

struct Rebalancer::UnownedSweep {
  std::uint64_t generation = 0;
  HashRing ring;
  std::size_t replicas = 1;
  std::size_t dropped = 0;
};

kj::Promise<std::size_t> Rebalancer::drop_unowned(std::uint64_t generation) {
  auto names = serving_names();
  const std::string& self = ctx_.name();
  if (names != last_names_ || std::find(names.begin(), names.end(), self) == names.end()) {
    return std::size_t{0};  // a pass is due first, or this node is not serving
  }
  auto sweep = std::make_shared<UnownedSweep>();
  sweep->ring = HashRing(names);
  // A client keeping more copies than --replicas said so at login.
  sweep->replicas = std::max<std::uint32_t>(
      {1, ctx_.members.list().replicas, ctx_.connections.widest_client_replicas.load()});
  sweep->generation = generation;
  return drop_unowned_from(sweep, 0, 0).then([this, sweep]() {
    ++ctx_.counters.unowned_sweeps;
    ctx_.counters.unowned_dropped += sweep->dropped;
    if (sweep->dropped > 0) {
      std::cerr << "discache-node[" << ctx_.name() << "]: dropped " << sweep->dropped
                << " copies of keys this node no longer owns" << std::endl;
    }
    return sweep->dropped;
  });
}

kj::Promise<void> Rebalancer::drop_unowned_from(std::shared_ptr<UnownedSweep> sweep,
                                                std::size_t shard, std::uint64_t cursor) {
  // Checked before every chunk: once the ring changes, what this sweep
  // calls unowned may be what the new ring just gave this node.
  if (shard == ctx_.loop_count() || !sweep_still_valid(sweep->generation)) {
    return kj::READY_NOW;
  }
  return loop_
      .run_on(shard,
              [&ctx = ctx_, shard, cursor, sweep]() {
                return drop_unowned_chunk(sweep->ring, sweep->replicas, *ctx.shards[shard],
                                          ctx.name(), cursor);
              })
      .then([this, sweep, shard](std::pair<std::uint64_t, std::size_t> step) {
        sweep->dropped += step.second;
        if (step.first == 0) {
          return drop_unowned_from(sweep, shard + 1, 0);
        }
        return drop_unowned_from(sweep, shard, step.first);
      });
}

std::pair<std::uint64_t, std::size_t> Rebalancer::drop_unowned_chunk(
    const HashRing& ring, std::size_t replicas, ShardState& shard, const std::string& self,
    std::uint64_t cursor) {
  const std::uint64_t now = node_now_ms();
  std::vector<std::uint32_t> owners(replicas);
  std::vector<std::string> unowned;
  auto visit = [&](const ScannedItem& item) {
    const std::size_t n = ring.owners(item.key, owners);
    for (std::size_t i = 0; i < n; ++i) {
      if (ring.nodes()[owners[i]] == self) {
        return;
      }
    }
    unowned.emplace_back(item.key);
  };
  // Between chunks, writes may move items past the cursor: a copy missed
  // now is caught by the next sweep.
  const std::uint64_t next = shard.items.scan(cursor, kUnownedChunk, now, visit).next;
  // Erased after the scan: erasing moves entries the scan has yet to visit.
  for (const std::string& key : unowned) {
    shard.items.erase(key, now);
  }
  return {next, unowned.size()};
}

kj::Promise<void> Rebalancer::drain(kj::Duration limit) {
  draining_ = true;
  ++sweep_generation_;
  auto pass = std::make_shared<Pass>();
  auto names = serving_names();
  const std::string& self = ctx_.name();
  if (std::find(names.begin(), names.end(), self) == names.end()) {
    names.push_back(self);  // we are `leaving` already: the old ring still has us
  }
  std::sort(names.begin(), names.end());
  auto without_self = names;
  std::erase(without_self, self);
  pass->old_ring = HashRing(names);
  pass->new_ring = HashRing(without_self);
  for (const auto& m : ctx_.members.list().members) {
    pass->members[m.name] = m;
  }
  pass->replicas = std::max<std::uint32_t>(1, ctx_.members.list().replicas);
  pass->leaving = true;
  ++ctx_.counters.handoff_runs;
  update_tombstone_hold();  // held from now on: this node is going
  if (gate_waits_for_pass_) {
    // No pass for the heal will start now; this drain hands everything over.
    gate_waits_for_pass_ = false;
    open_gate_after(heal_grace_, gate_generation_);
  }
  // Wait for a pass already running first: its copies are in flight.
  kj::Promise<void> previous = kj::READY_NOW;
  KJ_IF_MAYBE (current, current_pass_) {
    previous = current->addBranch();
  }
  running_ = true;
  // Clients that have not yet learnt that this node is leaving still write
  // to it while the pass runs, after their keys' copies left: if any write
  // arrived, hand everything over once more (bounded by `limit`).
  auto drained = previous.then([this]() { return writes_applied(); })
                     .then([this, pass](std::uint64_t before) {
                       return run(pass).then([this]() { return writes_applied(); })
                           .then([this, pass, before](std::uint64_t after) -> kj::Promise<void> {
                             if (after == before) {
                               return kj::READY_NOW;
                             }
                             std::cerr << "discache-node[" << ctx_.name() << "]: "
                                       << (after - before)
                                       << " writes arrived during the drain: handing over "
                                          "once more"
                                       << std::endl;
                             return run(repeat_of(*pass));
                           });
                     });
  return timer_.timeoutAfter(limit, kj::mv(drained))
      .catch_([](kj::Exception&& e) {
        std::cerr << "discache-node: drain did not finish: " << e.getDescription().cStr()
                  << std::endl;
      });
}

kj::Promise<std::uint64_t> Rebalancer::writes_applied() {
  kj::Vector<kj::Promise<std::uint64_t>> counts;
  for (std::size_t i = 0; i < ctx_.loop_count(); ++i) {
    counts.add(loop_.run_on(i, [&ctx = ctx_, i]() {
      const ShardCounters& counters = ctx.shards[i]->counters;
      return counters.puts + counters.deletes;
    }));
  }
  return kj::joinPromises(counts.releaseAsArray()).then([](kj::Array<std::uint64_t> each) {
    std::uint64_t total = 0;
    for (const std::uint64_t n : each) {
      total += n;
    }
    return total;
  });
}

kj::Promise<void> Rebalancer::run(std::shared_ptr<Pass> pass) {
  return make_plan(pass).then([this, pass]() { return run_chunk(pass); }).then([this, pass]() {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - pass->started)
                        .count();
    std::cerr << "discache-node[" << ctx_.name()
              << (pass->catch_up ? "]: handoff catch-up done: " : "]: handoff done: ")
              << pass->copies
              << " copies sent (" << pass->deletes << " of them deletes)"
              << (pass->failed ? ", " + std::to_string(pass->failed) + " failed" : "") << " in "
              << ms << " ms" << std::endl;
  });
}

kj::Promise<void> Rebalancer::make_plan(std::shared_ptr<Pass> pass) {
  // Each loop scans its own shard, all at once; the plan is merged here.
  kj::Vector<kj::Promise<Plan>> parts;
  for (std::size_t i = 0; i < ctx_.loop_count(); ++i) {
    parts.add(loop_.run_on(
        i, [&ctx = ctx_, i, pass]() { return plan_shard(*pass, i, *ctx.shards[i], ctx.name()); }));
  }
  return kj::joinPromises(parts.releaseAsArray()).then([pass](kj::Array<Plan> plans) {
    for (auto& part : plans) {
      pass->plan.insert(pass->plan.end(), std::make_move_iterator(part.begin()),
                        std::make_move_iterator(part.end()));
    }
    // Deletes first: a copy that lands late is a miss meanwhile, a delete
    // that lands late lets an older value be read. Then group by target so
    // each chunk makes few, full batch calls.
    std::stable_sort(pass->plan.begin(), pass->plan.end(), [](const auto& a, const auto& b) {
      if (a.tombstone != b.tombstone) {
        return a.tombstone;
      }
      return a.target < b.target;
    });
  });
}

Rebalancer::Plan Rebalancer::plan_shard(const Pass& pass, std::size_t index,
                                        const ShardState& shard, const std::string& self) {
  Plan plan;
  const std::uint64_t now = node_now_ms();
  std::vector<std::uint32_t> old_idx(pass.replicas);
  std::vector<std::uint32_t> new_idx(pass.replicas);
  // Items and tombstones go to the same targets: the new owners that were
  // not owners before. An item has one sender, the first old owner still
  // serving. A tombstone has every node holding it as a sender: when a cut
  // heals, each node walks its own sequence of rings (3, 4, 5, 6 nodes as
  // members come back one by one), so "the first old owner" of one node's
  // step may be a node on the other side whose own steps differ, and a
  // missed delete, unlike a missed copy, brings a value back. Each holder
  // sending to every owner new in each of its steps reaches every final
  // owner; duplicates cost a small op each and are refused as not newer.
  auto plan_key = [&](std::string_view key, bool tombstone) {
    const std::size_t n_old = pass.old_ring.owners(key, old_idx);
    const std::size_t n_new = pass.new_ring.owners(key, new_idx);
    auto old_name = [&](std::size_t i) -> const std::string& {
      return pass.old_ring.nodes()[old_idx[i]];
    };
    auto was_owner = [&](const std::string& name) {
      for (std::size_t i = 0; i < n_old; ++i) {
        if (old_name(i) == name) {
          return true;
        }
      }
      return false;
    };
    // A restarted owner holds nothing, a rejoined one missed writes: each
    // needs a copy as a new owner does, and never sends.
    auto refill = [&](const std::string& name) { return pass.refilled.count(name) > 0; };
    if (!pass.leaving && !tombstone) {
      // Only the first old owner still serving (and not being refilled, so
      // it has the key) sends; others stay quiet.
      const std::string* sender = nullptr;
      for (std::size_t i = 0; i < n_old && sender == nullptr; ++i) {
        auto it = pass.members.find(old_name(i));
        if (it != pass.members.end() && serving(it->second.state) && !refill(old_name(i))) {
          sender = &old_name(i);
        }
      }
      if (sender == nullptr || *sender != self) {
        return;
      }
    }
    for (std::size_t i = 0; i < n_new; ++i) {
      const std::string& target = pass.new_ring.nodes()[new_idx[i]];
      if (target != self && (pass.leaving || !was_owner(target) || refill(target))) {
        plan.push_back(PlannedCopy{target, std::string(key), index, tombstone});
      }
    }
  };
  std::uint64_t cursor = 0;
  do {
    cursor = shard.items
                 .scan(cursor, std::numeric_limits<std::size_t>::max(), now,
                       [&](const ScannedItem& item) { plan_key(item.key, false); })
                 .next;
  } while (cursor != 0);
  // Deletes the new owners may have missed (made while they were cut off,
  // or before they joined): without these, their older copies would come
  // back once the tombstones here expire.
  do {
    cursor = shard.tombstones.scan(cursor, std::numeric_limits<std::size_t>::max(), now,
                                   [&](std::string_view key, std::uint64_t) {
                                     plan_key(key, true);
                                   });
  } while (cursor != 0);
  return plan;
}

kj::Promise<void> Rebalancer::run_chunk(std::shared_ptr<Pass> pass) {
  // Read each item now, on its shard's loop: it may have changed or gone
  // since the plan was made.
  const std::size_t begin = pass->next;
  const std::size_t end = std::min(pass->plan.size(), begin + kChunkItems);
  pass->next = end;
  kj::Vector<kj::Promise<std::vector<std::pair<std::string, ItemCopy>>>> reads;
  for (std::size_t i = 0; i < ctx_.loop_count(); ++i) {
    reads.add(loop_.run_on(i, [&ctx = ctx_, i, pass, begin, end]() {
      const std::uint64_t now = node_now_ms();
      ShardState& shard = *ctx.shards[i];
      std::vector<std::pair<std::string, ItemCopy>> found;
      for (std::size_t p = begin; p < end; ++p) {
        const PlannedCopy& copy = pass->plan[p];
        if (copy.shard != i) {
          continue;
        }
        if (copy.tombstone) {
          if (const std::uint64_t version = shard.tombstones.version(copy.key, now)) {
            found.emplace_back(copy.target, ItemCopy{copy.key, {}, version, 0, true});
          }
          continue;
        }
        if (const ItemView* item = shard.items.find(copy.key, now)) {
          found.emplace_back(copy.target, ItemCopy{copy.key, std::string(item->value),
                                                   item->version, item->ttl_ms});
        }
      }
      return found;
    }));
  }
  return kj::joinPromises(reads.releaseAsArray())
      .then([this, pass](kj::Array<std::vector<std::pair<std::string, ItemCopy>>> found) {
        std::map<std::string, std::vector<ItemCopy>> outbox;
        for (auto& part : found) {
          for (auto& [target, copy] : part) {
            outbox[target].push_back(std::move(copy));
          }
        }
        return send_chunk(pass, std::move(outbox));
      });
}

kj::Promise<void> Rebalancer::send_chunk(std::shared_ptr<Pass> pass,
                                         std::map<std::string, std::vector<ItemCopy>> outbox) {
  kj::Vector<kj::Promise<void>> sends;
  for (auto& [target, copies] : outbox) {
    auto member = pass->members.find(target);
    if (member == pass->members.end()) {
      continue;
    }
    if (!pass->leaving) {
      // Only to a target alive now. A suspect one may be frozen: the batch
      // would wait in its socket and could land after the refill it gets
      // when it thaws (a new boot id), bringing back what was overwritten
      // or deleted meanwhile; a dead one is refilled when it returns, and
      // one that was only slow gets the catch-up's copies. A drain sends to
      // every target: its copies are the only ones.
      const auto& list = ctx_.members.list().members;
      const auto now = std::find_if(list.begin(), list.end(),
                                    [&target](const Member& m) { return m.name == target; });
      if (now == list.end() || now->state != MemberState::alive ||
          now->boot_id != member->second.boot_id) {
        continue;
      }
    }
    const std::size_t count = copies.size();
    const auto deletes = static_cast<std::size_t>(
        std::count_if(copies.begin(), copies.end(), [](const ItemCopy& c) { return c.deleted; }));
    // One retry: a first failure is often a connection that just went stale.
    auto copies_shared = std::make_shared<std::vector<ItemCopy>>(std::move(copies));
    // A catch-up's copies do not gate reads: they bring the writes the
    // gate waited for, and every client has the ring by then. Nor do a
    // drain's: they go to nodes that own the keys from now on whatever
    // their age, two of which may be new in a quick rolling restart, and
    // would then both miss; the drain's repeat brings what came meanwhile.
    const bool gates = !pass->catch_up && !pass->leaving;
    auto send_once = [this, copies_shared, gates, member = member->second]() {
      return peers_.link(member).then([copies_shared, gates](wire::Node::Client node) {
        auto request = node.batchRequest();
        auto ops = request.initOps(static_cast<unsigned>(copies_shared->size()));
        for (unsigned i = 0; i < copies_shared->size(); ++i) {
          const ItemCopy& copy = (*copies_shared)[i];
          ops[i].setKey(data_of(copy.key));
          if (copy.deleted) {
            ops[i].setDelete();
            ops[i].setVersion(copy.version);  // applied only over older copies
            continue;
          }
          auto put = ops[i].initPut();
          put.setValue(data_of(copy.value));
          auto options = put.initOptions();
          options.setVersion(copy.version);
          options.setTtlMs(copy.ttl_ms);
          options.setHandoff(gates);  // a node being filled gates reads on it
        }
        return request.send().ignoreResult();
      });
    };
    auto send = timer_.timeoutAfter(kSendTimeout, send_once())
                    .catch_([this, send_once, name = target](kj::Exception&&) {
                      peers_.drop(name);
                      return timer_.timeoutAfter(kSendTimeout, send_once());
                    });
    sends.add(kj::mv(send).then(
                      [this, pass, count, deletes]() {
                        pass->copies += count;
                        pass->deletes += deletes;
                        ctx_.counters.handoff_keys += count;
                      },
                      [this, pass, count, name = target](kj::Exception&&) {
                        pass->failed += count;
                        peers_.drop(name);
                      }));
  }
  return kj::joinPromises(sends.releaseAsArray()).then([this, pass]() -> kj::Promise<void> {
    if (pass->next >= pass->plan.size()) {
      return kj::READY_NOW;
    }
    // Yield between chunks so serving clients never waits behind a handoff.
    return kj::evalLater([this, pass]() { return run_chunk(pass); });
  });
}

}  // namespace discache::node
