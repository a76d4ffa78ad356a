// Stopping, killing, freezing and restarting nodes: clean exits, clear
// errors within the deadline, never a hang.
#include <doctest/doctest.h>

#include <csignal>

#include "ctl_command.h"
#include "expected_text.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;

namespace {

constexpr auto kDeadline = 1000ms;
// Scheduling slack on top of the client's deadline before we call it a hang.
constexpr auto kSlack = 1500ms;

// A key whose first owner is `node`, found by trying names in order.
std::string key_owned_by(discache::Client& client, const std::string& node) {
  for (int i = 0; i < 10000; ++i) {
    std::string key = "owned-by-" + node + "-" + std::to_string(i);
    auto owners = client.owners(key);
    if (!owners.empty() && owners.front().name == node) {
      return key;
    }
  }
  FAIL("no key found for node ", node);
  return {};
}

discache::ClientOptions fast_failing_options() {
  discache::ClientOptions options;
  options.deadline = kDeadline;
  options.connect_timeout = 500ms;
  return options;
}

// One copy per key: with replicas, another owner would answer for the lost one.
ClusterOptions single_copy() {
  ClusterOptions options;
  options.replicas = 1;
  return options;
}

// A put that must succeed; the failure message carries the error.
#define REQUIRE_PUT(client, key, value)                                        \
  do {                                                                         \
    auto put_result = (client).put((key), (value));                            \
    REQUIRE_MESSAGE(put_result.has_value(),                                    \
                    "put failed: ", put_result ? "" : put_result.error().describe()); \
  } while (false)

bool is_clear_failure(const discache::Error& error) {
  return (error.code == Errc::unavailable || error.code == Errc::timeout) && !error.message.empty();
}

}  // namespace

TEST_CASE("a node stopped with SIGTERM or SIGINT exits 0; the others keep serving") {
  auto cluster = LocalCluster::start(single_copy());
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());

  auto by_term = cluster->node(2).stop();
  REQUIRE(by_term);
  CHECK(by_term->exited_with(0));
  CHECK(cluster->node(2).log().find("on signal 15") != std::string::npos);

  REQUIRE(cluster->node(1).send_signal(SIGINT));
  auto by_int = cluster->node(1).stop();  // already exiting; stop() just waits
  REQUIRE(by_int);
  CHECK(by_int->exited_with(0));

  CHECK(cluster->node(0).running());
  auto run = run_ctl({"--node", cluster->node(0).address(), "put", "after-stop", "v"});
  CHECK(run.exit_code() == 0);
}

TEST_CASE("ops on a key owned by a SIGKILLed node fail with unavailable or timeout, in time") {
  auto cluster = LocalCluster::start(single_copy());
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  auto client = cluster->connect_client(fast_failing_options());
  REQUIRE_MESSAGE(client, why(client));

  NodeProcess& victim = cluster->node(2);
  const std::string doomed = key_owned_by(*client, victim.name());
  const std::string safe = key_owned_by(*client, cluster->node(1).name());
  REQUIRE_PUT(*client, doomed, "lost with the node");
  REQUIRE_PUT(*client, safe, "kept");

  CHECK(victim.kill().killed_by(SIGKILL));

  // Right after the kill, before any failure detection could move the key.
  auto timed = [](auto op) {
    const auto start = Clock::now();
    auto result = op();
    return std::pair{std::move(result), Clock::now() - start};
  };
  // A miss (not_found, has_key false) would be a wrong answer: the key exists,
  // its only owner cannot be asked.
  {
    auto [got, took] = timed([&]() { return client->get(doomed); });
    CHECK_FALSE(got);
    INFO("get: ", got ? "a value" : got.error().describe());
    CHECK((!got && is_clear_failure(got.error())));
    CHECK(took < kDeadline + kSlack);
  }
  {
    auto [put, took] = timed([&]() { return client->put(doomed, "again"); });
    CHECK_FALSE(put);
    INFO("put: ", put ? "succeeded" : put.error().describe());
    CHECK((!put && is_clear_failure(put.error())));
    CHECK(took < kDeadline + kSlack);
  }
  {
    auto [has, took] = timed([&]() { return client->has_key(doomed); });
    CHECK_FALSE(has);
    INFO("has_key: ", has ? (*has ? "true" : "false") : has.error().describe());
    CHECK((!has && is_clear_failure(has.error())));
    CHECK(took < kDeadline + kSlack);
  }
  {
    auto [del, took] = timed([&]() { return client->del(doomed); });
    CHECK_FALSE(del);
    INFO("del: ", del ? "succeeded" : del.error().describe());
    CHECK((!del && is_clear_failure(del.error())));
    CHECK(took < kDeadline + kSlack);
  }

  // discache-ctl says so too, on one line, with exit 2.
  auto run = run_ctl({"--seed", cluster->seed_address(), "--timeout", "1s", "get", doomed},
                     std::nullopt, 20s);
  INFO(run);
  CHECK_FALSE(run.timed_out);
  CHECK(run.exit_code() == 2);
  CHECK((run.err.find("unavailable") != std::string::npos ||
         run.err.find("timeout") != std::string::npos));

  // Keys on the surviving nodes are untouched.
  CHECK(client->get(safe).value_or("(error)") == "kept");
}

