// State one node's event loop shares between its RPC server and its loops.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "item_store.h"
#include "member_table.h"

namespace discache::node {

struct NodeCounters {
  std::uint64_t gets = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t puts = 0;
  std::uint64_t deletes = 0;
  std::uint64_t calls = 0;
  std::uint64_t batch_calls = 0;
  std::uint64_t connections = 0;
};

// Event-loop thread only.
struct NodeContext {
  NodeContext(Member self, std::uint32_t replicas, StoreLimits limits,
              MemberTable::ChangeLog log)
      : store(limits), members(std::move(self), replicas, std::move(log)) {}

  ItemStore store;
  MemberTable members;
  NodeCounters counters;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // Wall-clock milliseconds: item versions and expiry.
  static std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  }
};

}  // namespace discache::node
