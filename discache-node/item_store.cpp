#include "item_store.h"

namespace discache::node {

std::uint64_t ItemStore::next_version(std::uint64_t now_ms) {
  // Versions order writes: wall-clock microseconds, forced to grow.
  const std::uint64_t candidate = now_ms * 1000;
  last_version_ = candidate > last_version_ ? candidate : last_version_ + 1;
  return last_version_;
}

void ItemStore::remove(Map::iterator it) {
  bytes_ -= it->first.size() + it->second.value.size();
  map_.erase(it);
}

const ItemView* ItemStore::find(std::string_view key, std::uint64_t now_ms) {
  auto it = map_.find(key);
  if (it == map_.end()) {
    return nullptr;
  }
  if (expired(it->second, now_ms)) {
    remove(it);
    return nullptr;
  }
  it->second.view = ItemView{it->second.value, it->second.version};
  return &it->second.view;
}

PutResult ItemStore::put(const PutRequest& request, std::uint64_t now_ms) {
  if (request.key.empty()) {
    return {StoreStatus::invalid};
  }
  if (request.key.size() > limits_.max_key_bytes ||
      request.value.size() > limits_.max_value_bytes) {
    return {StoreStatus::too_large};
  }
  auto it = map_.find(request.key);
  if (it != map_.end() && expired(it->second, now_ms)) {
    remove(it);
    it = map_.end();
  }
  if (request.mode == PutMode::if_absent && it != map_.end()) {
    return {StoreStatus::exists, it->second.version};
  }
  if (request.mode == PutMode::compare_and_set &&
      (it == map_.end() || it->second.version != request.expected_version)) {
    return {it == map_.end() ? StoreStatus::not_found : StoreStatus::version_mismatch};
  }
  const std::uint64_t version = request.version != 0 ? request.version : next_version(now_ms);
  const std::uint64_t expires = request.ttl_ms == 0 ? 0 : now_ms + request.ttl_ms;
  if (it == map_.end()) {
    it = map_.emplace(std::string(request.key), Item{}).first;
    bytes_ += request.key.size();
  } else {
    bytes_ -= it->second.value.size();
  }
  it->second.value.assign(request.value);
  it->second.version = version;
  it->second.expires_ms = expires;
  bytes_ += request.value.size();
  return {StoreStatus::ok, version};
}

StoreStatus ItemStore::erase(std::string_view key, std::uint64_t now_ms) {
  auto it = map_.find(key);
  if (it == map_.end()) {
    return StoreStatus::not_found;
  }
  const bool was_live = !expired(it->second, now_ms);
  remove(it);
  return was_live ? StoreStatus::ok : StoreStatus::not_found;
}

}  // namespace discache::node
