// Membership that survives failures (issue 3), with real processes: joins
// through different seeds converge; a killed node leaves every view and a
// client's ring within the failure bound and rejoins when restarted; a
// stopped node is not alive anywhere within 1 s.
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <memory>

#include "expected_text.h"
#include "local_cluster.h"
#include "wait_until.h"

namespace discache::testing {
namespace {

using namespace std::chrono_literals;

// Fast failure detection so the test stays short; the defaults are measured
// in docs/benchmarks.md.
const std::vector<std::string> kFastTiming = {"--probe-interval", "100ms", "--suspect-after",
                                              "500ms", "--dead-after", "1500ms"};

std::string state_in(const MemberList& list, const std::string& name) {
  for (const auto& m : list.members) {
    if (m.name == name) {
      return std::string(to_string(m.state));
    }
  }
  return "absent";
}

int alive_count(const MemberList& list) {
  return static_cast<int>(std::count_if(list.members.begin(), list.members.end(), [](const Member& m) {
    return m.state == MemberState::alive;
  }));
}

// Five nodes, each joining through a different earlier node.
std::vector<std::unique_ptr<NodeProcess>> start_chain(std::size_t n) {
  std::vector<std::unique_ptr<NodeProcess>> nodes;
  for (std::size_t i = 0; i < n; ++i) {
    NodeConfig config{"m" + std::to_string(i), 0, {}, kFastTiming};
    if (i > 0) {
      config.seeds = {nodes[i - 1]->address()};  // a different seed for each
    }
    nodes.push_back(std::make_unique<NodeProcess>(config));
    auto started = nodes.back()->start();
    REQUIRE_MESSAGE(started, started.error());
  }
  return nodes;
}

bool every_view(std::vector<std::unique_ptr<NodeProcess>>& nodes,
                const std::function<bool(const MemberList&)>& holds) {
  for (auto& node : nodes) {
    if (!node->running()) {
      continue;
    }
    auto list = member_list_of(node->address());
    if (!list || !holds(*list)) {
      return false;
    }
  }
  return true;
}

TEST_CASE("5 nodes joining through different seeds converge, on every node and in a client") {
  auto nodes = start_chain(5);
  CHECK(wait_until([&] { return every_view(nodes, [](const MemberList& l) { return alive_count(l) == 5; }); },
                   deadline_in(15s)));
  ClientOptions options;
  options.seeds = {nodes[4]->address()};
  auto client = Client::connect(options);
  REQUIRE_MESSAGE(client, why(client));
  CHECK(wait_until([&] { return client->ring().nodes.size() == 5; }, deadline_in(10s)));
}

TEST_CASE("SIGKILL: every node and a connected client drop the node within the bound; it rejoins") {
  auto nodes = start_chain(5);
  REQUIRE(wait_until(
      [&] { return every_view(nodes, [](const MemberList& l) { return alive_count(l) == 5; }); },
      deadline_in(15s)));
  ClientOptions options;
  options.seeds = {nodes[0]->address()};
  auto client = Client::connect(options);
  REQUIRE_MESSAGE(client, why(client));
  REQUIRE(wait_until([&] { return client->ring().nodes.size() == 5; }, deadline_in(10s)));

  const auto killed_at = Clock::now();
  nodes[2]->kill();
  // dead-after 1.5 s: everyone (nodes by gossip, the client by push) within 3 s.
  CHECK(wait_until(
      [&] { return every_view(nodes, [](const MemberList& l) { return state_in(l, "m2") == "dead"; }); },
      killed_at + 3s));
  CHECK(wait_until([&] { return client->ring().nodes.size() == 4; }, killed_at + 3s));
  for (const auto& n : client->ring().nodes) {
    CHECK(n.name != "m2");
  }

  // Restarted with the same name (and port): alive again everywhere.
  auto restarted = nodes[2]->restart();
  REQUIRE_MESSAGE(restarted, restarted.error());
  CHECK(wait_until(
      [&] { return every_view(nodes, [](const MemberList& l) { return alive_count(l) == 5; }); },
      deadline_in(15s)));
  CHECK(wait_until([&] { return client->ring().nodes.size() == 5; }, deadline_in(10s)));
}

TEST_CASE("SIGTERM: the node is no longer alive anywhere within 1 s") {
  auto nodes = start_chain(4);
  REQUIRE(wait_until(
      [&] { return every_view(nodes, [](const MemberList& l) { return alive_count(l) == 4; }); },
      deadline_in(15s)));
  const auto stopped_at = Clock::now();
  REQUIRE(nodes[3]->send_signal(SIGTERM));
  CHECK(wait_until(
      [&] {
        return every_view(nodes, [](const MemberList& l) {
          const auto s = state_in(l, "m3");
          return s != "alive" && s != "absent";
        });
      },
      stopped_at + 1s));
  auto status = nodes[3]->stop();
  REQUIRE(status);
  CHECK(status->exited_with(0));
}

}  // namespace
}  // namespace discache::testing
