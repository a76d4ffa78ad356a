// A node frozen (SIGSTOP) past its clients' deadline, while another client
// process overwrites and deletes its keys elsewhere and exits, serves
// nothing stale once thawed: it forgets its store (and the requests that
// waited in its sockets) and its peers refill it.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "child_process.h"
#include "key_set.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kKeys = 500;

// What every key holds once the writer is done: "v3 of key-i", or nothing
// for every third key.
std::optional<std::string> truth(std::size_t i) {
  if (i % 3 == 0) {
    return std::nullopt;
  }
  return "v3 of key-" + std::to_string(i);
}

struct ReadTally {
  std::uint64_t reads = 0;
  std::uint64_t stale = 0;   // a value other than the latest write
  std::uint64_t misses = 0;  // no value for a key that has one (safe)
  std::string examples;      // the first few stale reads
};

// Reads every key through `client` once, counting against truth().
void read_all(discache::Client& client, const std::vector<std::string>& keys, const char* who,
              ReadTally& tally) {
  auto results = client.multi_get(keys);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ++tally.reads;
    const auto want = truth(i);
    if (!results[i]) {
      tally.misses += want ? 1 : 0;
      continue;
    }
    if (want && *results[i] == *want) {
      continue;
    }
    if (++tally.stale <= 5) {
      tally.examples += std::string(who) + " read " + keys[i] + " = \"" + *results[i] + "\" (" +
                        (want ? "want \"" + *want + "\"" : std::string("deleted")) + ")\n";
    }
  }
}

// Asks each owner of each key directly (no read repair): one line per owner
// that does not hold truth() (at most 10, then a count). Empty: converged.
std::string copies_not_current(discache::Client& client, const std::vector<std::string>& keys) {
  std::map<std::string, std::vector<discache::GetResult>> held;  // by node name
  for (const auto& m : client.members().members) {
    if (m.state != discache::MemberState::alive) {
      continue;
    }
    discache::ClientOptions node_only;
    node_only.seeds = {m.address};
    node_only.direct = true;
    auto node = discache::Client::connect(node_only);
    if (!node) {
      return m.name + ": " + node.error().describe();
    }
    held[m.name] = node->multi_get(keys);
  }
  std::size_t wrong = 0;
  std::string report;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (const auto& owner : client.owners(keys[i])) {
      auto it = held.find(owner.name);
      const auto want = truth(i);
      if (it != held.end()) {
        const auto& got = it->second[i];
        if ((want && got && *got == *want) || (!want && !got)) {
          continue;
        }
      }
      if (++wrong <= 10) {
        report += keys[i] + " on " + owner.name + "\n";
      }
    }
  }
  if (wrong > 10) {
    report += "... " + std::to_string(wrong) + " in all\n";
  }
  return report;
}

// True once every node but `frozen` lists it dead.
bool declared_dead(LocalCluster& cluster, NodeProcess& frozen) {
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (&cluster.node(i) == &frozen) {
      continue;
    }
    auto list = member_list_of(cluster.node(i).address());
    if (!list) {
      return false;
    }
    for (const auto& m : list->members) {
      if (m.name == frozen.name() && m.state != discache::MemberState::dead) {
        return false;
      }
    }
  }
  return true;
}

enum class WriterStarts {
  at_once,         // while the frozen node is still in every ring (suspect)
  once_it_is_dead  // when nobody sends it anything any more, not even hints
};

