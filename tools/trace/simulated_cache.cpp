#include "simulated_cache.h"

#include <stdexcept>

namespace discache::trace {
namespace {

node::StoreLimits limits_for(std::uint64_t memory_bytes, node::EvictionPolicy policy) {
  node::StoreLimits limits{.max_key_bytes = 1024, .max_value_bytes = 1 << 20};
  limits.memory_bytes = memory_bytes;
  limits.eviction = policy;
  return limits;
}

}  // namespace

SimulatedCache::SimulatedCache(std::uint64_t memory_bytes, node::EvictionPolicy policy)
    : store_(limits_for(memory_bytes, policy)) {}

bool SimulatedCache::get(std::string_view key) {
  return store_.find(key, kNowMs) != nullptr;
}

void SimulatedCache::set(std::string_view key, std::string_view value) {
  const auto result = store_.put(node::PutRequest{.key = key, .value = value}, kNowMs);
  if (result.status != node::StoreStatus::ok) {
    throw std::runtime_error("the simulated store refused a put");
  }
}

std::string SimulatedCache::summary() {
  return "policy=" + std::string(node::to_string(store_.limits().eviction)) +
         " items=" + std::to_string(store_.items()) +
         " memory_used=" + std::to_string(store_.memory_used()) +
         " memory_limit=" + std::to_string(store_.memory_limit()) +
         " evictions=" + std::to_string(store_.evictions());
}

}  // namespace discache::trace
