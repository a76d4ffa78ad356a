// Anti-entropy: a replica that missed a write or a delete converges within
// the anti-entropy period, without any client read to trigger a repair.
//
// The lost write is made by hand: a versioned put or delete sent straight
// to one owner over a raw node connection, as a client's write that reached
// W=1 owner before the client died (its hints lost with it) would leave the
// replicas. Then nothing reads the key through a client; the test only asks
// each owner directly what version it holds.
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "direct_nodes.h"
#include "local_cluster.h"
#include "reconcile_pairs.h"
#include "version_clock.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

// Keys owned by exactly `first` then `second`, in replica order.
std::vector<std::string> keys_owned_by(discache::Client& client, const std::string& first,
                                       const std::string& second, std::size_t count,
                                       const std::string& tag) {
  std::vector<std::string> keys;
  for (int i = 0; i < 100000 && keys.size() < count; ++i) {
    std::string key = "ae-" + tag + "-" + std::to_string(i);
    auto owners = client.owners(key);
    if (owners.size() == 2 && owners[0].name == first && owners[1].name == second) {
      keys.push_back(key);
    }
  }
  REQUIRE(keys.size() == count);
  return keys;
}

constexpr auto kInterval = 500ms;
// A few periods: the first round starts one period after the node did, and
// a machine busy with other tests may stretch one.
constexpr auto kConverge = 15s;

struct Pair {
  NodeProcess* a;
  NodeProcess* b;
};

ClusterOptions options_with_anti_entropy() {
  ClusterOptions options;
  options.nodes = 3;
  options.replicas = 2;
  options.node_args = {"--anti-entropy-interval", "500ms"};
  return options;
}

// Waits until `node` holds `key` at `version` (a value if `found`, else a
// tombstone at that version); says what it last saw if not.
void expect_converges(DirectNodes& direct, NodeProcess& node, const std::string& key, bool found,
                      std::uint64_t version, LocalCluster& cluster) {
  Held last;
  const bool ok = wait_until(
      [&]() {
        last = direct.get(node.address(), key);
        return last.found == found && last.version == version;
      },
      kConverge);
  INFO("key ", key, " on ", node.name(), ": found ", last.found, " version ", last.version,
       ", wanted found ", found, " version ", version);
  INFO(cluster.logs());
  CHECK(ok);
}

// Waits until no node has a handoff running or due: the passes that formed
// the cluster run once more (a catch-up) about a second later, and would
// repair a lost write before anti-entropy could.
void wait_handoffs_settled(discache::Client& client) {
  REQUIRE(wait_until(
      [&]() {
        for (const auto& s : client.stats()) {
          if (s.error || s.handoff_pending) {
            return false;
          }
        }
        return true;
      },
      20s));
}

}  // namespace

