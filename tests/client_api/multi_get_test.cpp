// Batches: multi_get of 1,000 keys over 5 nodes sends one request per node
// (counted by the nodes' batch_calls) and returns every value in input order,
// each with its own status.
#include <doctest/doctest.h>

#include <asio/use_future.hpp>

#include <algorithm>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;

namespace {

constexpr std::size_t kNodes = 5;
constexpr std::size_t kKeys = 1000;

std::string value_for(const std::string& key) { return "value of " + key; }

// batch_calls and gets of every node, by name.
struct Counters {
  std::uint64_t batch_calls = 0;
  std::uint64_t gets = 0;
  std::uint64_t deletes = 0;
};
using Snapshot = std::map<std::string, Counters>;

std::optional<Snapshot> snapshot(discache::Client& client) {
  Snapshot out;
  for (const auto& s : client.stats()) {
    if (s.error || s.handoff_pending) {
      return std::nullopt;
    }
    out[s.name] = Counters{s.batch_calls, s.gets, s.deletes};
  }
  return out;
}

bool same_batch_calls(const Snapshot& a, const Snapshot& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (const auto& [name, c] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.batch_calls != c.batch_calls) {
      return false;
    }
  }
  return true;
}

// Waits until no node is handing off keys and no batch call arrives for
// 200 ms (background replica writes finished): a quiet cluster to count on.
Snapshot quiet_snapshot(discache::Client& client) {
  std::optional<Snapshot> last;
  std::optional<Snapshot> quiet;
  const bool ok = wait_until(
      [&]() {
        std::this_thread::sleep_for(200ms);
        auto now = snapshot(client);
        if (now && last && same_batch_calls(*now, *last)) {
          quiet = now;
          return true;
        }
        last = now;
        return false;
      },
      20s);
  REQUIRE_MESSAGE(ok, "the cluster did not go quiet within 20 s");
  REQUIRE(quiet->size() == kNodes);
  return *quiet;
}

}  // namespace

TEST_CASE("multi_get of 1,000 keys over 5 nodes: one request per node, values in input order") {
  ClusterOptions cluster_options;
  cluster_options.nodes = kNodes;  // 2 replicas per key (the default)
  auto cluster = LocalCluster::start(cluster_options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  discache::ClientOptions options;
  // Quiet: no periodic member-list reads during the counted calls (they are
  // not batch calls anyway), and puts acknowledged by both replicas.
  options.refresh_interval = std::chrono::hours(1);
  options.write_acks = 2;
  // This test counts requests, not latency: a generous deadline keeps it
  // meaningful on a loaded machine (or under ThreadSanitizer), where a batch
  // of 1,000 writes to five slowed-down nodes can take over a second.
  options.deadline = 10s;
  options.connect_timeout = 5s;
  auto client = cluster->connect_client(options);
  REQUIRE_MESSAGE(client, client.error().describe());

  std::vector<std::string> keys;
  std::vector<discache::KeyValue> items;
  for (std::size_t i = 0; i < kKeys; ++i) {
    keys.push_back("mg:" + std::to_string(i));
    items.push_back({keys.back(), value_for(keys.back())});
  }
  for (const auto& r : client->multi_put(items)) {
    REQUIRE_MESSAGE(r, r.error().describe());
  }
  // Input order that is neither insertion nor ring order.
  std::shuffle(keys.begin(), keys.end(), std::mt19937(20250101));

  // Where each key's get should go: its first owner.
  std::map<std::string, std::uint64_t> expected_gets;
  for (const auto& key : keys) {
    auto owners = client->owners(key);
    REQUIRE(owners.size() == 2);
    ++expected_gets[owners.front().name];
  }
  REQUIRE(expected_gets.size() == kNodes);  // every node is first owner of some keys

  auto check_one_request_per_node = [&](const Snapshot& before, const Snapshot& after) {
    for (const auto& [name, b] : before) {
      INFO("node ", name);
      const auto& a = after.at(name);
      CHECK(a.batch_calls - b.batch_calls == 1);
      CHECK(a.gets - b.gets == expected_gets[name]);
    }
  };
  auto check_in_order = [&](const std::vector<discache::GetResult>& results) {
    REQUIRE(results.size() == keys.size());
    std::size_t wrong = 0;
    std::string first_wrong;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (!results[i] || *results[i] != value_for(keys[i])) {
        if (wrong++ == 0) {
          first_wrong = "position " + std::to_string(i) + " (" + keys[i] + "): " +
                        (results[i] ? "'" + *results[i] + "'" : results[i].error().describe());
        }
      }
    }
    INFO("first wrong: ", first_wrong);
    CHECK(wrong == 0);
  };

  SUBCASE("blocking multi_get") {
    const Snapshot before = quiet_snapshot(*client);
    const auto results = client->multi_get(keys);
    const auto after = snapshot(*client);
    REQUIRE(after);
    check_one_request_per_node(before, *after);
    check_in_order(results);
  }

  SUBCASE("async_multi_get") {
    const Snapshot before = quiet_snapshot(*client);
    auto future = client->async_multi_get(keys, asio::use_future);
    REQUIRE(future.wait_for(20s) == std::future_status::ready);
    const auto results = future.get();
    const auto after = snapshot(*client);
    REQUIRE(after);
    check_one_request_per_node(before, *after);
    check_in_order(results);
  }

  SUBCASE("misses keep their own status and place") {
    std::vector<std::string> mixed;
    for (std::size_t i = 0; i < 100; ++i) {
      mixed.push_back(i % 3 == 1 ? "absent:" + std::to_string(i) : keys[i]);
    }
    mixed.push_back("");  // bad input fails alone
    const auto results = client->multi_get(mixed);
    REQUIRE(results.size() == mixed.size());
    for (std::size_t i = 0; i < 100; ++i) {
      CAPTURE(mixed[i]);
      if (i % 3 == 1) {
        REQUIRE_FALSE(results[i]);
        CHECK(results[i].error().code == Errc::not_found);
      } else {
        CHECK(results[i].value_or("(error)") == value_for(mixed[i]));
      }
    }
    REQUIRE_FALSE(results.back());
    CHECK(results.back().error().code == Errc::invalid_argument);
  }

  SUBCASE("multi_delete: one request per node, then every key is gone") {
    const Snapshot before = quiet_snapshot(*client);
    for (const auto& r : client->multi_delete(keys)) {
      CHECK_MESSAGE(r, r.error().describe());
    }
    // Deletes go to both replicas (the second in the background with W=1;
    // here W=2): still one request per node.
    const Snapshot after = quiet_snapshot(*client);
    for (const auto& [name, b] : before) {
      INFO("node ", name);
      CHECK(after.at(name).batch_calls - b.batch_calls == 1);
    }
    std::uint64_t deletes = 0;
    for (const auto& [name, a] : after) {
      deletes += a.deletes - before.at(name).deletes;
    }
    CHECK(deletes == 2 * kKeys);
    for (const auto& r : client->multi_get(keys)) {
      REQUIRE_FALSE(r);
      CHECK(r.error().code == Errc::not_found);
    }
  }
}
