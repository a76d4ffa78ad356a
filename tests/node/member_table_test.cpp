// MemberTable: SWIM's merge rule, which makes gossip converge whatever the
// order in which news arrives.
#include "member_table.h"
#include "failure_detector.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace discache::node {
namespace {

Member member(std::string name, MemberState state, std::uint64_t incarnation) {
  std::string address = name + ".example:7400";
  return Member{std::move(name), std::move(address), state, incarnation};
}

// A table for node "self" that also knows "peer" as alive at incarnation 3,
// recording every change line it logs.
struct Fixture {
  std::vector<std::string> log;
  MemberTable table{member("self", MemberState::alive, 0), 2,
                    [this](const std::string& line) { log.push_back(line); }};

  Fixture() { REQUIRE(table.merge_one(member("peer", MemberState::alive, 3))); }

  const Member& peer() const {
    for (const auto& m : table.list().members) {
      if (m.name == "peer") {
        return m;
      }
    }
    FAIL("peer missing from the table");
    return table.self();  // not reached: FAIL throws
  }
};

TEST_CASE("a new table holds only self at epoch 1") {
  MemberTable table(member("self", MemberState::alive, 0), 3, nullptr);
  CHECK(table.epoch() == 1);
  CHECK(table.list().replicas == 3);
  REQUIRE(table.list().members.size() == 1);
  CHECK(table.self().name == "self");
  CHECK(table.peers().empty());
}

TEST_CASE("an unknown member is added and logged") {
  Fixture f;
  CHECK(f.table.list().members.size() == 2);
  CHECK(f.peer().incarnation == 3);
  CHECK(f.table.epoch() == 2);
  CHECK(f.log.size() == 1);
  REQUIRE(f.table.peers().size() == 1);
  CHECK(f.table.peers()[0].name == "peer");
}

TEST_CASE("a higher incarnation wins, even with a milder state") {
  Fixture f;
  REQUIRE(f.table.merge_one(member("peer", MemberState::suspect, 3)));
  CHECK(f.table.merge_one(member("peer", MemberState::alive, 4)));
  CHECK(f.peer().state == MemberState::alive);
  CHECK(f.peer().incarnation == 4);
}

TEST_CASE("at equal incarnation the more severe state wins") {
  Fixture f;
  CHECK(f.table.merge_one(member("peer", MemberState::suspect, 3)));
  CHECK(f.peer().state == MemberState::suspect);
  // Milder news at the same incarnation is not news.
  CHECK_FALSE(f.table.merge_one(member("peer", MemberState::alive, 3)));
  CHECK(f.peer().state == MemberState::suspect);
  CHECK(f.table.merge_one(member("peer", MemberState::dead, 3)));
  CHECK(f.peer().state == MemberState::dead);
  CHECK(f.table.merge_one(member("peer", MemberState::left, 3)));
  CHECK(f.peer().state == MemberState::left);
  // A left member is no longer a peer to gossip with.
  CHECK(f.table.peers().empty());
}

TEST_CASE("state_rank orders states by severity") {
  CHECK(state_rank(MemberState::alive) < state_rank(MemberState::suspect));
  CHECK(state_rank(MemberState::suspect) < state_rank(MemberState::leaving));
  CHECK(state_rank(MemberState::leaving) < state_rank(MemberState::dead));
  CHECK(state_rank(MemberState::dead) < state_rank(MemberState::left));
}

TEST_CASE("older news is ignored") {
  Fixture f;
  const std::uint64_t epoch = f.table.epoch();
  CHECK_FALSE(f.table.merge_one(member("peer", MemberState::dead, 2)));
  CHECK(f.peer().state == MemberState::alive);
  CHECK(f.peer().incarnation == 3);
  CHECK(f.table.epoch() == epoch);
  CHECK(f.log.size() == 1);
}

TEST_CASE("a nameless entry is ignored") {
  Fixture f;
  CHECK_FALSE(f.table.merge_one(member("", MemberState::alive, 9)));
  CHECK(f.table.list().members.size() == 2);
}

TEST_CASE("self refutes a rumour by raising its incarnation past it") {
  Fixture f;
  const std::uint64_t epoch = f.table.epoch();
  CHECK(f.table.merge_one(member("self", MemberState::suspect, 0)));
  CHECK(f.table.self().state == MemberState::alive);
  CHECK(f.table.self().incarnation == 1);
  CHECK(f.table.epoch() > epoch);

  // A rumour from a later incarnation (say, before a restart) is outbid too.
  CHECK(f.table.merge_one(member("self", MemberState::dead, 5)));
  CHECK(f.table.self().state == MemberState::alive);
  CHECK(f.table.self().incarnation == 6);

  // A rumour older than the refutation is already answered.
  CHECK_FALSE(f.table.merge_one(member("self", MemberState::suspect, 5)));
  CHECK(f.table.self().incarnation == 6);
}

TEST_CASE("refuting a dead rumour is counted, a suspect one is not (the read gate's cue)") {
  Fixture f;
  CHECK(f.table.merge_one(member("self", MemberState::suspect, 0)));
  CHECK(f.table.dead_rumours_refuted() == 0);
  CHECK(f.table.merge_one(member("self", MemberState::dead, 1)));
  CHECK(f.table.dead_rumours_refuted() == 1);
  CHECK_FALSE(f.table.merge_one(member("self", MemberState::dead, 1)));  // answered already
  CHECK(f.table.dead_rumours_refuted() == 1);
}

TEST_CASE("a node that is leaving does not refute, and others see it leave") {
  Fixture f;
  f.table.set_self_state(MemberState::leaving);
  CHECK(f.table.self().state == MemberState::leaving);
  CHECK(f.table.self().incarnation == 1);
  CHECK_FALSE(f.table.merge_one(member("self", MemberState::alive, 1)));
  CHECK(f.table.self().state == MemberState::leaving);

  // The raised incarnation is what makes the departure beat "alive" elsewhere.
  MemberTable other(member("other", MemberState::alive, 0), 2, nullptr);
  REQUIRE(other.merge_one(member("self", MemberState::alive, 0)));
  CHECK(other.merge_one(f.table.self()));
  CHECK(other.list().members.back().state == MemberState::leaving);
}

TEST_CASE("the epoch only grows") {
  Fixture f;
  MemberList remote;
  remote.epoch = 100;
  remote.members = {member("peer", MemberState::alive, 3)};
  CHECK_FALSE(f.table.merge(remote));
  // Adopted without a change, so a client moving between nodes never sees
  // the epoch go back.
  CHECK(f.table.epoch() == 100);

  remote.epoch = 50;
  remote.members = {member("peer", MemberState::suspect, 3)};
  CHECK(f.table.merge(remote));
  CHECK(f.table.epoch() == 101);

  remote.epoch = 500;
  remote.members = {member("peer", MemberState::dead, 3)};
  CHECK(f.table.merge(remote));
  CHECK(f.table.epoch() > 500);
}

TEST_CASE("merging a list identical to ours changes nothing") {
  Fixture f;
  REQUIRE(f.table.merge_one(member("third", MemberState::suspect, 8)));
  const MemberList copy = f.table.list();
  const std::size_t logged = f.log.size();
  CHECK_FALSE(f.table.merge(copy));
  CHECK(f.table.epoch() == copy.epoch);
  CHECK(f.table.list().members.size() == copy.members.size());
  CHECK(f.log.size() == logged);
}

TEST_CASE("two tables that saw the same news in different orders agree") {
  const std::vector<Member> news = {
      member("b", MemberState::alive, 1), member("b", MemberState::suspect, 1),
      member("c", MemberState::alive, 0), member("b", MemberState::alive, 2),
      member("c", MemberState::dead, 0),  member("c", MemberState::alive, 1),
  };
  MemberTable forward(member("a", MemberState::alive, 0), 2, nullptr);
  MemberTable backward(member("a", MemberState::alive, 0), 2, nullptr);
  for (const auto& m : news) {
    forward.merge_one(m);
  }
  for (auto it = news.rbegin(); it != news.rend(); ++it) {
    backward.merge_one(*it);
  }
  for (const auto& name : {"b", "c"}) {
    CAPTURE(name);
    const Member* in_forward = nullptr;
    const Member* in_backward = nullptr;
    for (const auto& m : forward.list().members) {
      in_forward = m.name == name ? &m : in_forward;
    }
    for (const auto& m : backward.list().members) {
      in_backward = m.name == name ? &m : in_backward;
    }
    REQUIRE(in_forward != nullptr);
    REQUIRE(in_backward != nullptr);
    CHECK(in_forward->state == in_backward->state);
    CHECK(in_forward->incarnation == in_backward->incarnation);
  }
}

}  // namespace
}  // namespace discache::node

namespace discache::node {
namespace {

// Regression (membership bench, 20 nodes under load): a node's final `left`
// announcement can be lost; its silence after `leaving` must not read as a death.
TEST_CASE("a leaving member that goes silent becomes left, not dead") {
  Member self{"self", "127.0.0.1:1", MemberState::alive, 10};
  MemberTable table(self, 2, nullptr);
  table.merge_one(Member{"peer", "127.0.0.1:2", MemberState::leaving, 5});
  FailureTiming timing;
  const auto start = table.last_heard("peer");
  detect_failures(table, timing, start + timing.suspect_after);
  REQUIRE(table.list().members.size() == 2);
  CHECK(table.list().members[1].state == MemberState::left);
}

}  // namespace
}  // namespace discache::node
