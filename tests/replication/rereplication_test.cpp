// Re-replication: after a node dies the survivors restore N copies, so a
// second failure later loses nothing; a rolling restart loses no key.
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <expected>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "key_set.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

// Failure detection fast enough for a test: dead 1.2 s after the last answer.
ClusterOptions four_nodes_two_replicas() {
  ClusterOptions options;
  options.nodes = 4;
  options.replicas = 2;
  options.node_args = {"--probe-interval", "100ms", "--suspect-after", "500ms", "--dead-after",
                       "1200ms"};
  return options;
}


// Stats of every node `client` knows that answered, by name.
std::map<std::string, discache::NodeStats> stats_by_name(discache::Client& client) {
  std::map<std::string, discache::NodeStats> out;
  for (auto& s : client.stats()) {
    if (!s.error) {
      out[s.name] = s;
    }
  }
  return out;
}

// A client that knows every node as a seed, so it can (re)connect whichever
// node is down.
discache::Client client_of(LocalCluster& cluster) {
  discache::ClientOptions options;
  options.seeds = cluster.addresses();
  auto client = discache::Client::connect(options);
  REQUIRE_MESSAGE(client, client.error().describe());
  return std::move(*client);
}

// True when every node in `viewers` lists `name` in one of `states` (or not at all).
bool listed_as(const std::vector<NodeProcess*>& viewers, const std::string& name,
               const std::set<discache::MemberState>& states) {
  for (auto* viewer : viewers) {
    auto list = member_list_of(viewer->address());
    if (!list) {
      return false;
    }
    for (const auto& m : list->members) {
      if (m.name == name && states.count(m.state) == 0) {
        return false;
      }
    }
  }
  return true;
}

std::vector<NodeProcess*> running_nodes(LocalCluster& cluster) {
  std::vector<NodeProcess*> out;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (cluster.node(i).running()) {
      out.push_back(&cluster.node(i));
    }
  }
  return out;
}

// handoff_runs of each running node now.
std::map<std::string, std::uint64_t> handoff_runs(discache::Client& client) {
  std::map<std::string, std::uint64_t> out;
  for (const auto& [name, s] : stats_by_name(client)) {
    out[name] = s.handoff_runs;
  }
  return out;
}

// Waits until each of `nodes` has run a handoff pass since `runs_before`
// (the serving set changed under it) and none is running one now. The
// error describes the last stats seen.
std::expected<void, std::string> wait_handoffs_done(
    discache::Client& client, const std::vector<NodeProcess*>& nodes,
    const std::map<std::string, std::uint64_t>& runs_before, std::chrono::milliseconds timeout) {
  std::string last;
  const bool done = wait_until(
      [&]() {
        auto stats = stats_by_name(client);
        std::ostringstream out;
        bool all_done = true;
        for (auto* node : nodes) {
          auto it = stats.find(node->name());
          if (it == stats.end()) {
            out << node->name() << " did not answer\n";
            all_done = false;
            continue;
          }
          auto before = runs_before.find(node->name());
          const std::uint64_t floor = before == runs_before.end() ? 0 : before->second;
          out << node->name() << " handoff_runs " << it->second.handoff_runs << " (before "
              << floor << ") pending " << it->second.handoff_pending << " keys sent "
              << it->second.handoff_keys << "\n";
          all_done = all_done && it->second.handoff_runs > floor && !it->second.handoff_pending;
        }
        last = out.str();
        return all_done;
      },
      timeout);
  if (done) {
    return {};
  }
  return std::unexpected(last);
}

}  // namespace

