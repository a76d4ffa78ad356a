// Versions and tombstones: a replica that missed a delete never brings the
// value back, and `discache-ctl owners` shows who holds a key.
#include <doctest/doctest.h>

#include <csignal>
#include <memory>
#include <set>
#include <sstream>

#include "ctl_command.h"
#include "json_value.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;

namespace {

// A key whose owners, in replica order, are exactly `first` then `second`.
std::string key_with_owners(discache::Client& client, const std::string& first,
                            const std::string& second) {
  for (int i = 0; i < 10000; ++i) {
    std::string key = "owners-" + first + "-" + second + "-" + std::to_string(i);
    auto owners = client.owners(key);
    if (owners.size() == 2 && owners[0].name == first && owners[1].name == second) {
      return key;
    }
  }
  FAIL("no key found with owners ", first, ", ", second);
  return {};
}

// What `discache-ctl --node ADDRESS get KEY` says: the value and its newline,
// "(not found)",
// or the error.
std::string direct_get(const std::string& address, const std::string& key) {
  auto run = run_ctl({"--node", address, "get", key}, std::nullopt, 10s);
  if (run.exit_code() == 0) {
    return run.out;
  }
  if (run.exit_code() == 1) {
    return "(not found)";
  }
  return "(error) " + (std::ostringstream() << run).str();
}

// Two keys replicated on `steady` and `lagging`, one with each replica first
// (reads ask the first owner first), stored on both.
struct KeyPair {
  std::string lagging_first;
  std::string lagging_second;
  std::vector<std::string> both() const { return {lagging_first, lagging_second}; }
};

KeyPair store_on_both(discache::Client& client, NodeProcess& steady, NodeProcess& lagging) {
  KeyPair keys{key_with_owners(client, lagging.name(), steady.name()),
               key_with_owners(client, steady.name(), lagging.name())};
  for (const auto& key : keys.both()) {
    REQUIRE(client.put(key, "deleted value of " + key));
  }
  // W=1: the second copy may still be on its way.
  const bool stored = wait_until(
      [&]() {
        for (const auto& key : keys.both()) {
          for (auto* node : {&steady, &lagging}) {
            if (direct_get(node->address(), key) != "deleted value of " + key + "\n") {
              return false;
            }
          }
        }
        return true;
      },
      10s);
  REQUIRE_MESSAGE(stored, "both replicas should hold both keys");
  return keys;
}

// Reads `keys` through each client for `duration` (bounded in count too);
// returns how many reads returned a value. Any error other than a miss fails.
int reads_returning_a_value(std::initializer_list<discache::Client*> readers,
                            const std::vector<std::string>& keys,
                            std::chrono::milliseconds duration) {
  const auto until = Clock::now() + duration;
  int reads = 0;
  int values = 0;
  while (Clock::now() < until && reads < 4000) {
    for (auto* reader : readers) {
      for (const auto& key : keys) {
        auto got = reader->get(key);
        ++reads;
        if (got) {
          ++values;
        } else if (!got.error().is(Errc::not_found)) {
          FAIL_CHECK("read of ", key, " failed: ", got.error().describe());
        }
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  MESSAGE(reads, " reads after the delete, ", values, " returned the deleted value");
  return values;
}

// Both replicas answer `discache-ctl --node ADDR get` with not found, polled
// until `timeout` (a delayed delete may still be in the replica's socket).
void check_gone_everywhere(const std::vector<std::string>& keys,
                           std::initializer_list<NodeProcess*> replicas,
                           std::chrono::milliseconds timeout) {
  for (const auto& key : keys) {
    for (auto* node : replicas) {
      std::string last;
      const bool gone = wait_until(
          [&]() {
            last = direct_get(node->address(), key);
            return last == "(not found)";
          },
          timeout);
      INFO("key ", key, " on ", node->name(), ": ", last);
      CHECK(gone);
    }
  }
}

ClusterOptions two_replicas() {
  ClusterOptions options;
  options.replicas = 2;
  return options;
}

// A 3-node cluster with N=2; a client whose 500 ms deadline lets a frozen
// replica time out quickly; two keys stored on node 0 (steady) and node 1
// (lagging), one with each of them first.
struct TwoReplicaScene {
  LocalCluster cluster;
  discache::Client client;
  KeyPair keys;
  discache::ClientOptions options;
  NodeProcess& steady() { return cluster.node(0); }
  NodeProcess& lagging() { return cluster.node(1); }
};

std::unique_ptr<TwoReplicaScene> two_replica_scene() {
  auto cluster = LocalCluster::start(two_replicas());
  REQUIRE_MESSAGE(cluster, cluster.error());
  discache::ClientOptions options;
  options.deadline = 500ms;
  auto client = cluster->connect_client(options);
  REQUIRE_MESSAGE(client, client.error().describe());
  auto scene = std::unique_ptr<TwoReplicaScene>(
      new TwoReplicaScene{std::move(*cluster), std::move(*client), {}, options});
  scene->keys = store_on_both(scene->client, scene->steady(), scene->lagging());
  return scene;
}

}  // namespace

TEST_CASE("a delete a frozen replica receives late: the deleted value never comes back") {
  auto scene = two_replica_scene();
  INFO(scene->cluster.logs());
  auto* cluster = &scene->cluster;
  auto* client = &scene->client;
  const auto& options = scene->options;
  NodeProcess& steady = scene->steady();
  NodeProcess& lagging = scene->lagging();
  const KeyPair& keys = scene->keys;

  // W=1: the steady replica's ack completes each delete; the frozen replica's
  // copy waits in its socket (the client gives up on it at the deadline).
  REQUIRE(lagging.send_signal(SIGSTOP));
  for (const auto& key : keys.both()) {
    CHECK(client->del(key));
  }
  std::this_thread::sleep_for(options.deadline + 100ms);  // the frozen replica's delete times out
  REQUIRE(lagging.send_signal(SIGCONT));

  auto fresh = cluster->connect_client();
  REQUIRE_MESSAGE(fresh, fresh.error().describe());
  CHECK(reads_returning_a_value({&*client, &*fresh}, keys.both(), 3s) == 0);
  check_gone_everywhere(keys.both(), {&steady, &lagging}, 5s);
}

// The client skips an owner it has marked down when it writes, and a read
// asks only the first owner that answers: without the tombstones the client
// owes the skipped replica (hinted handoff), it would keep serving the value.
TEST_CASE("a replica that missed a delete never serves the deleted value again") {
  // The lagging replica stays down for this client while it is frozen, so
  // the deletes skip it.
  auto scene = two_replica_scene();
  INFO(scene->cluster.logs());
  auto* cluster = &scene->cluster;
  auto* client = &scene->client;
  NodeProcess& steady = scene->steady();
  NodeProcess& lagging = scene->lagging();
  const KeyPair& keys = scene->keys;

  // Freeze the lagging replica; a read that times out on it marks it down for
  // this client (the value still comes from the steady replica), so the
  // deletes go to the steady replica only: the lagging one never gets them.
  REQUIRE(lagging.send_signal(SIGSTOP));
  CHECK(client->get(keys.lagging_first).value_or("(error)") ==
        "deleted value of " + keys.lagging_first);
  for (const auto& key : keys.both()) {
    CHECK(client->del(key));
  }
  REQUIRE(lagging.send_signal(SIGCONT));

  // This client asks the lagging replica again only once it answered the
  // probe that carried the tombstones: from the first read on, no value.
  CHECK(reads_returning_a_value({&*client}, keys.both(), 1s) == 0);
  // The tombstones reached the lagging replica itself (not just masked by
  // the steady one)...
  check_gone_everywhere(keys.both(), {&steady, &lagging}, 5s);
  // ...so a client that never saw the delete reads no value either. (It may
  // start only now: in the instants after the replica resumes, a new
  // connection can be served before the socket holding its tombstones.)
  auto fresh = cluster->connect_client();
  REQUIRE_MESSAGE(fresh, fresh.error().describe());
  CHECK(reads_returning_a_value({&*client, &*fresh}, keys.both(), 3s) == 0);
}

// The same for an overwrite: the replica that missed it must not go on
// serving the older value (it is owed a tombstone just below the new write).
TEST_CASE("a replica that missed an overwrite never serves the older value again") {
  auto scene = two_replica_scene();
  INFO(scene->cluster.logs());
  auto* client = &scene->client;
  NodeProcess& lagging = scene->lagging();
  const KeyPair& keys = scene->keys;

  REQUIRE(lagging.send_signal(SIGSTOP));
  CHECK(client->get(keys.lagging_first).has_value());  // times out on it: down
  for (const auto& key : keys.both()) {
    CHECK(client->put(key, "new value of " + key));
  }
  REQUIRE(lagging.send_signal(SIGCONT));

  // Every read returns the new value: never the old one, never a miss.
  const auto until = Clock::now() + 2s;
  int reads = 0;
  while (Clock::now() < until && reads < 2000) {
    for (const auto& key : keys.both()) {
      auto got = client->get(key);
      ++reads;
      REQUIRE_MESSAGE(got, "read of ", key, ": ", got.error().describe());
      CHECK(*got == "new value of " + key);
    }
    std::this_thread::sleep_for(20ms);
  }
  // The lagging replica lost its old copy and got the new one by read repair.
  const bool repaired = wait_until(
      [&]() {
        return direct_get(lagging.address(), keys.lagging_first) ==
               "new value of " + keys.lagging_first + "\n";
      },
      5s);
  CHECK(repaired);
}

TEST_CASE("discache-ctl owners --json lists both owners, each holding a stored key") {
  auto cluster = LocalCluster::start(two_replicas());
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());

  const std::string key = "owned-twice";
  REQUIRE(client->put(key, "v"));
  const auto expected = client->owners(key);
  REQUIRE(expected.size() == 2);

  // W=1: the second copy may still be on its way, so poll.
  std::string last;
  const bool both_hold = wait_until(
      [&]() {
        auto run = run_ctl({"--seed", cluster->seed_address(), "owners", key, "--json"});
        last = (std::ostringstream() << run).str();
        if (run.exit_code() != 0) {
          return false;
        }
        auto doc = parse_json(run.out);
        if (!doc || (*doc)["key"].as_string() != key || (*doc)["owners"].size() != 2) {
          return false;
        }
        std::set<std::string> names;
        for (std::size_t i = 0; i < 2; ++i) {
          const auto& row = (*doc)["owners"].items()[i];
          if (row["name"].as_string() != expected[i].name ||
              row["address"].as_string() != expected[i].address ||
              row["holds"].as_string() != "yes") {
            return false;
          }
          names.insert(row["name"].as_string());
        }
        return names.size() == 2;
      },
      10s);
  INFO("last discache-ctl owners: ", last);
  CHECK(both_hold);

  // A key never stored: both owners listed, neither holds it.
  auto run = run_ctl({"--seed", cluster->seed_address(), "owners", "never-stored", "--json"});
  INFO(run);
  REQUIRE(run.exit_code() == 0);
  auto doc = parse_json(run.out);
  REQUIRE_MESSAGE(doc, doc.error());
  REQUIRE((*doc)["owners"].size() == 2);
  for (const auto& row : (*doc)["owners"].items()) {
    CHECK(row["holds"].as_string() == "no");
  }
}

// A copy on a node that does not own its key (written there by a client
// with an out-of-date view, or left from before a ring change) never sees
// the key's deletes. Kept, it would come back once a later ring change made
// that node an owner again and the owners' tombstones had expired. Nodes drop
// such copies once the ring has been steady for --unowned-grace; a client's
// own wider N (ClientOptions::replicas) is respected.
TEST_CASE("copies on nodes that do not own the key are dropped after --unowned-grace") {
  ClusterOptions options = two_replicas();
  options.node_args = {"--unowned-grace", "1s"};
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  NodeProcess& a = cluster->node(0);
  NodeProcess& b = cluster->node(1);
  NodeProcess& stranger = cluster->node(2);
  const std::string stray = key_with_owners(*client, a.name(), b.name());
  const std::string kept = key_with_owners(*client, b.name(), a.name());

  // The stray copy: written to the stranger directly, as a stale client would.
  auto put = run_ctl({"--node", stranger.address(), "put", stray, "old value"}, std::nullopt, 10s);
  REQUIRE_MESSAGE(put.exit_code() == 0, put);
  REQUIRE(direct_get(stranger.address(), stray) == "old value\n");
  REQUIRE(client->put(stray, "owned value"));
  REQUIRE(client->del(stray));
  REQUIRE(client->put(kept, "kept value"));

  std::string last;
  const bool dropped = wait_until(
      [&]() {
        last = direct_get(stranger.address(), stray);
        return last == "(not found)";
      },
      15s);
  CHECK_MESSAGE(dropped, "the stranger still answers ", last);
  CHECK(stranger.log().find("copies of keys this node no longer owns") != std::string::npos);
  // The owners keep their copies.
  CHECK(direct_get(a.address(), kept) == "kept value\n");
  CHECK(direct_get(b.address(), kept) == "kept value\n");
  auto got = client->get(stray);
  CHECK((!got && got.error().is(Errc::not_found)));

  // A client keeping three copies: the stranger is the third owner of every
  // key, and a sweep after the write leaves its copy alone.
  discache::ClientOptions wide;
  wide.replicas = 3;
  wide.write_acks = 3;
  auto wide_client = cluster->connect_client(wide);
  REQUIRE_MESSAGE(wide_client, wide_client.error().describe());
  const std::string wide_key = key_with_owners(*client, a.name(), b.name());
  REQUIRE(wide_client->put(wide_key, "three copies"));
  auto sweeps_on_stranger = [&]() -> std::uint64_t {
    for (const auto& s : client->stats()) {
      if (s.name == stranger.name() && !s.error) {
        return s.unowned_sweeps;
      }
    }
    return 0;
  };
  const std::uint64_t before = sweeps_on_stranger();
  // Two more completed sweeps: at least one began after the write.
  CHECK(wait_until([&]() { return sweeps_on_stranger() >= before + 2; }, 15s));
  for (auto* node : {&a, &b, &stranger}) {
    INFO("wide key on ", node->name());
    CHECK(direct_get(node->address(), wide_key) == "three copies\n");
  }
}