TEST_CASE("ops on a key owned by a frozen (SIGSTOPped) node time out at the deadline") {
  // Frozen for one deadline (1 s), a node would forget its store on waking
  // (--forget-after-stall 1s, tests/replication/thaw_test.cpp): this test is
  // about the client's deadline, and checks the same value serves again.
  ClusterOptions options = single_copy();
  options.node_args = {"--forget-after-stall", "10s"};
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  auto client = cluster->connect_client(fast_failing_options());
  REQUIRE_MESSAGE(client, why(client));

  NodeProcess& frozen = cluster->node(1);
  const std::string key = key_owned_by(*client, frozen.name());
  REQUIRE_PUT(*client, key, "before the freeze");

  REQUIRE(frozen.send_signal(SIGSTOP));
  REQUIRE(frozen.pid());
  REQUIRE(wait_until([&]() { return is_stopped(*frozen.pid()); }, 5s));
  const auto start = Clock::now();
  auto got = client->get(key);
  const auto took = Clock::now() - start;
  REQUIRE_FALSE(got);
  INFO("get: ", got.error().describe());
  CHECK(got.error().code == Errc::timeout);
  CHECK(took >= kDeadline - 50ms);
  CHECK(took < kDeadline + kSlack);

  REQUIRE(frozen.send_signal(SIGCONT));
  discache::Error last_error;
  const bool thawed = wait_until(
      [&]() {
        auto again = client->get(key);
        if (!again) {
          last_error = again.error();
        }
        return again && *again == "before the freeze";
      },
      10s);
  INFO("last error: ", last_error.describe());
  CHECK(thawed);
}

TEST_CASE("a SIGKILLed node restarts with the same name and port and serves again") {
  auto cluster = LocalCluster::start(single_copy());
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  auto client = cluster->connect_client(fast_failing_options());
  REQUIRE_MESSAGE(client, why(client));

  NodeProcess& node = cluster->node(2);
  const std::string name = node.name();
  const std::string address = node.address();
  const std::string key = key_owned_by(*client, name);
  REQUIRE_PUT(*client, key, "before the crash");

  CHECK(node.kill().killed_by(SIGKILL));
  auto restarted = node.restart();
  REQUIRE_MESSAGE(restarted, why(restarted));
  CHECK(node.name() == name);
  CHECK(node.address() == address);

  auto converged = cluster->wait_converged();
  REQUIRE_MESSAGE(converged, why(converged));

  // Same name: same place on the ring, so the key routes to it again. The
  // store is in memory, so the old value is gone, and a new put lands.
  REQUIRE(client->owners(key).front().name == name);
  discache::Error last_error;
  const bool serving = wait_until(
      [&]() {
        auto put = client->put(key, "after the restart");
        if (!put) {
          last_error = put.error();
        }
        return put.has_value();
      },
      10s);
  INFO("last error: ", last_error.describe());
  REQUIRE(serving);
  CHECK(client->get(key).value_or("(error)") == "after the restart");
  auto direct = run_ctl({"--node", address, "get", key});
  CHECK(direct.exit_code() == 0);
  CHECK(direct.out == "after the restart\n");
}
