// Nodes joined through one seed converge on one member list.
#include <doctest/doctest.h>

#include <map>
#include <sstream>

#include "ctl_command.h"
#include "expected_text.h"
#include "json_value.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

// What one node says about the members, through `discache-ctl --node ADDR members --json`:
// name -> {address, state}, or an error text.
struct MembersView {
  std::map<std::string, std::pair<std::string, std::string>> members;
  double replicas = 0;
  double epoch = 0;
  std::string error;
};

MembersView members_seen_by(const std::string& address) {
  MembersView view;
  auto run = run_ctl({"--node", address, "members", "--json"}, std::nullopt, 10s);
  if (run.exit_code() != 0) {
    view.error = "discache-ctl members failed: " + (std::ostringstream() << run).str();
    return view;
  }
  auto doc = parse_json(run.out);
  if (!doc) {
    view.error = doc.error() + " in: " + run.out;
    return view;
  }
  view.epoch = (*doc)["epoch"].as_number();
  view.replicas = (*doc)["replicas"].as_number();
  for (const auto& row : (*doc)["members"].items()) {
    view.members[row["name"].as_string()] = {row["address"].as_string(),
                                             row["state"].as_string()};
  }
  return view;
}

}  // namespace

TEST_CASE("three nodes joined through one seed each list all three as alive") {
  // Start the nodes without waiting for convergence: that wait is what this
  // test is about, and it polls through discache-ctl instead of the harness.
  ClusterOptions options;
  options.await_convergence = false;
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  REQUIRE(cluster->size() == 3);

  std::map<std::string, std::string> expected;  // name -> address
  for (std::size_t i = 0; i < 3; ++i) {
    expected[cluster->node(i).name()] = cluster->node(i).address();
  }

  std::vector<MembersView> views(3);
  auto all_agree = [&]() {
    for (std::size_t i = 0; i < 3; ++i) {
      views[i] = members_seen_by(cluster->node(i).address());
      if (!views[i].error.empty() || views[i].members.size() != 3) {
        return false;
      }
      for (const auto& [name, address] : expected) {
        auto it = views[i].members.find(name);
        if (it == views[i].members.end() || it->second != std::pair{address, std::string("alive")}) {
          return false;
        }
      }
    }
    return true;
  };
  const bool converged = wait_until(all_agree, 20s);

  // The final views, asserted one by one so a failure says what is missing.
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("view of ", cluster->node(i).name(), ": ", views[i].error);
    CHECK(views[i].error.empty());
    CHECK(views[i].replicas >= 1);
    CHECK(views[i].replicas == views[0].replicas);
    CHECK(views[i].epoch >= 1);
    REQUIRE(views[i].members.size() == 3);
    for (const auto& [name, address] : expected) {
      INFO("member ", name);
      REQUIRE(views[i].members.count(name) == 1);
      CHECK(views[i].members[name].first == address);
      CHECK(views[i].members[name].second == "alive");
    }
  }
  CHECK(converged);
}

TEST_CASE("a node added later is seen by every node, and by a Client seeded with any one node") {
  ClusterOptions options;
  options.nodes = 2;
  options.name_prefix = "grow";
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());

  auto added = cluster->add_node();
  REQUIRE_MESSAGE(added, why(added));
  CHECK((*added)->name() == "grow-2");

  for (std::size_t i = 0; i < cluster->size(); ++i) {
    auto list = member_list_of(cluster->node(i).address());
    REQUIRE_MESSAGE(list, why(list));
    CHECK(list->members.size() == 3);
    for (const auto& m : list->members) {
      CHECK(m.state == discache::MemberState::alive);
    }
  }
}
