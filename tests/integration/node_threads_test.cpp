// discache-node --threads N: N event loops on one port, each owning a shard
// of the keys; ops that land on a loop not owning their key are handed to
// the owner in batches.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "expected_text.h"
#include "local_cluster.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;

namespace {

constexpr std::size_t kKeys = 2000;

std::string key_of(std::size_t i) {
  return "threaded-" + std::to_string(i);
}
std::string value_of(std::size_t i) {
  return "value-" + std::to_string(i * 7919);
}

std::expected<LocalCluster, std::string> one_node(std::vector<std::string> args) {
  ClusterOptions options;
  options.nodes = 1;
  options.replicas = 1;
  options.name_prefix = "threads";
  options.node_args = std::move(args);
  return LocalCluster::start(options);
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

discache::NodeStats stats_of(discache::Client& client) {
  auto stats = client.stats();
  REQUIRE(stats.size() == 1);
  REQUIRE_MESSAGE(!stats[0].error, stats[0].error->describe());
  return stats[0];
}

}  // namespace

TEST_CASE("a 4-thread node serves every key, whichever thread a connection lands on") {
  auto cluster = one_node({"--threads", "4"});
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());

  // Several clients: each has its own connections (the I/O thread's, and
  // one per application thread for blocking reads), which the kernel
  // spreads over the node's four listening sockets.
  std::vector<discache::Client> clients;
  for (int i = 0; i < 4; ++i) {
    auto client = cluster->connect_client();
    REQUIRE_MESSAGE(client, why(client));
    clients.push_back(std::move(*client));
  }
  const auto before = stats_of(clients[0]);
  CHECK(before.threads == 4);

  std::vector<discache::KeyValue> items;
  for (std::size_t i = 0; i < kKeys; ++i) {
    items.push_back({key_of(i), value_of(i)});
  }
  auto stored = clients[0].multi_put(items);
  for (std::size_t i = 0; i < kKeys; ++i) {
    REQUIRE_MESSAGE(stored[i], key_of(i), ": ", stored[i].error().describe());
  }
  // About three quarters of the keys belong to the other three loops; one
  // connection's batches hand them over a handful of jobs at a time.
  const auto after_put = stats_of(clients[0]);
  const auto crossed = after_put.cross_thread_ops - before.cross_thread_ops;
  const auto hops = after_put.cross_thread_hops - before.cross_thread_hops;
  INFO("crossed ", crossed, " ops in ", hops, " hops");
  CHECK(crossed >= kKeys / 2);
  CHECK(hops >= 1);
  CHECK(crossed >= 10 * hops);
  CHECK(after_put.items == kKeys);

  // Every client reads every key back, batched and one at a time from
  // several application threads (blocking reads use single-key calls on
  // per-thread connections).
  for (auto& client : clients) {
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < kKeys; ++i) {
      keys.push_back(key_of(i));
    }
    auto got = client.multi_get(keys);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < kKeys; ++i) {
      if (!got[i] || *got[i] != value_of(i)) {
        ++wrong;
      }
    }
    CHECK(wrong == 0);
  }
  std::atomic<std::size_t> wrong_single{0};
  std::atomic<std::size_t> reads{0};
  std::vector<std::thread> readers;
  for (std::size_t t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      discache::Client& client = clients[t];
      for (std::size_t i = t; i < kKeys; i += 4) {
        auto got = client.get(key_of(i));
        auto present = client.has_key(key_of(i));
        if (!got || *got != value_of(i) || !present || !*present) {
          ++wrong_single;
        }
        ++reads;
      }
    });
  }
  for (auto& reader : readers) {
    reader.join();
  }
  CHECK(reads == kKeys);
  CHECK(wrong_single == 0);

  // Deletes from one client are seen by all, wherever their reads land.
  for (std::size_t i = 0; i < 100; ++i) {
    REQUIRE(clients[1].del(key_of(i)));
  }
  for (auto& client : clients) {
    std::size_t still_there = 0;
    for (std::size_t i = 0; i < 100; ++i) {
      auto got = client.get(key_of(i));
      if (got || !got.error().is(Errc::not_found)) {
        ++still_there;
      }
    }
    CHECK(still_there == 0);
  }
  const auto end = stats_of(clients[0]);
  CHECK(end.items == kKeys - 100);
  CHECK(end.deletes >= 100);
  CHECK(end.gets >= 2 * kKeys);
}

TEST_CASE("--threads: a shard needs 1 MiB, and a taken port is refused however many threads") {
  SUBCASE("too little memory for the threads asked for") {
    NodeConfig config;
    config.name = "thin";
    config.extra_args = {"--threads", "4", "--memory", "2MiB"};
    NodeProcess node(config);
    auto started = node.start();
    REQUIRE_FALSE(started);
    REQUIRE(node.last_exit());
    CHECK_FALSE(node.last_exit()->exited_with(0));
    CHECK(contains(node.log(), "--threads 4 needs at least 4 MiB of --memory"));
  }
  SUBCASE("a second multi-thread node cannot join a port another node holds") {
    auto cluster = one_node({"--threads", "2"});
    REQUIRE_MESSAGE(cluster, why(cluster));
    NodeConfig config;
    config.name = "intruder";
    config.port = cluster->node(0).port();
    config.extra_args = {"--threads", "2"};
    NodeProcess intruder(config);
    auto started = intruder.start();
    REQUIRE_FALSE(started);
    REQUIRE(intruder.last_exit());
    CHECK(intruder.last_exit()->exited_with(2));
    CHECK(contains(intruder.log(), "cannot listen on 127.0.0.1:" + std::to_string(config.port)));
    // The first node still has the port to itself and serves.
    auto client = cluster->connect_client();
    REQUIRE_MESSAGE(client, why(client));
    REQUIRE(client->put("still", "mine"));
    CHECK(client->get("still").value_or("") == "mine");
  }
}

TEST_CASE("a 3-thread node stopped with SIGTERM hands every shard's keys to their new owner") {
  ClusterOptions options;
  options.nodes = 2;
  options.replicas = 1;
  options.name_prefix = "drain";
  options.node_args = {"--threads", "3"};
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, why(client));
  std::vector<discache::KeyValue> items;
  for (std::size_t i = 0; i < 600; ++i) {
    items.push_back({key_of(i), value_of(i)});
  }
  for (const auto& stored : client->multi_put(items)) {
    REQUIRE_MESSAGE(stored, stored.error().describe());
  }
  auto stopped = cluster->node(1).stop();
  REQUIRE(stopped);
  CHECK(stopped->exited_with(0));
  // N=1: node 1's keys survive only if its drain read all three shards.
  std::size_t lost = 0;
  for (std::size_t i = 0; i < 600; ++i) {
    auto got = client->get(key_of(i));
    if (!got || *got != value_of(i)) {
      ++lost;
    }
  }
  CHECK(lost == 0);
}
