#include "tombstones.h"

#include <algorithm>

namespace discache::node {

void Tombstones::add(std::string_view key, std::uint64_t version, std::uint64_t now_ms) {
  auto it = map_.find(key);
  if (it != map_.end() && it->second.version >= version) {
    return;
  }
  const std::uint64_t seq = next_seq_++;
  if (it != map_.end()) {
    it->second = Entry{version, now_ms, seq};
  } else {
    map_.emplace(std::string(key), Entry{version, now_ms, seq});
  }
  order_.push_back(Record{std::string(key), now_ms, seq});
  while (map_.size() > max_entries_ && !order_.empty()) {
    const Record& oldest = order_.front();
    auto found = map_.find(oldest.key);
    if (found != map_.end() && found->second.seq == oldest.seq &&
        !expiry_.expired(oldest.added_ms, now_ms)) {
      ++dropped_live_;
    }
    pop_front();
  }
}

void Tombstones::pop_front() {
  const Record& front = order_.front();
  auto found = map_.find(front.key);
  if (found != map_.end() && found->second.seq == front.seq) {
    forgotten_ = std::max(forgotten_, found->second.version);
    map_.erase(found);
  }
  order_.pop_front();
}

std::uint64_t Tombstones::version(std::string_view key, std::uint64_t now_ms) const {
  auto it = map_.find(key);
  if (it == map_.end() || expiry_.expired(it->second.added_ms, now_ms)) {
    return 0;
  }
  return it->second.version;
}

void Tombstones::erase(std::string_view key) {
  auto it = map_.find(key);
  if (it != map_.end()) {
    map_.erase(it);  // its record in order_ is skipped later
  }
}

std::uint64_t Tombstones::forgotten_version(std::uint64_t now_ms) const {
  std::uint64_t forgotten = forgotten_;
  for (const Record& record : order_) {
    if (!expiry_.expired(record.added_ms, now_ms)) {
      break;  // insertion order is expiry order
    }
    auto found = map_.find(record.key);
    if (found != map_.end() && found->second.seq == record.seq) {
      forgotten = std::max(forgotten, found->second.version);
    }
  }
  return forgotten;
}

void Tombstones::sweep(std::uint64_t now_ms, std::size_t max) {
  for (std::size_t i = 0; i < max && !order_.empty(); ++i) {
    if (!expiry_.expired(order_.front().added_ms, now_ms)) {
      return;  // the rest are younger (or every one is held)
    }
    pop_front();
  }
}

std::uint64_t Tombstones::scan(
    std::uint64_t cursor, std::size_t max, std::uint64_t now_ms,
    const std::function<void(std::string_view key, std::uint64_t version)>& visit) const {
  if (order_.empty()) {
    return 0;
  }
  // Records are numbered without gaps, so a cursor is an index once the
  // records swept since are accounted for.
  const std::uint64_t first = order_.front().seq;
  std::size_t i = cursor > first ? static_cast<std::size_t>(cursor - first) : 0;
  for (std::size_t seen = 0; i < order_.size() && seen < max; ++i, ++seen) {
    const Record& record = order_[i];
    auto found = map_.find(record.key);
    if (found != map_.end() && found->second.seq == record.seq &&
        !expiry_.expired(record.added_ms, now_ms)) {
      visit(record.key, found->second.version);
    }
  }
  return i < order_.size() ? order_[i].seq : 0;
}

}  // namespace discache::node
