// State one node's event loop shares between its RPC server and its loops.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "item_store.h"
#include "member_table.h"
#include "member_watchers.h"

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
  // `log` gets one line per membership change; watchers are told too.
  NodeContext(Member self, std::uint32_t replicas, StoreLimits limits,
              MemberTable::ChangeLog log)
      : store(limits),
        watchers([this]() { return members.snapshot(MemberTable::Clock::now()); }),
        members(std::move(self), replicas, [this, log = std::move(log)](const std::string& what) {
          log(what);
          watchers.changed();
        }) {}

  ItemStore store;
  MemberWatchers watchers;  // before members: members' callback uses it
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
