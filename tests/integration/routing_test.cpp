// Keys live on the node the ring names, and every process computes the same ring.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "ctl_command.h"
#include "expected_text.h"
#include "json_value.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

struct Owner {
  std::string name;
  std::string address;
  bool operator==(const Owner&) const = default;
};

// `discache-ctl --seed SEED owners KEY --json`, read back; empty on failure
// (the failure is reported through doctest).
std::vector<Owner> ctl_owners(const std::string& seed, const std::string& key) {
  auto run = run_ctl({"--seed", seed, "owners", key, "--json"});
  INFO("discache-ctl owners ", key, ": ", run);
  CHECK(run.exit_code() == 0);
  auto doc = parse_json(run.out);
  CHECK_MESSAGE(doc, why(doc));
  std::vector<Owner> out;
  if (doc) {
    CHECK((*doc)["key"].as_string() == key);
    CHECK((*doc)["owners"].is_array());
    for (const auto& row : (*doc)["owners"].items()) {
      out.push_back({row["name"].as_string(), row["address"].as_string()});
    }
  }
  return out;
}

std::vector<Owner> client_owners(discache::Client& client, const std::string& key) {
  std::vector<Owner> out;
  for (const auto& m : client.owners(key)) {
    out.push_back({m.name, m.address});
  }
  return out;
}

// Puts 12 keys with discache-ctl, then asks every node directly (--node):
// each key must be on exactly the nodes `discache-ctl owners` names.
void check_keys_live_only_on_their_owners(LocalCluster& cluster, std::size_t expected_copies) {
  const std::string seed = cluster.seed_address();
  std::map<std::string, int> keys_per_first_owner;
  // Each key costs five discache-ctl processes (put, owners, three gets);
  // 12 keys give every node of the fixed ring some first-owner keys.
  constexpr int kKeys = 12;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "route-key-" + std::to_string(i);
    const std::string value = "value-" + std::to_string(i);
    INFO("key ", key);

    auto put = run_ctl({"--seed", seed, "put", key, value});
    INFO("put: ", put);
    REQUIRE(put.exit_code() == 0);
    CHECK(put.out == "ok\n");

    auto owners = ctl_owners(seed, key);
    REQUIRE(owners.size() == expected_copies);
    ++keys_per_first_owner[owners[0].name];

    for (std::size_t n = 0; n < cluster.size(); ++n) {
      const auto& node = cluster.node(n);
      auto get = run_ctl({"--node", node.address(), "get", key});
      INFO("get from ", node.name(), ": ", get);
      auto owner = std::find_if(owners.begin(), owners.end(),
                                [&](const Owner& o) { return o.name == node.name(); });
      if (owner != owners.end()) {
        CHECK(owner->address == node.address());
        CHECK(get.exit_code() == 0);
        CHECK(get.out == value + "\n");
      } else {
        CHECK(get.exit_code() == 1);
        CHECK(get.out.empty());
        CHECK(get.err.find("not found") != std::string::npos);
      }
    }
  }
  // Every node is the first owner of some keys. The ring depends only on the
  // node names, which are fixed, so this holds on every run.
  for (std::size_t n = 0; n < cluster.size(); ++n) {
    INFO("node ", cluster.node(n).name());
    CHECK(keys_per_first_owner[cluster.node(n).name()] > 0);
  }
}

}  // namespace

TEST_CASE("a key put with discache-ctl is stored only on the node `owners` names") {
  ClusterOptions options;
  options.replicas = 1;
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  check_keys_live_only_on_their_owners(*cluster, 1);
}

TEST_CASE("with two replicas, a key put with discache-ctl is on exactly its two owners") {
  ClusterOptions options;
  options.replicas = 2;
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  check_keys_live_only_on_their_owners(*cluster, 2);
}

TEST_CASE("discache-ctl in another process and Clients with different seeds agree on owners") {
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());

  discache::ClientOptions options;
  auto via_node0 = cluster->connect_client(options);
  REQUIRE_MESSAGE(via_node0, why(via_node0));
  options.seeds = {cluster->node(2).address()};
  auto via_node2 = discache::Client::connect(options);
  REQUIRE_MESSAGE(via_node2, why(via_node2));

  // Both clients see the whole cluster (start() waited for convergence).
  REQUIRE(via_node0->members().members.size() == 3);
  REQUIRE(via_node2->members().members.size() == 3);

  SUBCASE("discache-ctl seeded with node 1 against a Client seeded with node 0") {
    std::set<std::string> owners_seen;
    for (int i = 0; i < 20; ++i) {
      const std::string key = "agree-" + std::to_string(i);
      INFO("key ", key);
      auto from_ctl = ctl_owners(cluster->node(1).address(), key);
      auto from_client = client_owners(*via_node0, key);
      REQUIRE(!from_client.empty());
      CHECK(from_ctl == from_client);
      owners_seen.insert(from_client[0].name);
    }
    CHECK(owners_seen.size() == 3);
  }

  SUBCASE("two Clients in one process, seeded with different nodes") {
    const auto deadline = Clock::now() + 30s;
    int compared = 0;
    for (int i = 0; i < 2000 && Clock::now() < deadline; ++i, ++compared) {
      const std::string key = "in-process-" + std::to_string(i);
      auto a = client_owners(*via_node0, key);
      auto b = client_owners(*via_node2, key);
      if (a != b || a.empty()) {
        FAIL_CHECK("owners differ for ", key);
      }
    }
    CHECK(compared == 2000);
    auto ring_a = via_node0->ring();
    auto ring_b = via_node2->ring();
    REQUIRE(ring_a.nodes.size() == 3);
    REQUIRE(ring_b.nodes.size() == 3);
    for (std::size_t n = 0; n < 3; ++n) {
      CHECK(ring_a.nodes[n].name == ring_b.nodes[n].name);
      CHECK(ring_a.nodes[n].address == ring_b.nodes[n].address);
      CHECK(ring_a.nodes[n].share == ring_b.nodes[n].share);
    }
  }
}
