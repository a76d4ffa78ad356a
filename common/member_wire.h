// Conversions between the public member types and the wire schema.
#pragma once

#include <discache/member.hpp>

#include "discache.capnp.h"

namespace discache {

Member read_member(wire::Member::Reader reader);
void write_member(const Member& member, wire::Member::Builder builder);
MemberList read_member_list(wire::MemberList::Reader reader);
void write_member_list(const MemberList& list, wire::MemberList::Builder builder);

}  // namespace discache
