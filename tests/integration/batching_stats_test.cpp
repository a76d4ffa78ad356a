// Node stats count the calls they serve, and concurrent ops share calls
// (automatic batching).
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "ctl_command.h"
#include "expected_text.h"
#include "json_value.h"
#include "local_cluster.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

struct Totals {
  std::uint64_t calls = 0;
  std::uint64_t batch_calls = 0;
  std::uint64_t gets = 0;
  std::uint64_t puts = 0;
  std::uint64_t deletes = 0;
  std::size_t nodes_answered = 0;
};

// One copy per key, so each op is counted on exactly one node.
ClusterOptions single_copy() {
  ClusterOptions options;
  options.replicas = 1;
  return options;
}

Totals sum(const std::vector<discache::NodeStats>& stats) {
  Totals t;
  for (const auto& s : stats) {
    if (s.error) {
      continue;
    }
    ++t.nodes_answered;
    t.calls += s.calls;
    t.batch_calls += s.batch_calls;
    t.gets += s.gets;
    t.puts += s.puts;
    t.deletes += s.deletes;
  }
  return t;
}

}  // namespace

TEST_CASE("node stats count each call, and the op that caused it on its owner") {
  auto cluster = LocalCluster::start(single_copy());
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, why(client));

  const std::string key = "counted";
  const std::string owner = client->owners(key).front().name;
  auto before = client->stats();
  REQUIRE(client->put(key, "v"));
  REQUIRE(client->get(key));
  REQUIRE(client->del(key));
  auto after = client->stats();
  REQUIRE(before.size() == 3);
  REQUIRE(after.size() == 3);

  for (std::size_t n = 0; n < 3; ++n) {
    INFO("node ", after[n].name);
    REQUIRE(before[n].name == after[n].name);
    REQUIRE_FALSE(after[n].error);
    const bool is_owner = after[n].name == owner;
    CHECK(after[n].puts - before[n].puts == (is_owner ? 1u : 0u));
    CHECK(after[n].gets - before[n].gets == (is_owner ? 1u : 0u));
    CHECK(after[n].deletes - before[n].deletes == (is_owner ? 1u : 0u));
    // Three lone ops are three calls on the owner; every node also counts the stats call.
    CHECK(after[n].calls - before[n].calls == (is_owner ? 4u : 1u));
  }

  // discache-ctl stats reports the same counters (plus its own stats call).
  auto run = run_ctl({"--seed", cluster->seed_address(), "stats", "--json"});
  REQUIRE_MESSAGE(run.exit_code() == 0, run);
  auto doc = parse_json(run.out);
  REQUIRE_MESSAGE(doc, why(doc));
  REQUIRE((*doc)["nodes"].items().size() == 3);
  for (const auto& row : (*doc)["nodes"].items()) {
    const bool is_owner = row["name"].as_string() == owner;
    CHECK(row["puts"].as_number() == (is_owner ? 1 : 0));
    CHECK(row["calls"].as_number() >= 1);
  }
}

TEST_CASE("a burst of concurrent ops from 16 threads needs fewer calls than ops") {
  auto cluster = LocalCluster::start(single_copy());
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, why(client));

  constexpr int kThreads = 16;
  constexpr int kOpsPerThread = 200;
  constexpr std::uint64_t kOps = kThreads * kOpsPerThread;

  const Totals before = sum(client->stats());
  REQUIRE(before.nodes_answered == 3);

  const auto deadline = Clock::now() + 60s;  // bounds the burst in time as well as count
  std::atomic<int> failed{0};
  std::atomic<std::uint64_t> done{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t]() {
      while (!go.load()) {
        std::this_thread::yield();  // start together, so ops overlap
      }
      for (int i = 0; i < kOpsPerThread && Clock::now() < deadline; ++i) {
        const std::string key = "burst-" + std::to_string(t) + "-" + std::to_string(i / 2);
        // Alternate put and get of the same key.
        const bool ok = i % 2 == 0 ? client->put(key, "payload").has_value()
                                   : client->get(key).value_or("") == "payload";
        if (!ok) {
          ++failed;
        }
        ++done;
      }
    });
  }
  go = true;
  for (auto& w : workers) {
    w.join();
  }
  REQUIRE(done.load() == kOps);
  CHECK(failed.load() == 0);

  const Totals after = sum(client->stats());
  REQUIRE(after.nodes_answered == 3);
  const std::uint64_t ops_counted = (after.gets - before.gets) + (after.puts - before.puts);
  // The final stats call adds one call per node.
  const std::uint64_t calls = after.calls - before.calls - after.nodes_answered;
  INFO("calls: ", calls, ", batch calls: ", after.batch_calls - before.batch_calls,
       ", ops: ", kOps);
  CHECK(ops_counted == kOps);
  CHECK(after.batch_calls > before.batch_calls);
  CHECK(calls < kOps);
}
