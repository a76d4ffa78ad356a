#include "hint_set.h"

namespace discache::detail {

void HintSet::add(std::string_view key, std::uint64_t version) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= max_hints_) {
      ++dropped_;
      return;
    }
    entries_.emplace(std::string(key), Entry{version, false});
    ++pending_count_;
    return;
  }
  Entry& entry = it->second;
  if (version <= entry.version) {
    return;  // an equal or newer tombstone is already owed
  }
  entry.version = version;
  if (entry.in_flight) {
    // The older one in flight no longer covers it: send again.
    entry.in_flight = false;
    ++pending_count_;
  }
}

std::vector<Hint> HintSet::take(std::size_t max_ops, std::size_t max_bytes) {
  std::vector<Hint> out;
  std::size_t bytes = 0;
  for (auto& [key, entry] : entries_) {
    if (out.size() >= max_ops || pending_count_ == 0) {
      break;
    }
    if (entry.in_flight) {
      continue;
    }
    if (!out.empty() && bytes + key.size() > max_bytes) {
      break;
    }
    bytes += key.size();
    entry.in_flight = true;
    --pending_count_;
    out.push_back(Hint{key, entry.version});
  }
  return out;
}

void HintSet::acknowledged(const std::vector<Hint>& hints) {
  for (const auto& hint : hints) {
    auto it = entries_.find(hint.key);
    if (it != entries_.end() && it->second.in_flight && it->second.version == hint.version) {
      entries_.erase(it);
    }
  }
}

void HintSet::lost(const std::vector<Hint>& hints) {
  for (const auto& hint : hints) {
    auto it = entries_.find(hint.key);
    if (it != entries_.end() && it->second.in_flight && it->second.version == hint.version) {
      it->second.in_flight = false;
      ++pending_count_;
    }
  }
}

}  // namespace discache::detail
