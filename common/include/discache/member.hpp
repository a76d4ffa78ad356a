// Cluster membership as clients and operators see it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace discache {

enum class MemberState : std::uint8_t { alive, suspect, dead, leaving, left };

// "alive", "suspect", "dead", "leaving" or "left".
std::string_view to_string(MemberState state) noexcept;

// One node as the member list describes it.
struct Member {
  std::string name;     // stable identity; the ring is built from names
  std::string address;  // host:port to connect to
  MemberState state = MemberState::alive;
  std::uint64_t incarnation = 0;  // raised only by the node itself; newer wins
  // How long ago the node that sent this list last heard from this member
  // (0 for the sender itself). Observer-specific: never merged.
  std::uint64_t last_heard_ms_ago = 0;
  // Random, new whenever the node's store starts empty (a process start, or
  // a node forgetting its contents): a changed boot id means "refill me".
  std::uint64_t boot_id = 0;
};

// A member list with its epoch (a version that only grows).
struct MemberList {
  std::uint64_t epoch = 0;
  std::uint32_t replicas = 1;
  std::vector<Member> members;
};

}  // namespace discache