// Freezes node 1 for at least `frozen_for` while the writer process runs
// and exits, thaws it, and reads every key at once and for `read_for`:
// through fresh clients of the whole cluster, and straight from the thawed
// node.
void check_thawed_node_serves_nothing_stale(std::chrono::milliseconds frozen_for,
                                            WriterStarts writer_starts,
                                            std::chrono::milliseconds read_for) {
  ClusterOptions options;
  options.nodes = 3;
  options.replicas = 2;  // default failure detection: dead after 4 s
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  const auto keys = make_keys(kKeys);
  {
    auto client = cluster->connect_client();
    REQUIRE_MESSAGE(client, client.error().describe());
    put_all(*client, keys);
    REQUIRE(wait_until([&]() { return stored_copies(*client) == 2 * keys.size(); }, 10s));
    // The cluster settled (no pass or catch-up due, as an operator waits for
    // before taking a node down). A catch-up caught half-sent by the freeze
    // is a separate, known race: its batch can wait in the frozen node's
    // socket and land after the refill (docs/design.md, catch-up pass).
    REQUIRE(wait_until(
        [&]() {
          for (const auto& s : client->stats()) {
            if (s.error || s.handoff_pending) {
              return false;
            }
          }
          return true;
        },
        20s));
  }

  NodeProcess& frozen = cluster->node(1);
  REQUIRE(frozen.send_signal(SIGSTOP));
  const auto stopped_at = Clock::now();
  if (writer_starts == WriterStarts::once_it_is_dead) {
    REQUIRE(wait_until([&]() { return declared_dead(*cluster, frozen); }, frozen_for));
  }
  // The frozen node last among the seeds, so the writer starts at once.
  const std::string seeds =
      cluster->node(0).address() + "," + cluster->node(2).address() + "," + frozen.address();
  auto writer = ChildProcess::spawn(
      {{executable_from_env("DISCACHE_THAW_WRITER"), seeds, std::to_string(kKeys)}, {}, ""});
  REQUIRE_MESSAGE(writer, writer.error());
  auto wrote = writer->wait_exit(deadline_in(20s));
  REQUIRE(wrote);
  INFO("writer: ", writer->stdout_text(), writer->stderr_text());
  REQUIRE(wrote->exited_with(0));
  std::this_thread::sleep_until(stopped_at + frozen_for);
  const auto frozen_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stopped_at).count();
  REQUIRE(frozen.send_signal(SIGCONT));
  const auto thawed_at = Clock::now();

  // At once, then for a while: fresh clients each pass, so none of them
  // learnt anything from the writes, and the thawed node asked directly.
  ReadTally through_cluster;
  ReadTally direct;
  int passes = 0;
  while (passes == 0 || Clock::now() < thawed_at + read_for) {
    ++passes;
    {
      discache::ClientOptions node_only;
      node_only.seeds = {frozen.address()};
      node_only.direct = true;
      auto client = discache::Client::connect(node_only);
      REQUIRE_MESSAGE(client, client.error().describe());
      read_all(*client, keys, "the thawed node", direct);
    }
    {
      auto client = cluster->connect_client();
      REQUIRE_MESSAGE(client, client.error().describe());
      read_all(*client, keys, "a client", through_cluster);
    }
  }
  std::printf(
      "[thaw] frozen %lld ms: %d passes over %zu keys in %lld ms; through the cluster "
      "%llu stale, %llu misses; from the thawed node %llu stale, %llu misses\n",
      static_cast<long long>(frozen_ms), passes, keys.size(),
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - thawed_at).count()),
      static_cast<unsigned long long>(through_cluster.stale),
      static_cast<unsigned long long>(through_cluster.misses),
      static_cast<unsigned long long>(direct.stale),
      static_cast<unsigned long long>(direct.misses));
  INFO(through_cluster.examples, direct.examples);
  CHECK(through_cluster.stale == 0);
  CHECK(direct.stale == 0);
  // It did forget (rather than get lucky), and it is refilled: each live
  // key is on both its owners again, deleted ones on neither.
  CHECK(frozen.log().find("was stopped for") != std::string::npos);
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  std::string missing;
  const bool refilled = wait_until(
      [&]() {
        missing = copies_not_current(*client, keys);
        return missing.empty();
      },
      15s);
  INFO("owners without the latest write:\n", missing);
  CHECK(refilled);
}

}  // namespace

// The writes reach the frozen node's sockets and wait there (some of them:
// the writer gives up on it at its deadline), with the hints it owes it.
TEST_CASE("a node frozen 2 s (suspect, not dead) serves no stale value once thawed") {
  check_thawed_node_serves_nothing_stale(2s, WriterStarts::at_once, 3s);
}

// The writes go to the dead node's successors only: before the fix the
// thawed node served its old values of the deleted keys for ever (a rejoin
// copies items to it, never the absence of one).
TEST_CASE("a node frozen 10 s (declared dead meanwhile) serves no stale value once thawed") {
  check_thawed_node_serves_nothing_stale(10s, WriterStarts::once_it_is_dead, 4s);
}
