// A trace target that talks to one discache node directly over its Cap'n
// Proto interface (no ring): get and put for replays, batch for bulk loads.
#pragma once

#include <kj/async-io.h>

#include <memory>

#include "cache_target.h"
#include "endpoint.h"
#include "node_connection.h"

namespace discache::trace {

// The thread that owns `io` only.
class NodeRpcClient final : public CacheTarget {
 public:
  // Connects and logs in; throws kj::Exception when the node is not there.
  NodeRpcClient(kj::AsyncIoContext& io, const Endpoint& endpoint);
  // noexcept: CacheTarget's destructor is; kj::Own's may throw while
  // unwinding, which ends a benchmark tool anyway.
  ~NodeRpcClient() noexcept override;

  bool get(std::string_view key) override;
  void set(std::string_view key, std::string_view value) override;
  // Batches of up to 256 puts, a few batches in flight.
  void set_many(const std::vector<std::pair<std::string, std::string>>& items) override;
  std::string summary() override;

 private:
  kj::AsyncIoContext& io_;
  kj::Own<NodeConnection> connection_;
};

}  // namespace discache::trace
