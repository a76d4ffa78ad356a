// Member lists merge entry by entry, by one rule, whatever the lists' epochs.
#include "member_order.h"

#include <doctest/doctest.h>

using discache::Member;
using discache::MemberList;
using discache::MemberState;

namespace {

Member entry(const char* name, MemberState state, std::uint64_t incarnation,
             std::uint64_t boot_id = 1) {
  return Member{name, std::string(name) + ":1", state, incarnation, 0, boot_id};
}

}  // namespace

TEST_CASE("a list with a lower epoch still brings a newer entry") {
  // A node that left raised its own epoch and pushed it before exiting; the
  // others' lists have lower epochs but newer news about that node.
  MemberList current{9, 2, {entry("a", MemberState::left, 5), entry("b", MemberState::alive, 3)}};
  const MemberList incoming{
      4, 2, {entry("a", MemberState::alive, 6, 2), entry("b", MemberState::alive, 3)}};
  CHECK(discache::merge_member_list(current, incoming));
  CHECK(current.members[0].state == MemberState::alive);
  CHECK(current.members[0].incarnation == 6);
  CHECK(current.epoch == 9);  // epochs never go back
}

TEST_CASE("older news never overwrites newer, and the same news changes nothing") {
  MemberList current{3, 2, {entry("a", MemberState::dead, 7)}};
  CHECK_FALSE(
      discache::merge_member_list(current, MemberList{5, 2, {entry("a", MemberState::alive, 7)}}));
  CHECK(current.members[0].state == MemberState::dead);  // same incarnation: more severe wins
  CHECK(current.epoch == 5);
  CHECK_FALSE(
      discache::merge_member_list(current, MemberList{5, 2, {entry("a", MemberState::dead, 7)}}));
}

TEST_CASE("a new member is added; members missing from the incoming list stay") {
  MemberList current{1, 2, {entry("a", MemberState::alive, 1)}};
  CHECK(
      discache::merge_member_list(current, MemberList{1, 3, {entry("b", MemberState::alive, 1)}}));
  REQUIRE(current.members.size() == 2);
  CHECK(current.members[1].name == "b");
  CHECK(current.replicas == 3);
}
