#include "tombstones.h"

#include <algorithm>

namespace discache::node {

void Tombstones::add(std::string_view key, std::uint64_t version, std::uint64_t now_ms) {
  const std::uint64_t expires = now_ms + ttl_ms_;
  auto it = map_.find(key);
  if (it != map_.end()) {
    if (it->second.version >= version) {
      return;
    }
    it->second = Entry{version, expires};
  } else {
    map_.emplace(std::string(key), Entry{version, expires});
  }
  order_.emplace_back(std::string(key), expires);
  while (map_.size() > max_entries_ && !order_.empty()) {
    auto& [old_key, old_expires] = order_.front();
    auto found = map_.find(old_key);
    if (found != map_.end() && found->second.expires_ms == old_expires) {
      forgotten_ = std::max(forgotten_, found->second.version);
      map_.erase(found);
    }
    order_.pop_front();
  }
}

std::uint64_t Tombstones::version(std::string_view key, std::uint64_t now_ms) const {
  auto it = map_.find(key);
  if (it == map_.end() || it->second.expires_ms <= now_ms) {
    return 0;
  }
  return it->second.version;
}

void Tombstones::erase(std::string_view key) {
  auto it = map_.find(key);
  if (it != map_.end()) {
    map_.erase(it);  // its entry in order_ is skipped later
  }
}

std::uint64_t Tombstones::forgotten_version(std::uint64_t now_ms) const {
  std::uint64_t forgotten = forgotten_;
  for (const auto& [key, expires] : order_) {
    if (expires > now_ms) {
      break;  // insertion order is expiry order
    }
    auto found = map_.find(key);
    if (found != map_.end() && found->second.expires_ms == expires) {
      forgotten = std::max(forgotten, found->second.version);
    }
  }
  return forgotten;
}

void Tombstones::sweep(std::uint64_t now_ms, std::size_t max) {
  for (std::size_t i = 0; i < max && !order_.empty(); ++i) {
    auto& [key, expires] = order_.front();
    if (expires > now_ms) {
      return;
    }
    auto found = map_.find(key);
    if (found != map_.end() && found->second.expires_ms == expires) {
      forgotten_ = std::max(forgotten_, found->second.version);
      map_.erase(found);
    }
    order_.pop_front();
  }
}

}  // namespace discache::node