TEST_CASE("a write that reached one owner only reaches the other within the period, unread") {
  static_assert(kInterval == 500ms);
  auto cluster = LocalCluster::start(options_with_anti_entropy());
  REQUIRE_MESSAGE(cluster, cluster.error());
  auto client = cluster->connect_client();
  REQUIRE(client);
  wait_handoffs_settled(*client);
  DirectNodes direct;
  Pair pair{&cluster->node(0), &cluster->node(1)};

  // Overwrites: the key is on both owners, then a newer value reaches one
  // (the first owner for some keys, the second for others).
  auto first_on_a = keys_owned_by(*client, pair.a->name(), pair.b->name(), 4, "ow");
  auto first_on_b = keys_owned_by(*client, pair.b->name(), pair.a->name(), 4, "ow");
  std::vector<std::string> overwritten = first_on_a;
  overwritten.insert(overwritten.end(), first_on_b.begin(), first_on_b.end());
  for (const auto& key : overwritten) {
    REQUIRE(client->put(key, "old"));
  }
  for (const auto& key : overwritten) {
    for (auto* node : {pair.a, pair.b}) {
      REQUIRE(wait_until([&]() { return direct.get(node->address(), key).found; }, 10s));
    }
  }
  discache::VersionClock clock(77);
  struct Lost {
    std::string key;
    NodeProcess* missed;
    std::uint64_t version;
  };
  std::vector<Lost> lost;
  for (std::size_t i = 0; i < overwritten.size(); ++i) {
    NodeProcess* got = i % 2 == 0 ? pair.a : pair.b;
    NodeProcess* missed = i % 2 == 0 ? pair.b : pair.a;
    const std::string value = "new";
    const std::uint64_t version = clock.next();
    REQUIRE(direct.write(got->address(), overwritten[i], &value, version) ==
            discache::wire::Status::OK);
    lost.push_back({overwritten[i], missed, version});
  }
  // A key written for the first time, to one owner only.
  auto fresh = keys_owned_by(*client, pair.a->name(), pair.b->name(), 1, "fresh").front();
  const std::string value = "only on one";
  const std::uint64_t fresh_version = clock.next();
  REQUIRE(direct.write(pair.b->address(), fresh, &value, fresh_version) ==
          discache::wire::Status::OK);
  lost.push_back({fresh, pair.a, fresh_version});
  // A copy a handoff dropped: an old value (written an hour ago) on one
  // owner only. No delete was forgotten on the other, so it is copied.
  auto old_key = keys_owned_by(*client, pair.b->name(), pair.a->name(), 1, "old").front();
  const std::uint64_t hour_ago = fresh_version - (std::uint64_t{3'600'000'000} << 14);
  REQUIRE(direct.write(pair.a->address(), old_key, &value, hour_ago) == discache::wire::Status::OK);
  lost.push_back({old_key, pair.b, hour_ago});

  for (const auto& l : lost) {
    expect_converges(direct, *l.missed, l.key, true, l.version, *cluster);
    CHECK(direct.get(l.missed->address(), l.key).value != "old");
  }
  std::uint64_t repaired = 0;
  for (std::size_t i = 0; i < cluster->size(); ++i) {
    repaired += direct.anti_entropy(cluster->node(i).address()).repaired;
  }
  CHECK(repaired >= lost.size());
}

TEST_CASE("a delete that reached one owner only reaches the other within the period, unread") {
  auto cluster = LocalCluster::start(options_with_anti_entropy());
  REQUIRE_MESSAGE(cluster, cluster.error());
  auto client = cluster->connect_client();
  REQUIRE(client);
  wait_handoffs_settled(*client);
  DirectNodes direct;
  // The other pair of nodes this time.
  Pair pair{&cluster->node(1), &cluster->node(2)};
  auto keys = keys_owned_by(*client, pair.a->name(), pair.b->name(), 3, "del");
  auto more = keys_owned_by(*client, pair.b->name(), pair.a->name(), 3, "del");
  keys.insert(keys.end(), more.begin(), more.end());
  for (const auto& key : keys) {
    REQUIRE(client->put(key, "to be deleted"));
  }
  for (const auto& key : keys) {
    for (auto* node : {pair.a, pair.b}) {
      REQUIRE(wait_until([&]() { return direct.get(node->address(), key).found; }, 10s));
    }
  }
  discache::VersionClock clock(78);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    NodeProcess* got = i % 2 == 0 ? pair.a : pair.b;
    NodeProcess* missed = i % 2 == 0 ? pair.b : pair.a;
    const std::uint64_t version = clock.next();
    const auto status = direct.write(got->address(), keys[i], nullptr, version);
    REQUIRE(status == discache::wire::Status::OK);
    // The replica that missed it holds no value and remembers the delete.
    expect_converges(direct, *missed, keys[i], false, version, *cluster);
  }
  // And an owner that was never sent the delete does not hand the value back.
  for (const auto& key : keys) {
    for (auto* node : {pair.a, pair.b}) {
      CHECK_FALSE(direct.get(node->address(), key).found);
    }
  }
}

// Repairs are versioned writes, so exchanges running while a client
// overwrites and deletes keys never put an older value back.
TEST_CASE("exchanges during a client's overwrites and deletes never bring back an older value") {
  ClusterOptions options = options_with_anti_entropy();
  options.node_args = {"--anti-entropy-interval", "100ms"};
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  auto client = cluster->connect_client();
  REQUIRE(client);
  wait_handoffs_settled(*client);
  DirectNodes direct;
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) {
    keys.push_back("busy-" + std::to_string(i));
  }
  // The last acknowledged write of each key: its value, or "" for a delete.
  std::vector<std::string> last(keys.size());
  const auto until = Clock::now() + 3s;
  for (int round = 0; Clock::now() < until && round < 2000; ++round) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if ((round + i) % 5 == 4) {
        REQUIRE(client->del(keys[i]));
        last[i].clear();
      } else {
        last[i] = "value " + std::to_string(round);
        REQUIRE(client->put(keys[i], last[i]));
      }
    }
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (const auto& owner : client->owners(keys[i])) {
      Held held;
      // W=1: the second copy may still be on its way; it never goes back.
      const bool ok = wait_until(
          [&]() {
            held = direct.get(owner.address, keys[i]);
            return last[i].empty() ? !held.found : held.found && held.value == last[i];
          },
          10s);
      INFO("key ", keys[i], " on ", owner.name, ": wanted '", last[i], "', found ", held.found,
           " '", held.value, "'");
      CHECK(ok);
    }
  }
  // And stays so across more exchanges (every pair at least twice).
  auto rounds = [&]() {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < cluster->size(); ++i) {
      n += direct.anti_entropy(cluster->node(i).address()).rounds;
    }
    return n;
  };
  const std::uint64_t before = rounds();
  REQUIRE(wait_until([&]() { return rounds() >= before + 6; }, 10s));
  std::uint64_t repaired = 0;
  for (std::size_t i = 0; i < cluster->size(); ++i) {
    repaired += direct.anti_entropy(cluster->node(i).address()).repaired;
  }
  MESSAGE(rounds(), " exchanges, ", repaired, " keys repaired while the client wrote");
  const std::string logs = cluster->logs();
  INFO(logs);
  CHECK(logs.find("anti-entropy with") == std::string::npos);  // no exchange failed
  CHECK(logs.find("anti-entropy round failed") == std::string::npos);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (const auto& owner : client->owners(keys[i])) {
      auto held = direct.get(owner.address, keys[i]);
      INFO("key ", keys[i], " on ", owner.name);
      CHECK(held.found == !last[i].empty());
      if (held.found) {
        CHECK(held.value == last[i]);
      }
    }
  }
}

