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

// ---- boot ids: restarts, and one name, one node --------------------------------
namespace discache::node {
namespace {

Member process(std::string name, std::string address, std::uint64_t incarnation,
               std::uint64_t boot_id, MemberState state = MemberState::alive) {
  return Member{std::move(name), std::move(address), state, incarnation, 0, boot_id};
}

const Member* entry(const MemberTable& table, const std::string& name) {
  for (const auto& m : table.list().members) {
    if (m.name == name) {
      return &m;
    }
  }
  return nullptr;
}

TEST_CASE("at equal incarnation, the entry with the higher boot id wins, whatever the state") {
  const Member a = process("x", "127.0.0.1:1", 7, 100, MemberState::suspect);
  const Member b = process("x", "127.0.0.1:2", 7, 200, MemberState::alive);
  CHECK(supersedes(b, a));
  CHECK_FALSE(supersedes(a, b));
  // One process's entries still order by severity, and an unknown (0) boot
  // id falls back to that too.
  CHECK(supersedes(process("x", "a", 7, 100, MemberState::dead), a));
  CHECK(supersedes(process("x", "a", 7, 0, MemberState::dead), b));
  CHECK(supersedes(process("x", "a", 8, 1), b));
}

TEST_CASE("a member back with a new boot id replaces its entry and is logged as empty") {
  std::vector<std::string> log;
  MemberTable table(process("self", "127.0.0.1:1", 5, 11), 2,
                    [&log](const std::string& line) { log.push_back(line); });
  REQUIRE(table.merge_one(process("peer", "127.0.0.1:2", 10, 21)));
  log.clear();
  // Same address, same state, higher incarnation: before boot ids this was
  // silent, and the rebalancer never heard of the restart.
  CHECK(table.merge_one(process("peer", "127.0.0.1:2", 12, 22)));
  CHECK(entry(table, "peer")->boot_id == 22);
  REQUIRE(log.size() == 1);
  CHECK(log[0].find("empty store") != std::string::npos);
}

TEST_CASE("a new run outbids the entry its earlier run left, even from a clock behind") {
  MemberTable table(process("self", "127.0.0.1:1", 100, 2), 2, nullptr);
  // The seed's join reply lists the earlier run at a later incarnation.
  const Member earlier = process("self", "127.0.0.1:1", 500, 1);
  table.outbid(earlier);
  CHECK(table.self().incarnation == 501);
  CHECK(supersedes(table.self(), earlier));
  // Outbidding our own current entry changes nothing.
  table.outbid(table.self());
  CHECK(table.self().incarnation == 501);

  // Gossip carrying an earlier run's entry (same address) is refuted too.
  CHECK(table.merge_one(process("self", "127.0.0.1:1", 900, 1)));
  CHECK(table.self().incarnation == 901);
  CHECK(table.self().boot_id == 2);
  // And so is a dead earlier run at another address: the name is ours now.
  CHECK(table.merge_one(process("self", "127.0.0.1:9", 1000, 1, MemberState::dead)));
  CHECK(table.self().incarnation == 1001);
  CHECK(table.self().address == "127.0.0.1:1");
}

TEST_CASE("another live node under our name: never refuted; we yield if its entry wins") {
  std::vector<std::string> taken;
  MemberTable table(process("x", "127.0.0.1:1", 10, 5), 2, nullptr,
                    [&taken](const std::string& why) { taken.push_back(why); });
  // Its entry loses to ours: ignored, nothing raised.
  CHECK_FALSE(table.merge_one(process("x", "127.0.0.1:2", 9, 6)));
  CHECK(table.self().incarnation == 10);
  CHECK(taken.empty());
  // Its entry wins: we do not outbid it (that is the flip-flop); we yield.
  CHECK_FALSE(table.merge_one(process("x", "127.0.0.1:2", 11, 6)));
  CHECK(table.self().incarnation == 10);
  CHECK(table.self().address == "127.0.0.1:1");
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].find("127.0.0.1:1") != std::string::npos);
  CHECK(taken[0].find("127.0.0.1:2") != std::string::npos);
}

