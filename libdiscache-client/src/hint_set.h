// Writes a replica missed, owed to it as tombstones: pure logic, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace discache::detail {

// One owed tombstone: the replica must drop any copy of `key` at or below
// `version` (a missed delete's own version; for a missed put, the version
// just below it, so the put itself survives if it did arrive).
struct Hint {
  std::string key;
  std::uint64_t version = 0;
};

// The hints owed to one replica that a client skipped (it was marked down)
// or whose write failed. Sending a tombstone instead of the value keeps a
// hint small and can never bring back old data: the replica loses its stale
// copy, and the next read falls back to another replica and repairs it.
//
// A hint is pending until it is taken for sending, then in flight until it
// is acknowledged (forgotten) or lost (pending again). Per key only the
// newest version is kept. Bounded: past `max_hints` keys new hints are
// dropped and counted, so a replica that stays away cannot eat the client's
// memory. Not thread-safe (the client's I/O thread owns it).
class HintSet {
 public:
  explicit HintSet(std::size_t max_hints) : max_hints_(max_hints) {}

  // Records that the replica must drop `key` at or below `version`.
  void add(std::string_view key, std::uint64_t version);
  // Up to `max_ops` pending hints (and about `max_bytes` of keys), now in flight.
  std::vector<Hint> take(std::size_t max_ops, std::size_t max_bytes);
  // The replica answered for these: forget them unless a newer hint came since.
  void acknowledged(const std::vector<Hint>& hints);
  // The send failed: pending again (unless a newer hint came since).
  void lost(const std::vector<Hint>& hints);

  bool has_pending() const { return pending_count_ > 0; }
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  // Hints refused because the set was full.
  std::uint64_t dropped() const { return dropped_; }

 private:
  struct Entry {
    std::uint64_t version = 0;
    bool in_flight = false;
  };
  std::size_t max_hints_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::size_t pending_count_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace discache::detail
