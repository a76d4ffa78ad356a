// ClientOptions::max_queued_bytes: what an application's submitted,
// unfinished operations may hold. Past it an operation completes at once
// with Errc::overloaded instead of piling up in the client's memory.
#include <doctest/doctest.h>
#include <asio/use_future.hpp>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "local_cluster.h"

namespace discache::testing {
namespace {

using namespace std::chrono_literals;

TEST_CASE("operations past max_queued_bytes fail with overloaded; the rest are served") {
  ClusterOptions options;
  options.nodes = 1;
  options.replicas = 1;
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  ClientOptions client_options;
  client_options.max_queued_bytes = 4ull << 20;
  client_options.deadline = 10s;
  auto client = cluster->connect_client(client_options);
  REQUIRE_MESSAGE(client, client.error().describe());

  // 40 puts of 1 MiB submitted at once: 40 MiB asked for, 4 MiB allowed.
  const std::string value(1024 * 1024 - 16, 'q');
  std::vector<std::future<VoidResult>> puts;
  for (int i = 0; i < 40; ++i) {
    puts.push_back(client->async_put("queued-" + std::to_string(i), value, {}, asio::use_future));
  }
  int stored = 0;
  int overloaded = 0;
  for (auto& put : puts) {
    REQUIRE(put.wait_for(20s) == std::future_status::ready);
    auto result = put.get();
    if (result) {
      ++stored;
    } else {
      CHECK_MESSAGE(result.error().is(Errc::overloaded), result.error().describe());
      overloaded += result.error().is(Errc::overloaded) ? 1 : 0;
    }
  }
  MESSAGE(stored, " stored, ", overloaded, " refused as overloaded");
  CHECK(stored >= 3);
  CHECK(overloaded >= 1);
  CHECK(stored + overloaded == 40);
  // Once they are done, the room is back.
  auto again = client->put("queued-again", value);
  CHECK_MESSAGE(again, again.error().describe());
}

}  // namespace
}  // namespace discache::testing
