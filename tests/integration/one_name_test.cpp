// One name, one node: a node started under a live member's name is refused
// and exits non-zero, naming both; a node restarted elsewhere under its own
// name after the old one is gone takes it back; two that slipped in at once
// settle on one, without the name's address flipping.
#include <doctest/doctest.h>

#include <csignal>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

// The address `viewer` lists for `name` (alive or suspect), or "".
std::string address_of(const std::string& viewer, const std::string& name) {
  auto list = member_list_of(viewer);
  if (!list) {
    return "";
  }
  for (const auto& m : list->members) {
    if (m.name == name && (m.state == discache::MemberState::alive ||
                           m.state == discache::MemberState::suspect)) {
      return m.address;
    }
  }
  return "";
}

// True when every running node of `cluster` lists `name` at `address`.
bool all_list(LocalCluster& cluster, const std::string& name, const std::string& address) {
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (cluster.node(i).running() && address_of(cluster.node(i).address(), name) != address) {
      return false;
    }
  }
  return true;
}

// How `viewer` lists `name`, if it answers and lists it.
std::optional<discache::MemberState> state_of(const std::string& viewer, const std::string& name) {
  auto list = member_list_of(viewer);
  if (list) {
    for (const auto& m : list->members) {
      if (m.name == name) {
        return m.state;
      }
    }
  }
  return std::nullopt;
}

std::vector<std::string> keys_owned_by(discache::Client& client, const std::string& name,
                                       std::size_t count) {
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < count && i < 100000; ++i) {
    const std::string key = "one-name-" + std::to_string(i);
    for (const auto& owner : client.owners(key)) {
      if (owner.name == name) {
        keys.push_back(key);
        break;
      }
    }
  }
  return keys;
}

}  // namespace

TEST_CASE("a second node with a live node's name exits non-zero, naming both; reads stay right") {
  ClusterOptions options;
  options.nodes = 3;
  options.replicas = 2;
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  NodeProcess& holder = cluster->node(1);
  const auto keys = keys_owned_by(*client, holder.name(), 200);
  for (const auto& key : keys) {
    REQUIRE(client->put(key, "value of " + key));
  }

  NodeProcess impostor(NodeConfig{holder.name(), 0, {cluster->seed_address()}, {}});
  auto started = impostor.start();
  REQUIRE_MESSAGE(started, started.error());
  INFO("impostor: ", impostor.log());
  // Reads while it tries: every one returns what was written, and the name
  // never points anywhere else.
  std::size_t wrong = 0;
  int passes = 0;
  const bool exited = wait_until(
      [&]() {
        ++passes;
        for (const auto& key : keys) {
          auto got = client->get(key);
          wrong += got && *got == "value of " + key ? 0 : 1;
        }
        CHECK(all_list(*cluster, holder.name(), holder.address()));
        return !impostor.running();
      },
      10s);
  REQUIRE(exited);
  CHECK(wrong == 0);
  REQUIRE(impostor.last_exit());
  CHECK_FALSE(impostor.last_exit()->exited_with(0));
  CHECK_FALSE(impostor.last_exit()->signaled);
  // The message names the name and both addresses.
  const std::string log = impostor.log();
  CHECK(log.find("refused") != std::string::npos);
  CHECK(log.find(holder.name()) != std::string::npos);
  CHECK(log.find(holder.address()) != std::string::npos);
  CHECK(log.find(impostor.address()) != std::string::npos);
  CHECK(cluster->node(0).log().find("refused the node at " + impostor.address()) !=
        std::string::npos);
  // And afterwards: the holder is the name's node, everywhere, and serves.
  CHECK(all_list(*cluster, holder.name(), holder.address()));
  CHECK(holder.running());
  for (const auto& key : keys) {
    CHECK(client->get(key).value_or("(error)") == "value of " + key);
  }
  MESSAGE(passes, " read passes while the second node ran");
}

TEST_CASE("a node restarted at a new address after the old one is gone takes its name back") {
  ClusterOptions options;
  options.nodes = 3;
  options.replicas = 2;
  options.node_args = {"--probe-interval", "100ms", "--suspect-after", "500ms", "--dead-after",
                       "1200ms"};
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  NodeProcess& old = cluster->node(2);
  const std::string name = old.name();
  const std::string old_address = old.address();
  CHECK(old.kill().killed_by(SIGKILL));
  // Gone: silent for --suspect-after on the seed, which then lists it
  // suspect (or dead).
  REQUIRE(wait_until(
      [&]() {
        auto state = state_of(cluster->seed_address(), name);
        return state && *state != discache::MemberState::alive;
      },
      10s));

  NodeProcess moved(NodeConfig{name, 0, {cluster->seed_address()}, options.node_args});
  auto started = moved.start();
  REQUIRE_MESSAGE(started, started.error());
  INFO("moved: ", moved.log());
  REQUIRE(moved.address() != old_address);
  const bool taken_back = wait_until(
      [&]() {
        return all_list(*cluster, name, moved.address()) &&
               address_of(moved.address(), name) == moved.address();
      },
      10s);
  CHECK(taken_back);
  CHECK(moved.running());

  // Clients route its keys to it there.
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  REQUIRE(wait_until(
      [&]() {
        for (const auto& m : client->members().members) {
          if (m.name == name) {
            return m.address == moved.address();
          }
        }
        return false;
      },
      5s));
  const auto keys = keys_owned_by(*client, name, 20);
  for (const auto& key : keys) {
    CHECK(client->put(key, "moved " + key));
  }
  discache::ClientOptions direct;
  direct.seeds = {moved.address()};
  direct.direct = true;
  auto node = discache::Client::connect(direct);
  REQUIRE_MESSAGE(node, node.error().describe());
  for (const auto& key : keys) {
    CHECK(node->get(key).value_or("(error)") == "moved " + key);
  }
}

// Two joins under one name through two seeds at the same moment can both be
// accepted (neither seed knows the other node yet). Gossip then meets both
// entries: the one that wins the merge rule stays, the other node exits,
// and the name's address stops changing.
TEST_CASE("two nodes started at once with one name: one exits, the name settles on the other") {
  ClusterOptions options;
  options.nodes = 2;
  options.replicas = 2;
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  NodeProcess first(NodeConfig{"twin", 0, {cluster->node(0).address()}, {}});
  NodeProcess second(NodeConfig{"twin", 0, {cluster->node(1).address()}, {}});
  REQUIRE(first.start());
  REQUIRE(second.start());
  INFO("first: ", first.log());
  INFO("second: ", second.log());

  REQUIRE(wait_until([&]() { return !first.running() || !second.running(); }, 10s));
  NodeProcess& gone = first.running() ? second : first;
  NodeProcess& kept = first.running() ? first : second;
  REQUIRE(gone.last_exit());
  CHECK_FALSE(gone.last_exit()->exited_with(0));
  CHECK(gone.log().find(kept.address()) != std::string::npos);
  // Which way it went (a join refused, or gossip) depends on the timing.
  MESSAGE("the node that exited: ", gone.log());
  // Settled: every node (the survivor too) lists the twin at the survivor's
  // address, and keeps doing so.
  REQUIRE(wait_until(
      [&]() {
        return all_list(*cluster, "twin", kept.address()) &&
               address_of(kept.address(), "twin") == kept.address();
      },
      10s));
  const auto until = Clock::now() + 2s;
  while (Clock::now() < until) {
    CHECK(all_list(*cluster, "twin", kept.address()));
    std::this_thread::sleep_for(100ms);
  }
  CHECK(kept.running());
}
