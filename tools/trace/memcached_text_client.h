// A minimal memcached text-protocol client (get, set, stats) over one
// blocking TCP connection, for replaying traces against Debian's memcached.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "cache_target.h"

namespace discache::trace {

class MemcachedTextClient final : public CacheTarget {
 public:
  // Connects to an IPv4 literal host (the benchmarks use 127.0.0.1).
  // Throws std::runtime_error when it cannot.
  MemcachedTextClient(const std::string& host, std::uint16_t port);
  ~MemcachedTextClient() override;
  MemcachedTextClient(const MemcachedTextClient&) = delete;
  MemcachedTextClient& operator=(const MemcachedTextClient&) = delete;

  bool get(std::string_view key) override;
  // "noreply": one write and no round trip, as a read-through client would.
  void set(std::string_view key, std::string_view value) override;
  // Pipelined noreply sets, then one round trip ("version") to know that
  // memcached has processed them all.
  void set_many(const std::vector<std::pair<std::string, std::string>>& items) override;
  std::string summary() override;

  // "STAT name value" lines of the `stats` command.
  std::map<std::string, std::string> stats();

 private:
  void send_all(std::string_view bytes);
  // One line without its "\r\n".
  std::string read_line();
  void skip_bytes(std::size_t count);
  void fill();
  void sync();

  int fd_ = -1;
  std::string in_;  // received, not yet consumed
  std::size_t in_at_ = 0;
  std::string out_;  // pending writes of set_many
};

}  // namespace discache::trace
