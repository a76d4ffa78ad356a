// The node's key -> value store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace discache::node {

enum class StoreStatus : std::uint8_t { ok, not_found, exists, version_mismatch, too_large, invalid };

enum class PutMode : std::uint8_t { upsert, if_absent, compare_and_set };

struct PutRequest {
  std::string_view key;
  std::string_view value;
  std::uint64_t ttl_ms = 0;  // 0: no expiry
  PutMode mode = PutMode::upsert;
  std::uint64_t expected_version = 0;
  std::uint64_t version = 0;  // 0: the store assigns one
};

struct StoreLimits {
  std::size_t max_key_bytes;
  std::size_t max_value_bytes;
};

// What a get sees. `value` points into the store: valid until the next
// mutation of the store, so copy it out at once.
struct ItemView {
  std::string_view value;
  std::uint64_t version;
};

struct PutResult {
  StoreStatus status;
  std::uint64_t version = 0;
};

// Single-owner: one thread (the node's event loop) uses it. Keys are hashed
// with std::hash here; the Engine issue replaces the map with a memory-bounded
// design behind the same calls.
class ItemStore {
 public:
  explicit ItemStore(StoreLimits limits) : limits_(limits) {}

  // The live item for `key`, or nullptr. `now_ms` decides expiry.
  const ItemView* find(std::string_view key, std::uint64_t now_ms);
  // Stores per `request`; `too_large` when key or value breaks a limit.
  PutResult put(const PutRequest& request, std::uint64_t now_ms);
  // Removes `key`; not_found when it held no live item.
  StoreStatus erase(std::string_view key, std::uint64_t now_ms);

  std::uint64_t items() const noexcept { return map_.size(); }
  std::uint64_t bytes() const noexcept { return bytes_; }
  const StoreLimits& limits() const noexcept { return limits_; }

 private:
  struct Item {
    std::string value;
    std::uint64_t version = 0;
    std::uint64_t expires_ms = 0;  // 0: never
    ItemView view;
  };
  // Heterogeneous lookup so a get does not build a std::string.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  using Map = std::unordered_map<std::string, Item, Hash, std::equal_to<>>;

  bool expired(const Item& item, std::uint64_t now_ms) const noexcept {
    return item.expires_ms != 0 && item.expires_ms <= now_ms;
  }
  void remove(Map::iterator it);
  std::uint64_t next_version(std::uint64_t now_ms);

  StoreLimits limits_;
  Map map_;
  std::uint64_t bytes_ = 0;
  std::uint64_t last_version_ = 0;
};

}  // namespace discache::node
