// Short-lived records of deletes, so replication never resurrects a value.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

namespace discache::node {

// Event-loop thread only. A tombstone says "deleted at version V": a put or
// read repair carrying an older version is refused while it lasts. They are
// kept for a fixed time (long enough for in-flight repairs and handoffs to
// land) and bounded in number; the oldest go first.
class Tombstones {
 public:
  Tombstones(std::uint64_t ttl_ms, std::size_t max_entries)
      : ttl_ms_(ttl_ms), max_entries_(max_entries) {}

  // Records a delete of `key` at `version` (keeps the newer of two).
  void add(std::string_view key, std::uint64_t version, std::uint64_t now_ms);
  // The version `key` was deleted at, or 0 when there is no live tombstone.
  std::uint64_t version(std::string_view key, std::uint64_t now_ms) const;
  // A newer write replaced the delete.
  void erase(std::string_view key);
  // Drops expired tombstones, at most `max` of them (bounded work per call).
  void sweep(std::uint64_t now_ms, std::size_t max);

  std::size_t size() const { return map_.size(); }

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
      if (entry.expires_ms > now_ms) {
        visit(std::string_view(key), entry.version);
      }
    }
  }

 private:
  struct Entry {
    std::uint64_t version;
    std::uint64_t expires_ms;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  std::uint64_t ttl_ms_;
  std::size_t max_entries_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> map_;
  // Insertion order = expiry order (one TTL for all); entries whose map
  // record was replaced or erased are skipped when they reach the front.
  std::deque<std::pair<std::string, std::uint64_t>> order_;
  std::uint64_t forgotten_ = 0;
};

}  // namespace discache::node
