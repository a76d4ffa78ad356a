// Per-connection limits of a node (--idle-timeout, --max-calls-in-flight):
// each is hit by a real peer over loopback, the node says so in its log,
// and a client whose connection the node closed for idleness gets its next
// op answered as if nothing happened.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "local_cluster.h"
#include "raw_rpc.h"
#include "wait_until.h"

namespace discache::testing {
namespace {

using namespace std::chrono_literals;

TEST_CASE("a client idle longer than --idle-timeout gets its next ops answered") {
  ClusterOptions options;
  options.nodes = 2;
  options.replicas = 1;  // each key has one owner: an op on a dead link would fail
  options.node_args = {"--idle-timeout", "1s"};
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  ClientOptions client_options;
  // Member-list refreshes would keep one link busy; let every link go idle.
  client_options.refresh_interval = 60s;
  auto client = cluster->connect_client(client_options);
  REQUIRE_MESSAGE(client, client.error().describe());

  auto write_and_read = [&](const std::string& round) {
    for (int i = 0; i < 20; ++i) {  // keys on both nodes
      const std::string key = "idle-" + std::to_string(i);
      auto put = client->put(key, round + std::to_string(i));
      REQUIRE_MESSAGE(put, key, ": ", put.error().describe());
      auto got = client->get(key);
      REQUIRE_MESSAGE(got, key, ": ", got.error().describe());
      CHECK(*got == round + std::to_string(i));
    }
  };
  write_and_read("before-");

  // Both nodes close the client's connections once they sit idle for 1 s.
  const std::string idle_line = "no message either way for 1s (--idle-timeout)";
  REQUIRE(wait_until(
      [&]() {
        return log_has(cluster->node(0), idle_line) && log_has(cluster->node(1), idle_line);
      },
      10s));
  // First try after the close: the client reconnects instead of failing or
  // marking the node down.
  write_and_read("after-");

  // Node-to-node links gossip every 250 ms, so they never go idle: no node
  // suspected the other meanwhile.
  for (std::size_t n = 0; n < 2; ++n) {
    CHECK_FALSE(log_has(cluster->node(n), "suspect"));
  }
}

TEST_CASE("a connection that says nothing is closed after --idle-timeout, not before") {
  ClusterOptions options;
  options.nodes = 1;
  options.replicas = 1;
  options.node_args = {"--idle-timeout", "1s"};
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  const int fd = connect_raw(cluster->node(0).address());
  REQUIRE(fd >= 0);
  const auto opened = Clock::now();
  CHECK_FALSE(closed_by_peer(fd, 700));
  CHECK(closed_by_peer(fd, 5000));
  CHECK(Clock::now() - opened >= 1s);
  close(fd);
  CHECK(wait_until([&]() { return log_has(cluster->node(0), "--idle-timeout"); }, 5s));
}

TEST_CASE("a peer that never finishes its calls is disconnected past --max-calls-in-flight") {
  ClusterOptions options;
  options.nodes = 1;
  options.replicas = 1;
  options.node_args = {"--max-calls-in-flight", "16"};
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  const std::string address = cluster->node(0).address();

  SUBCASE("within the limit, with Finish sent, the connection stays") {
    const int fd = connect_raw(address);
    REQUIRE(fd >= 0);
    std::string burst = bootstrap_message(0) + login_message(1, 0, "");
    for (std::uint32_t q = 2; q < 200; ++q) {
      // Each get is finished right away, as a real client does once it has
      // the answer: never more than a few open.
      burst += get_message(q, 1, "some-key") + finish_message(q);
    }
    REQUIRE(write_all(fd, burst));
    CHECK_FALSE(closed_by_peer(fd, 1000));
    close(fd);
    CHECK_FALSE(log_has(cluster->node(0), "calls in flight"));
  }
  SUBCASE("past the limit without Finish, it is closed with a log line") {
    const int fd = connect_raw(address);
    REQUIRE(fd >= 0);
    std::string burst = bootstrap_message(0) + login_message(1, 0, "");
    for (std::uint32_t q = 2; q < 40; ++q) {
      burst += get_message(q, 1, "some-key");
    }
    REQUIRE(write_all(fd, burst));
    CHECK(closed_by_peer(fd, 5000));
    close(fd);
    CHECK(wait_until(
        [&]() {
          return log_has(cluster->node(0), "more than 16 calls in flight (--max-calls-in-flight)");
        },
        5s));
  }
  // The node serves others throughout.
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  REQUIRE(client->put("after", "yes"));
  CHECK(client->get("after") == "yes");
}

TEST_CASE("an oversized frame ends only its connection, with a log line naming it") {
  ClusterOptions options;
  options.nodes = 1;
  options.replicas = 1;
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  const int fd = connect_raw(cluster->node(0).address());
  REQUIRE(fd >= 0);
  // One segment of 16 Mi words (128 MiB), over the 64 MiB message limit.
  std::string frame(8, '\0');
  frame[7] = 1;
  REQUIRE(write_all(fd, frame + std::string(4096, 'x')));
  CHECK(closed_by_peer(fd, 5000));
  close(fd);
  CHECK(wait_until([&]() { return log_has(cluster->node(0), "too large"); }, 5s));
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  REQUIRE(client->put("after", "yes"));
  CHECK(client->get("after") == "yes");
}

}  // namespace
}  // namespace discache::testing
