// What loop 0 (the rebalancer) tells every shard about partitions: when
// tombstones may expire, and whether reads must miss until a heal's
// handoffs have landed.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>

namespace discache::node {

// Any thread (atomics): loop 0 writes, each shard's loop reads on every
// tombstone check. A tombstone may expire only while the cluster is whole
// and settled in this node's view (Rebalancer decides when): it then lives
// `lifetime` past the later of its delete and the release point the
// rebalancer gave (when stale copies of its key are gone). While held, none
// expires (the count bound still applies).
class TombstoneExpiry {
 public:
  static constexpr std::uint64_t kDefaultLifetimeMs = 60'000;

  explicit TombstoneExpiry(std::uint64_t lifetime_ms = kDefaultLifetimeMs)
      : lifetime_ms_(lifetime_ms) {}

  std::uint64_t lifetime_ms() const { return lifetime_ms_.load(std::memory_order_relaxed); }
  // --tombstone-lifetime: set before any loop serves.
  void set_lifetime_ms(std::uint64_t ms) { lifetime_ms_.store(ms, std::memory_order_relaxed); }

  // No tombstone expires until release().
  void hold() { settled_since_ms_.store(kHeld, std::memory_order_relaxed); }
  // Tombstones may expire again, `lifetime` past the later of their delete
  // and `since_ms` (wall clock, may be in the future).
  void release(std::uint64_t since_ms) {
    settled_since_ms_.store(since_ms, std::memory_order_relaxed);
  }
  bool held() const { return settled_since_ms_.load(std::memory_order_relaxed) == kHeld; }

  // Whether a tombstone recorded at `added_ms` has expired at `now_ms`.
  bool expired(std::uint64_t added_ms, std::uint64_t now_ms) const {
    const std::uint64_t since = settled_since_ms_.load(std::memory_order_relaxed);
    if (since == kHeld) {
      return false;
    }
    const std::uint64_t from = added_ms > since ? added_ms : since;
    return now_ms >= from + lifetime_ms();
  }

 private:
  static constexpr std::uint64_t kHeld = std::numeric_limits<std::uint64_t>::max();
  std::atomic<std::uint64_t> lifetime_ms_;
  // 0 at start: a node that has seen no partition keeps the plain lifetime.
  std::atomic<std::uint64_t> settled_since_ms_{0};
};

// Any thread (atomics, read on every get and has). Closed two ways:
// - by the rebalancer (close/open) when a member it had seen dead comes
//   back with the same boot id (a healed partition, or a node that was
//   frozen past --dead-after): this node's copies may be older than writes
//   and deletes made on the other side, so until the handoffs of that
//   change have landed, reads answer misses;
// - for a while after each handoff copy, on a node being filled (its store
//   started empty among peers, or it forgot it): a copy handed to it may be
//   older than a write a client that had not yet learnt the ring made to
//   the old owners only, until the senders' catch-up passes have landed.
//   The rebalancer opens the filling window (expect_fill_until); a shard
//   that receives a handoff copy within it keeps reads missing until
//   `fill_hold` past that copy (note_fill). No thread has to open it.
class ReadGate {
 public:
  void close() { closed_.store(true, std::memory_order_relaxed); }
  void open() { closed_.store(false, std::memory_order_relaxed); }
  // Closed by the rebalancer (a heal), whatever the filling window says.
  bool closed() const { return closed_.load(std::memory_order_relaxed); }
  // Whether reads miss at `now_ms` (node wall clock): closed, or a handoff
  // copy came less than the hold ago while filling.
  bool closed_at(std::uint64_t now_ms) const {
    return closed() || now_ms < filled_until_ms_.load(std::memory_order_relaxed);
  }

  // Loop 0: handoff copies that arrive before `until_ms` close the gate for
  // `hold_ms` each (set before any loop serves, or again after a forget).
  void expect_fill_until(std::uint64_t until_ms, std::uint64_t hold_ms) {
    fill_hold_ms_.store(hold_ms, std::memory_order_relaxed);
    fill_window_until_ms_.store(until_ms, std::memory_order_relaxed);
  }
  std::uint64_t fill_window_until_ms() const {
    return fill_window_until_ms_.load(std::memory_order_relaxed);
  }
  // Any shard, before applying a handoff copy at `now_ms`. Shards hold the
  // node's HealState const (they only read the rest), so these are mutable.
  void note_fill(std::uint64_t now_ms) const {
    if (now_ms >= fill_window_until_ms_.load(std::memory_order_relaxed)) {
      return;
    }
    const std::uint64_t until = now_ms + fill_hold_ms_.load(std::memory_order_relaxed);
    std::uint64_t seen = filled_until_ms_.load(std::memory_order_relaxed);
    while (until > seen && !filled_until_ms_.compare_exchange_weak(seen, until)) {
    }
  }

 private:
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> fill_window_until_ms_{0};
  std::atomic<std::uint64_t> fill_hold_ms_{0};
  mutable std::atomic<std::uint64_t> filled_until_ms_{0};
};

struct HealState {
  TombstoneExpiry tombstone_expiry;
  ReadGate read_gate;
};

}  // namespace discache::node
