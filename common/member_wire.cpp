#include "member_wire.h"

#include "wire_text.h"

namespace discache {

std::string_view to_string(MemberState state) noexcept {
  switch (state) {
    case MemberState::alive: return "alive";
    case MemberState::suspect: return "suspect";
    case MemberState::dead: return "dead";
    case MemberState::leaving: return "leaving";
    case MemberState::left: return "left";
  }
  return "unknown";
}

namespace {

MemberState from_wire(wire::MemberState state) {
  switch (state) {
    case wire::MemberState::ALIVE: return MemberState::alive;
    case wire::MemberState::SUSPECT: return MemberState::suspect;
    case wire::MemberState::DEAD: return MemberState::dead;
    case wire::MemberState::LEAVING: return MemberState::leaving;
    case wire::MemberState::LEFT: return MemberState::left;
  }
  return MemberState::dead;  // unknown future states: treat as unusable
}

wire::MemberState to_wire(MemberState state) {
  switch (state) {
    case MemberState::alive: return wire::MemberState::ALIVE;
    case MemberState::suspect: return wire::MemberState::SUSPECT;
    case MemberState::dead: return wire::MemberState::DEAD;
    case MemberState::leaving: return wire::MemberState::LEAVING;
    case MemberState::left: return wire::MemberState::LEFT;
  }
  return wire::MemberState::DEAD;
}

}  // namespace

Member read_member(wire::Member::Reader reader) {
  return Member{to_std(reader.getName()), to_std(reader.getAddress()), from_wire(reader.getState()),
                reader.getIncarnation(), reader.getLastHeardMsAgo(), reader.getBootId()};
}

void write_member(const Member& member, wire::Member::Builder builder) {
  builder.setName(text_of(member.name));
  builder.setAddress(text_of(member.address));
  builder.setState(to_wire(member.state));
  builder.setIncarnation(member.incarnation);
  builder.setLastHeardMsAgo(member.last_heard_ms_ago);
  builder.setBootId(member.boot_id);
}

MemberList read_member_list(wire::MemberList::Reader reader) {
  MemberList list;
  list.epoch = reader.getEpoch();
  list.replicas = reader.getReplicas();
  for (auto m : reader.getMembers()) {
    list.members.push_back(read_member(m));
  }
  return list;
}

void write_member_list(const MemberList& list, wire::MemberList::Builder builder) {
  builder.setEpoch(list.epoch);
  builder.setReplicas(list.replicas);
  auto members = builder.initMembers(list.members.size());
  for (unsigned i = 0; i < list.members.size(); ++i) {
    write_member(list.members[i], members[i]);
  }
}

}  // namespace discache
