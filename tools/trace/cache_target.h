// Something a trace can be replayed against: the in-process engine, a
// memcached, or a discache node. Read-through: get, and on a miss, set.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace discache::trace {

// One thread. Errors (a lost connection, a refused write) throw
// std::runtime_error: a replay cannot go on after one.
class CacheTarget {
 public:
  virtual ~CacheTarget() = default;

  // True on a hit.
  virtual bool get(std::string_view key) = 0;
  virtual void set(std::string_view key, std::string_view value) = 0;
  // Stores many items quickly (pipelined or batched where the target can);
  // returns when all are stored.
  virtual void set_many(const std::vector<std::pair<std::string, std::string>>& items) {
    for (const auto& [key, value] : items) {
      set(key, value);
    }
  }
  // The target's own counters after a run, "name=value" pairs on one line.
  virtual std::string summary() = 0;
};

}  // namespace discache::trace