// Regression: node links were never reused (HashMap looked up by pointer),
// so handoff batches died with their connections, and the handoff's resumable
// scan skipped items that concurrent copies moved in the index. Both fixed.
TEST_CASE("N=2 on 4 nodes: kill one, wait for re-replication, kill a second: no key is lost") {
  auto cluster = LocalCluster::start(four_nodes_two_replicas());
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());

  const auto keys = make_keys(10000);
  put_all(*client, keys);
  REQUIRE(wait_until([&]() { return stored_copies(*client) == 2 * keys.size(); }, 10s));
  const auto runs_before = handoff_runs(*client);

  NodeProcess& first = cluster->node(3);
  CHECK(first.kill().killed_by(SIGKILL));
  const auto killed_at = Clock::now();
  const auto survivors = running_nodes(*cluster);
  REQUIRE(survivors.size() == 3);

  // Out of every survivor's ring, then every survivor has finished the pass
  // that re-replicated the dead node's keys.
  REQUIRE(wait_until(
      [&]() {
        return listed_as(survivors, first.name(),
                         {discache::MemberState::dead, discache::MemberState::left});
      },
      10s));
  const auto dead_at = Clock::now();
  auto replicated = wait_handoffs_done(*client, survivors, runs_before, 20s);
  REQUIRE_MESSAGE(replicated, "handoff stats:\n", replicated.error());
  const auto ms = [](Clock::duration d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  std::printf("[rereplication] %zu keys: declared dead %lld ms after the kill, handoffs done "
              "%lld ms after the kill\n",
              keys.size(), ms(dead_at - killed_at), ms(Clock::now() - killed_at));

  // Re-replication means every key is on both of its owners in the new ring
  // now, not just readable through a fallback.
  auto fresh = cluster->connect_client();
  REQUIRE_MESSAGE(fresh, fresh.error().describe());
  REQUIRE(wait_until(
      [&]() {
        const auto ring = fresh->ring();
        return std::none_of(ring.nodes.begin(), ring.nodes.end(),
                            [&](const auto& n) { return n.name == first.name(); });
      },
      5s));
  CHECK(missing_copies(*fresh, keys) == "");

  // A second failure, right away and after detection: every key still reads.
  NodeProcess& second = cluster->node(2);
  CHECK(second.kill().killed_by(SIGKILL));
  CHECK(unreadable_keys(*client, keys) == "");
  const auto last_two = running_nodes(*cluster);
  REQUIRE(wait_until(
      [&]() {
        return listed_as(last_two, second.name(),
                         {discache::MemberState::dead, discache::MemberState::left});
      },
      10s));
  CHECK(unreadable_keys(*client, keys) == "");
  auto after = cluster->connect_client();
  REQUIRE_MESSAGE(after, after.error().describe());
  CHECK(unreadable_keys(*after, keys) == "");
}

TEST_CASE("a rolling restart of all 4 nodes (SIGTERM, restart, wait) loses no key") {
  auto cluster = LocalCluster::start(four_nodes_two_replicas());
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = client_of(*cluster);

  const auto keys = make_keys(5000);
  put_all(client, keys);
  REQUIRE(wait_until([&]() { return stored_copies(client) == 2 * keys.size(); }, 10s));

  for (std::size_t i = 0; i < cluster->size(); ++i) {
    NodeProcess& node = cluster->node(i);
    CAPTURE(node.name());
    const auto restart_started = Clock::now();
    auto runs = handoff_runs(client);

    // SIGTERM: the node drains (hands every key over) and exits 0.
    auto stopped = node.stop(20s);
    REQUIRE(stopped);
    CHECK(stopped->exited_with(0));
    auto others = running_nodes(*cluster);
    REQUIRE(wait_until(
        [&]() {
          return listed_as(others, node.name(),
                           {discache::MemberState::left, discache::MemberState::dead});
        },
        10s));
    auto settled = wait_handoffs_done(client, others, runs, 20s);
    REQUIRE_MESSAGE(settled, "handoff stats after ", node.name(), " left:\n", settled.error());
    CHECK(unreadable_keys(client, keys) == "");

    // Back with the same name and port. Node 0 was everyone's seed: it
    // rejoins through node 1 instead of starting a cluster of its own.
    runs = handoff_runs(client);
    if (i == 0) {
      node.config().seeds = {cluster->node(1).address()};
    }
    auto restarted = node.restart();
    REQUIRE_MESSAGE(restarted, restarted.error());
    auto converged = cluster->wait_converged(20s);
    REQUIRE_MESSAGE(converged, converged.error());
    // The survivors filled the restarted node with the keys it owns again.
    settled = wait_handoffs_done(client, others, runs, 20s);
    REQUIRE_MESSAGE(settled, "handoff stats after ", node.name(), " came back:\n",
                    settled.error());
    CHECK(unreadable_keys(client, keys) == "");
    std::printf("[rolling] %s: SIGTERM to back and re-replicated in %lld ms\n",
                node.name().c_str(),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           Clock::now() - restart_started)
                                           .count()));
  }

  // Every key on both of its owners, read by a client that never saw the restarts.
  auto fresh = client_of(*cluster);
  CHECK(unreadable_keys(fresh, keys) == "");
  std::string missing;
  const bool complete = wait_until(
      [&]() {
        missing = missing_copies(fresh, keys);
        return missing.empty();
      },
      5s);
  INFO("copies missing on their owners:\n", missing);
  CHECK(complete);
}
