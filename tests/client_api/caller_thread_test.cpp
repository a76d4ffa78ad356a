// Blocking reads done on the calling thread (ClientOptions::caller_thread_reads):
// right answers from many threads at once, the fast path really taken (the
// nodes count plain get/has calls, not batches), and the cases it hands to
// the client's I/O thread (a value found after a miss is repaired there).
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "ctl_command.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;

namespace {

ClusterOptions two_replicas() {
  ClusterOptions options;
  options.replicas = 2;
  return options;
}

// RPC calls the nodes served that were not batches: the caller's-thread
// path's get and has calls (the I/O thread sends only batches for keys),
// plus each stats call that read them. Two readings differ by the get and
// has calls made between them plus one stats call per node (the second).
std::uint64_t plain_calls(discache::Client& client) {
  std::uint64_t total = 0;
  for (const auto& node : client.stats()) {
    REQUIRE_MESSAGE(!node.error, node.name);
    total += node.calls - node.batch_calls;
  }
  return total;
}

// Reads `stored` keys and `absent` keys from 8 threads; returns the number
// of wrong answers.
int wrong_answers_from_threads(discache::Client& client, int stored, int absent) {
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t]() {
      for (int i = 0; i < stored; ++i) {
        const std::string key = "key-" + std::to_string((i + t * 7) % stored);
        auto got = client.get(key);
        auto has = client.has_key(key);
        if (!got || *got != "value of " + key || !has || !*has) {
          ++wrong;
        }
      }
      for (int i = 0; i < absent; ++i) {
        const std::string key = "absent-" + std::to_string(t) + "-" + std::to_string(i);
        auto got = client.get(key);
        auto has = client.has_key(key);
        if (got || !got.error().is(Errc::not_found) || !has || *has) {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  return wrong.load();
}

}  // namespace

TEST_CASE("blocking reads from 8 threads get the right answers on their own threads") {
  auto cluster = LocalCluster::start(two_replicas());
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  constexpr int kStored = 200;
  constexpr int kAbsent = 50;
  for (int i = 0; i < kStored; ++i) {
    const std::string key = "key-" + std::to_string(i);
    REQUIRE(client->put(key, "value of " + key));
  }

  const std::uint64_t before = plain_calls(*client);
  CHECK(wrong_answers_from_threads(*client, kStored, kAbsent) == 0);
  const std::uint64_t served = plain_calls(*client) - before - cluster->size();
  // Per thread: a get and a has per stored key, and per absent key a get and
  // a has asked of both owners (a miss falls back to the second replica).
  MESSAGE("plain calls served: ", served);
  CHECK(served >= 8 * (2 * kStored + 4 * kAbsent));
}

TEST_CASE("with caller_thread_reads off, blocking reads go through the I/O thread's batches") {
  auto cluster = LocalCluster::start(two_replicas());
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  discache::ClientOptions options;
  options.caller_thread_reads = false;
  auto client = cluster->connect_client(options);
  REQUIRE_MESSAGE(client, client.error().describe());
  for (int i = 0; i < 20; ++i) {
    const std::string key = "key-" + std::to_string(i);
    REQUIRE(client->put(key, "value of " + key));
  }
  const std::uint64_t before = plain_calls(*client);
  CHECK(wrong_answers_from_threads(*client, 20, 5) == 0);
  CHECK(plain_calls(*client) - before == cluster->size());  // the stats calls only
}

TEST_CASE("a value found on the second owner after a miss is returned and repaired") {
  auto cluster = LocalCluster::start(two_replicas());
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  const std::string key = "only-on-the-second-owner";
  auto owners = client->owners(key);
  REQUIRE(owners.size() == 2);
  // Stored on the second owner only, as a lost copy would leave it.
  auto put = run_ctl({"--node", owners[1].address, "put", key, "survivor"});
  REQUIRE_MESSAGE(put.exit_code() == 0, put);

  auto got = client->get(key);
  REQUIRE_MESSAGE(got, got.error().describe());
  CHECK(*got == "survivor");
  // Read repair (by the I/O thread) gives the first owner its copy.
  std::string last;
  const bool repaired = wait_until(
      [&]() {
        auto run = run_ctl({"--node", owners[0].address, "get", key});
        last = run.out;
        return run.exit_code() == 0 && run.out == "survivor\n";
      },
      5s);
  INFO("first owner says: ", last);
  CHECK(repaired);
}
