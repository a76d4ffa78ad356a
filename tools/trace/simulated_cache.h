// The real engine (ItemStore) in-process: the same memory accounting and
// code as a node, without the network, so a long trace replays in seconds.
#pragma once

#include "cache_target.h"
#include "item_store.h"

namespace discache::trace {

class SimulatedCache final : public CacheTarget {
 public:
  // `memory_bytes` and `policy` as discache-node --memory / --eviction.
  SimulatedCache(std::uint64_t memory_bytes, node::EvictionPolicy policy);

  bool get(std::string_view key) override;
  void set(std::string_view key, std::string_view value) override;
  std::string summary() override;

 private:
  node::ItemStore store_;
  // Time does not pass in a simulation (no TTLs are used).
  static constexpr std::uint64_t kNowMs = 1;
};

}  // namespace discache::trace
