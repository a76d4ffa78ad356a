// Records of deletes, so replication never resurrects a value.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "heal_state.h"

namespace discache::node {

// Event-loop thread only. A tombstone says "deleted at version V": a put or
// read repair carrying an older version is refused while it lasts, and
// handoffs carry it to new owners (Rebalancer). How long it lasts is
// `expiry`'s rule (shared by every shard, set by the rebalancer): its
// lifetime, and longer while the cluster is cut or unsettled. They are
// bounded in number; past the bound the oldest go first, live or not.
class Tombstones {
 public:
  Tombstones(const TombstoneExpiry& expiry, std::size_t max_entries)
      : expiry_(expiry), max_entries_(max_entries) {}

  // Records a delete of `key` at `version` (keeps the newer of two).
  void add(std::string_view key, std::uint64_t version, std::uint64_t now_ms);
  // The version `key` was deleted at, or 0 when there is no live tombstone.
  std::uint64_t version(std::string_view key, std::uint64_t now_ms) const;
  // A newer write replaced the delete.
  void erase(std::string_view key);
  // Drops expired tombstones, at most `max` of them (bounded work per call).
  void sweep(std::uint64_t now_ms, std::size_t max);
  // Visits up to `max` live tombstones from `cursor` (0: the start), oldest
  // first; returns where to resume (0: finished). Tombstones added during a
  // scan come after every cursor, so a scan run to its end sees them;
  // `visit` must not add or erase.
  std::uint64_t scan(std::uint64_t cursor, std::size_t max, std::uint64_t now_ms,
                     const std::function<void(std::string_view key, std::uint64_t version)>& visit)
      const;

  std::size_t size() const { return map_.size(); }
  // Live tombstones dropped by the count bound before they expired.
  std::uint64_t dropped_live() const { return dropped_live_; }

  // For anti-entropy: the highest version of a tombstone this set has
  // forgotten (dropped over the bound, or expired by `now_ms`), 0 if none.
  // A value older than it that this shard lacks may have been deleted
  // here; a newer one was not. O(expired tombstones not yet swept).
  std::uint64_t forgotten_version(std::uint64_t now_ms) const;

  // For anti-entropy's digests: calls visit(key, version) for every live
  // tombstone, in no particular order. Read-only, O(size()) in one go.
  template <typename Visit>
  void visit_live(std::uint64_t now_ms, Visit&& visit) const {
    for (const auto& [key, entry] : map_) {
      if (!expiry_.expired(entry.added_ms, now_ms)) {
        visit(std::string_view(key), entry.version);
      }
    }
  }

 private:
  struct Entry {
    std::uint64_t version;
    std::uint64_t added_ms;
    std::uint64_t seq;  // which record in order_ is this entry's
  };
  struct Record {
    std::string key;
    std::uint64_t added_ms;
    std::uint64_t seq;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  // Removes order_'s front record, and its map entry if still current
  // (remembering its version in forgotten_).
  void pop_front();

  const TombstoneExpiry& expiry_;
  std::size_t max_entries_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> map_;
  // Insertion order = expiry order (one lifetime for all), numbered by seq
  // without gaps; records whose map entry was replaced or erased are
  // skipped.
  std::deque<Record> order_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t dropped_live_ = 0;
  // The highest version of a tombstone dropped so far (expired or over the
  // bound): see forgotten_version().
  std::uint64_t forgotten_ = 0;
};

}  // namespace discache::node
