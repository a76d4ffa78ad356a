#include "direct_nodes.h"

#include <algorithm>
#include <stdexcept>

#include "endpoint.h"
#include "node_connection.h"
#include "wire_text.h"

namespace discache::testing {

DirectNodes::DirectNodes() : io_(kj::setupAsyncIo()) {}

template <typename Body>
void DirectNodes::call(const std::string& address, Body&& body, kj::Duration timeout) {
  auto endpoint = parse_endpoint(address);
  if (!endpoint) {
    throw std::invalid_argument("bad address " + address);
  }
  auto done = NodeConnection::connect(io_.provider->getNetwork(), *endpoint, "", "direct-nodes")
                  .then([&body](kj::Own<NodeConnection> connection) {
                    return body(connection->node()).attach(kj::mv(connection));
                  });
  io_.provider->getTimer().timeoutAfter(timeout, kj::mv(done)).wait(io_.waitScope);
}

Held DirectNodes::get(const std::string& address, const std::string& key) {
  Held held;
  call(address, [&](wire::Node::Client node) {
    auto request = node.getRequest();
    request.setKey(data_of(key));
    return request.send().then([&held](auto response) {
      auto result = response.getResult();
      held.found = result.getStatus() == wire::Status::OK;
      held.version = result.getVersion();
      held.value = to_std(result.getValue());
    });
  });
  return held;
}

wire::Status DirectNodes::write(const std::string& address, const std::string& key,
                                const std::string* value, std::uint64_t version) {
  auto status = wire::Status::INVALID;
  call(address, [&](wire::Node::Client node) {
    auto request = node.batchRequest();
    auto op = request.initOps(1)[0];
    op.setKey(data_of(key));
    if (value != nullptr) {
      auto put = op.initPut();
      put.setValue(data_of(*value));
      put.initOptions().setVersion(version);
    } else {
      op.setDelete();
      op.setVersion(version);
    }
    return request.send().then(
        [&status](auto response) { status = response.getResults()[0].getStatus(); });
  });
  return status;
}

std::size_t DirectNodes::put_all(const std::string& address,
                                 const std::vector<VersionedPut>& puts) {
  std::size_t applied = 0;
  call(
      address,
      [&](wire::Node::Client node) {
        kj::Promise<void> chain = kj::READY_NOW;
        for (std::size_t begin = 0; begin < puts.size(); begin += 256) {
          const std::size_t end = std::min(puts.size(), begin + 256);
          chain = chain.then([node, &puts, &applied, begin, end]() mutable {
            auto request = node.batchRequest();
            auto ops = request.initOps(static_cast<unsigned>(end - begin));
            for (std::size_t i = begin; i < end; ++i) {
              auto op = ops[static_cast<unsigned>(i - begin)];
              op.setKey(data_of(puts[i].key));
              auto put = op.initPut();
              put.setValue(data_of(puts[i].value));
              put.initOptions().setVersion(puts[i].version);
            }
            return request.send().then([&applied](auto response) {
              for (auto result : response.getResults()) {
                applied += result.getStatus() == wire::Status::OK ? 1 : 0;
              }
            });
          });
        }
        return chain;
      },
      300 * kj::SECONDS);
  return applied;
}

DirectNodes::AntiEntropyFigures DirectNodes::anti_entropy(const std::string& address) {
  AntiEntropyFigures figures;
  call(address, [&](wire::Node::Client node) {
    return node.statsRequest().send().then([&figures](auto response) {
      auto stats = response.getStats();
      figures.rounds = stats.getAntiEntropyRounds();
      figures.repaired = stats.getAntiEntropyRepaired();
      figures.bytes = stats.getAntiEntropyBytes();
    });
  });
  return figures;
}

}  // namespace discache::testing
