// The wire schema through real serialization: what one process writes, another
// reads back field for field.
#include "member_wire.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "discache.capnp.h"
#include "wire_text.h"

namespace discache {
namespace {

// Serializes to the flat bytes that cross the network, so the test also
// covers segment framing, not just in-memory builder/reader views.
kj::Array<capnp::word> to_flat(capnp::MessageBuilder& message) {
  return capnp::messageToFlatArray(message);
}

MemberList round_trip(const MemberList& list) {
  capnp::MallocMessageBuilder message;
  write_member_list(list, message.initRoot<wire::MemberList>());
  const kj::Array<capnp::word> flat = to_flat(message);
  capnp::FlatArrayMessageReader reader(flat);
  return read_member_list(reader.getRoot<wire::MemberList>());
}

void check_same(const MemberList& got, const MemberList& want) {
  CHECK(got.epoch == want.epoch);
  CHECK(got.replicas == want.replicas);
  REQUIRE(got.members.size() == want.members.size());
  for (std::size_t i = 0; i < want.members.size(); ++i) {
    CAPTURE(i);
    CHECK(got.members[i].name == want.members[i].name);
    CHECK(got.members[i].address == want.members[i].address);
    CHECK(got.members[i].state == want.members[i].state);
    CHECK(got.members[i].incarnation == want.members[i].incarnation);
    CHECK(got.members[i].last_heard_ms_ago == want.members[i].last_heard_ms_ago);
  }
}

TEST_CASE("a member list survives serialization with every field and state") {
  MemberList list;
  list.epoch = std::numeric_limits<std::uint64_t>::max() - 1;
  list.replicas = 3;
  list.members = {
      {"node-a", "127.0.0.1:7400", MemberState::alive, 0, 0},
      {"node-b", "[::1]:7401", MemberState::suspect, 7, 1'500},
      {"node-c", "cache-3.example.com:7402", MemberState::dead, 42, 60'000},
      {"node-d", "10.0.0.4:7403", MemberState::leaving, 1'000'000, 3},
      {"nœud-é", "10.0.0.5:7404", MemberState::left, std::numeric_limits<std::uint64_t>::max(),
       std::numeric_limits<std::uint64_t>::max()},
  };
  check_same(round_trip(list), list);
}

TEST_CASE("an empty member list round-trips") {
  MemberList list;
  list.epoch = 0;
  list.replicas = 1;
  check_same(round_trip(list), list);
}

TEST_CASE("a member state from a newer schema reads as dead") {
  // A newer node may add states; an older reader must not route to a member
  // it cannot classify.
  capnp::MallocMessageBuilder message;
  auto member = message.initRoot<wire::Member>();
  member.setName("future");
  member.setState(static_cast<wire::MemberState>(99));
  const kj::Array<capnp::word> flat = to_flat(message);
  capnp::FlatArrayMessageReader reader(flat);
  CHECK(read_member(reader.getRoot<wire::Member>()).state == MemberState::dead);
}

TEST_CASE("a put op keeps binary key and value bytes, including zero bytes") {
  using namespace std::string_view_literals;
  const std::string_view key = "k\0e\xffy"sv;
  const std::string_view value = "\0\0value\0with\0nuls\0"sv;
  REQUIRE(key.size() == 5);
  REQUIRE(value.size() == 18);

  capnp::MallocMessageBuilder message;
  auto op = message.initRoot<wire::Op>();
  op.setKey(data_of(key));
  auto put = op.initPut();
  put.setValue(data_of(value));
  auto options = put.initOptions();
  options.setTtlMs(30'000);
  options.setMode(wire::PutMode::COMPARE_AND_SET);
  options.setExpectedVersion(17);
  options.setVersion(18);

  const kj::Array<capnp::word> flat = to_flat(message);
  capnp::FlatArrayMessageReader reader(flat);
  const auto read = reader.getRoot<wire::Op>();
  CHECK(view_of(read.getKey()) == key);
  REQUIRE(read.which() == wire::Op::PUT);
  CHECK(view_of(read.getPut().getValue()) == value);
  const auto read_options = read.getPut().getOptions();
  CHECK(read_options.getTtlMs() == 30'000);
  CHECK(read_options.getMode() == wire::PutMode::COMPARE_AND_SET);
  CHECK(read_options.getExpectedVersion() == 17);
  CHECK(read_options.getVersion() == 18);
}

TEST_CASE("a get op carries no put fields") {
  capnp::MallocMessageBuilder message;
  auto op = message.initRoot<wire::Op>();
  op.setKey(data_of("key"));
  op.setGet();
  const kj::Array<capnp::word> flat = to_flat(message);
  capnp::FlatArrayMessageReader reader(flat);
  const auto read = reader.getRoot<wire::Op>();
  CHECK(read.which() == wire::Op::GET);
  CHECK(view_of(read.getKey()) == "key");
}

}  // namespace
}  // namespace discache
