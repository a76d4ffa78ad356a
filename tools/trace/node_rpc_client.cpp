#include "node_rpc_client.h"

#include <kj/debug.h>

#include <algorithm>
#include <stdexcept>

#include "discache.capnp.h"
#include "size_limits.h"
#include "wire_text.h"

namespace discache::trace {

NodeRpcClient::NodeRpcClient(kj::AsyncIoContext& io, const Endpoint& endpoint)
    : io_(io),
      connection_(NodeConnection::connect(io.provider->getNetwork(), endpoint, "", "discache-trace")
                      .wait(io.waitScope)) {}

NodeRpcClient::~NodeRpcClient() noexcept = default;

bool NodeRpcClient::get(std::string_view key) {
  auto request = connection_->node().getRequest();
  request.setKey(data_of(key));
  auto response = request.send().wait(io_.waitScope);
  return response.getResult().getStatus() == wire::Status::OK;
}

void NodeRpcClient::set(std::string_view key, std::string_view value) {
  auto request = connection_->node().putRequest();
  request.setKey(data_of(key));
  request.setValue(data_of(value));
  auto response = request.send().wait(io_.waitScope);
  if (response.getResult().getStatus() != wire::Status::OK) {
    throw std::runtime_error("node refused a put: " + to_std(response.getResult().getMessage()));
  }
}

void NodeRpcClient::set_many(const std::vector<std::pair<std::string, std::string>>& items) {
  // Up to kInFlight batches outstanding: enough to keep the node busy
  // without queueing unboundedly on either side.
  constexpr std::size_t kInFlight = 4;
  std::size_t next = 0;
  kj::Vector<kj::Promise<void>> in_flight;
  auto check = [](capnp::Response<wire::Node::BatchResults>&& response) {
    for (auto result : response.getResults()) {
      if (result.getStatus() != wire::Status::OK) {
        throw std::runtime_error("node refused a put: " + to_std(result.getMessage()));
      }
    }
  };
  while (next < items.size() || !in_flight.empty()) {
    while (next < items.size() && in_flight.size() < kInFlight) {
      const std::size_t count = std::min(limits::kMaxBatchOps, items.size() - next);
      auto request = connection_->node().batchRequest();
      auto ops = request.initOps(static_cast<unsigned>(count));
      for (std::size_t i = 0; i < count; ++i) {
        ops[static_cast<unsigned>(i)].setKey(data_of(items[next + i].first));
        ops[static_cast<unsigned>(i)].initPut().setValue(data_of(items[next + i].second));
      }
      next += count;
      in_flight.add(request.send().then(check));
    }
    // Wait for the oldest batch, keeping the others going.
    auto oldest = kj::mv(in_flight[0]);
    kj::Vector<kj::Promise<void>> rest;
    for (std::size_t i = 1; i < in_flight.size(); ++i) {
      rest.add(kj::mv(in_flight[i]));
    }
    in_flight = kj::mv(rest);
    oldest.wait(io_.waitScope);
  }
}

std::string NodeRpcClient::summary() {
  auto response = connection_->node().statsRequest().send().wait(io_.waitScope);
  auto s = response.getStats();
  return "items=" + std::to_string(s.getItems()) + " bytes=" + std::to_string(s.getBytes()) +
         " memory_used=" + std::to_string(s.getMemoryUsed()) +
         " memory_limit=" + std::to_string(s.getMemoryLimit()) +
         " rss=" + std::to_string(s.getRssBytes()) +
         " evictions=" + std::to_string(s.getEvictions());
}

}  // namespace discache::trace