// A frozen co-owner answers nothing until an exchange with it times out
// (60 s); meanwhile the node that started that exchange keeps reconciling
// with its other peers, round after round.
TEST_CASE("a frozen co-owner holds up no other exchange") {
  // Names where one node (the starter) starts exchanges with both others,
  // and the one to freeze sorts first, so a round that went peer by peer
  // would wait on it before reaching the healthy one.
  std::string prefix;
  std::string starter;
  std::string frozen_name;
  std::string healthy_name;
  for (int i = 0; i < 100 && prefix.empty(); ++i) {
    const std::string p = "fz" + std::to_string(i);
    const std::vector<std::string> names{p + "-0", p + "-1", p + "-2"};
    for (std::size_t s = 0; s < 3 && prefix.empty(); ++s) {
      const auto& a = names[(s + 1) % 3];
      const auto& b = names[(s + 2) % 3];
      if (discache::node::starts_reconcile(names[s], a) &&
          discache::node::starts_reconcile(names[s], b)) {
        prefix = p;
        starter = names[s];
        frozen_name = std::min(a, b);
        healthy_name = std::max(a, b);
      }
    }
  }
  REQUIRE_FALSE(prefix.empty());
  ClusterOptions options = options_with_anti_entropy();
  options.name_prefix = prefix;
  // The frozen node stays suspect, so it stays in the ring and in the
  // starter's rounds, for the whole test.
  options.node_args.insert(options.node_args.end(),
                           {"--suspect-after", "1s", "--dead-after", "10m"});
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  auto client = cluster->connect_client();
  REQUIRE(client);
  wait_handoffs_settled(*client);
  DirectNodes direct;
  NodeProcess* from = cluster->find(starter);
  NodeProcess* frozen = cluster->find(frozen_name);
  NodeProcess* healthy = cluster->find(healthy_name);
  REQUIRE(from != nullptr);
  REQUIRE(frozen != nullptr);
  REQUIRE(healthy != nullptr);
  REQUIRE(frozen->send_signal(SIGSTOP));
  auto thaw = std::unique_ptr<NodeProcess, void (*)(NodeProcess*)>(
      frozen, [](NodeProcess* node) { node->send_signal(SIGCONT); });
  discache::VersionClock clock(79);
  // Several writes over a few periods, so some land after a round whose
  // exchange with the frozen node is still waiting.
  auto keys = keys_owned_by(*client, starter, healthy_name, 3, "frozen");
  for (const auto& key : keys) {
    const std::string value = "while one is frozen";
    const std::uint64_t version = clock.next();
    REQUIRE(direct.write(from->address(), key, &value, version) == discache::wire::Status::OK);
    expect_converges(direct, *healthy, key, true, version, *cluster);
  }
}