// Regression: two nodes started with one --name outbid each other on every
// exchange, so the name's address flipped in every table (and in clients).
TEST_CASE("two live nodes with one name: gossip converges on one, incarnations stay put") {
  int taken_1 = 0;
  int taken_2 = 0;
  MemberTable x1(process("x", "127.0.0.1:1", 10, 111), 2, nullptr,
                 [&taken_1](const std::string&) { ++taken_1; });
  MemberTable x2(process("x", "127.0.0.1:2", 10, 222), 2, nullptr,
                 [&taken_2](const std::string&) { ++taken_2; });
  MemberTable peer(process("p", "127.0.0.1:3", 1, 333), 2, nullptr);
  // Push-pull rounds: peer <-> x1, then peer <-> x2.
  for (int round = 0; round < 10; ++round) {
    for (MemberTable* node : {&x1, &x2}) {
      peer.merge(node->list());
      node->merge(peer.list());
    }
  }
  CHECK(x1.self().incarnation == 10);
  CHECK(x2.self().incarnation == 10);
  // Equal incarnations: the higher boot id (x2) holds the name everywhere.
  CHECK(taken_1 > 0);
  CHECK(taken_2 == 0);
  REQUIRE(entry(peer, "x") != nullptr);
  CHECK(entry(peer, "x")->address == "127.0.0.1:2");
}

TEST_CASE("name_holder: a live holder elsewhere refuses a joiner; a gone one does not") {
  MemberTable table(process("seed", "127.0.0.1:1", 1, 1), 2, nullptr);
  REQUIRE(table.merge_one(process("x", "127.0.0.1:2", 5, 2)));
  const auto heard = table.last_heard("x");
  const auto gone_after = std::chrono::milliseconds(1500);

  // Another process at another address, while x is heard from: refused.
  const Member joiner = process("x", "127.0.0.1:9", 3, 9);
  auto holder = table.name_holder(joiner, heard + std::chrono::milliseconds(100), gone_after);
  REQUIRE(holder);
  CHECK(holder->address == "127.0.0.1:2");
  // A restart at the holder's own address, or the same process again: fine.
  CHECK_FALSE(table.name_holder(process("x", "127.0.0.1:2", 3, 9), heard, gone_after));
  CHECK_FALSE(table.name_holder(process("x", "127.0.0.1:9", 3, 2), heard, gone_after));
  // Silent for --suspect-after: gone, so the joiner takes the name back.
  CHECK_FALSE(table.name_holder(joiner, heard + gone_after, gone_after));
  // Dead: gone too.
  REQUIRE(table.mark("x", MemberState::dead));
  CHECK_FALSE(table.name_holder(joiner, heard, gone_after));
  // A free name, and the seed's own name (the seed is alive: it answers).
  CHECK_FALSE(table.name_holder(process("y", "127.0.0.1:9", 1, 9), heard, gone_after));
  REQUIRE(table.name_holder(process("seed", "127.0.0.1:9", 1, 9), heard, gone_after));
}

TEST_CASE("renew_boot: a new boot id and incarnation, which peers see as a restart") {
  std::vector<std::string> log;
  MemberTable table(process("self", "127.0.0.1:1", 5, 1), 2,
                    [&log](const std::string& line) { log.push_back(line); });
  MemberTable peer(process("peer", "127.0.0.1:2", 1, 2), 2, nullptr);
  REQUIRE(peer.merge_one(table.self()));
  table.renew_boot(42, "was stopped and forgot its store");
  CHECK(table.self().boot_id == 42);
  CHECK(table.self().incarnation == 6);
  CHECK(log.size() == 1);
  CHECK(peer.merge_one(table.self()));
  CHECK(entry(peer, "self")->boot_id == 42);
}

TEST_CASE("restart_silence: our own stop does not count as the peers' silence") {
  MemberTable table(process("self", "127.0.0.1:1", 1, 1), 2, nullptr);
  REQUIRE(table.merge_one(process("peer", "127.0.0.1:2", 1, 2)));
  const auto later = table.last_heard("peer") + std::chrono::seconds(10);
  table.restart_silence(later);
  CHECK(table.last_heard("peer") == later);
  FailureTiming timing;
  CHECK(detect_failures(table, timing, later + timing.suspect_after / 2) == 0);
}

TEST_CASE("new_boot_id is never 0 (0 means an old node that does not say)") {
  for (int i = 0; i < 100; ++i) {
    CHECK(new_boot_id() != 0);
  }
}

}  // namespace
}  // namespace discache::node
