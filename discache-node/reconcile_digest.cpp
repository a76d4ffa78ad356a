#include "reconcile_digest.h"

#include <xxhash.h>

#include <algorithm>
#include <array>

namespace discache::node {
namespace {

// Calls visit(row) for every peer row that shares `key` with this node.
template <typename Visit>
void for_each_sharing_row(const ReconcileScope& scope, std::string_view key, Visit&& visit) {
  std::array<std::uint32_t, 16> owners{};  // --replicas is at most 16
  const std::size_t n =
      scope.ring.owners(key, std::span(owners.data(), std::min(scope.replicas, owners.size())));
  bool mine = false;
  for (std::size_t i = 0; i < n; ++i) {
    mine = mine || owners[i] == scope.self;
  }
  if (!mine) {
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const int row = scope.row_of[owners[i]];
    if (row >= 0) {
      visit(static_cast<std::size_t>(row));
    }
  }
}

}  // namespace

std::uint64_t reconcile_ring_id(const std::vector<std::string>& serving, std::size_t replicas) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  const std::uint64_t n = replicas;
  XXH3_64bits_update(state, &n, sizeof(n));
  for (const auto& name : serving) {
    XXH3_64bits_update(state, name.data(), name.size());
    XXH3_64bits_update(state, "", 1);  // "ab","c" differs from "a","bc"
  }
  const std::uint64_t id = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return id;
}

std::shared_ptr<const ReconcileScope> ReconcileScope::make(const std::vector<std::string>& serving,
                                                           std::size_t replicas,
                                                           const std::string& self,
                                                           const std::vector<std::string>& peers) {
  auto scope = std::make_shared<ReconcileScope>();
  scope->ring = HashRing(serving);
  scope->replicas = std::clamp<std::size_t>(replicas, 1, 16);
  scope->id = reconcile_ring_id(serving, scope->replicas);
  const auto& nodes = scope->ring.nodes();
  auto index_of = [&](const std::string& name) -> int {
    auto it = std::lower_bound(nodes.begin(), nodes.end(), name);
    return it != nodes.end() && *it == name ? static_cast<int>(it - nodes.begin()) : -1;
  };
  const int self_index = index_of(self);
  if (self_index < 0) {
    return nullptr;
  }
  scope->self = static_cast<std::uint32_t>(self_index);
  scope->row_of.assign(nodes.size(), -1);
  for (const auto& peer : peers) {
    const int index = index_of(peer);
    if (index < 0 || index == self_index) {
      return nullptr;
    }
    scope->row_of[static_cast<std::size_t>(index)] = static_cast<int>(scope->peers.size());
    scope->peers.push_back(static_cast<std::uint32_t>(index));
  }
  return scope;
}

std::uint64_t reconcile_entry_digest(KeyHash hash, std::uint64_t version, bool deleted) {
  const std::array<std::uint64_t, 3> fields{hash.value, version, deleted ? 1u : 0u};
  return XXH3_64bits(fields.data(), sizeof(fields));
}

void DigestTable::add(const DigestTable& other) {
  for (std::size_t i = 0; i < sums.size() && i < other.sums.size(); ++i) {
    sums[i] += other.sums[i];
  }
  entries += other.entries;
  key_bytes += other.key_bytes;
}

std::uint64_t digest_items(const ReconcileScope& scope, const ShardState& shard,
                           std::uint64_t cursor, std::size_t max_items, std::uint64_t now_ms,
                           DigestTable& table) {
  auto visit = [&](const ScannedItem& item) {
    const KeyHash hash = hash_key(item.key);
    const std::uint64_t digest = reconcile_entry_digest(hash, item.version, false);
    const std::uint32_t bucket = reconcile_bucket(hash, table.buckets);
    for_each_sharing_row(scope, item.key, [&](std::size_t row) {
      table.sums[row * table.buckets + bucket] += digest;
      ++table.entries;
      table.key_bytes += item.key.size();
    });
  };
  return shard.items.scan(cursor, max_items, now_ms, visit).next;
}

void digest_tombstones(const ReconcileScope& scope, const ShardState& shard, std::uint64_t now_ms,
                       DigestTable& table) {
  shard.tombstones.visit_live(now_ms, [&](std::string_view key, std::uint64_t version) {
    const KeyHash hash = hash_key(key);
    const std::uint64_t digest = reconcile_entry_digest(hash, version, true);
    const std::uint32_t bucket = reconcile_bucket(hash, table.buckets);
    for_each_sharing_row(scope, key, [&](std::size_t row) {
      table.sums[row * table.buckets + bucket] += digest;
      ++table.entries;
      table.key_bytes += key.size();
    });
  });
}

std::uint64_t collect_items(const ReconcileScope& scope, const ShardState& shard,
                            std::uint64_t cursor, std::size_t max_items, std::uint64_t now_ms,
                            std::uint32_t buckets, const std::unordered_set<std::uint32_t>& wanted,
                            std::vector<ReconcileEntry>& out) {
  auto visit = [&](const ScannedItem& item) {
    if (!wanted.contains(reconcile_bucket(hash_key(item.key), buckets))) {
      return;
    }
    for_each_sharing_row(scope, item.key, [&](std::size_t row) {
      if (row == 0) {
        out.push_back(ReconcileEntry{std::string(item.key), item.version, false});
      }
    });
  };
  return shard.items.scan(cursor, max_items, now_ms, visit).next;
}

void collect_tombstones(const ReconcileScope& scope, const ShardState& shard, std::uint64_t now_ms,
                        std::uint32_t buckets, const std::unordered_set<std::uint32_t>& wanted,
                        std::vector<ReconcileEntry>& out) {
  shard.tombstones.visit_live(now_ms, [&](std::string_view key, std::uint64_t version) {
    if (!wanted.contains(reconcile_bucket(hash_key(key), buckets))) {
      return;
    }
    for_each_sharing_row(scope, key, [&](std::size_t row) {
      if (row == 0) {
        out.push_back(ReconcileEntry{std::string(key), version, true});
      }
    });
  });
}

ReconcileAction reconcile_action(const ReconcileEntry* mine, const ReconcileEntry* theirs,
                                 std::uint64_t mine_forgotten, std::uint64_t theirs_forgotten) {
  // A tombstone is always worth copying; a value only if no delete the
  // lacking side may have forgotten can have superseded it.
  auto provable = [](const ReconcileEntry& e, std::uint64_t lacking_side_forgotten) {
    return e.deleted || e.version > lacking_side_forgotten;
  };
  if (mine != nullptr && theirs != nullptr) {
    if (mine->version > theirs->version) {
      return ReconcileAction::push;
    }
    if (theirs->version > mine->version) {
      return ReconcileAction::pull;
    }
    return ReconcileAction::none;
  }
  if (mine != nullptr) {
    return provable(*mine, theirs_forgotten) ? ReconcileAction::push : ReconcileAction::none;
  }
  if (theirs != nullptr) {
    return provable(*theirs, mine_forgotten) ? ReconcileAction::pull : ReconcileAction::none;
  }
  return ReconcileAction::none;
}

}  // namespace discache::node
