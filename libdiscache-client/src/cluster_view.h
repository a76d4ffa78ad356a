// The client's view of the cluster: member list, ring, and a link per node.
#pragma once

#include <kj/async-io.h>

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "discache.capnp.h"
#include "endpoint.h"
#include "hash_ring.h"
#include "key_op.h"
#include "node_connection.h"

namespace discache::detail {

// I/O thread only. Routes each KeyOp to the first owner on the ring, sending
// all ops for one node that were queued together as batch calls.
class ClusterView {
 public:
  ClusterView(kj::AsyncIoContext& io, const ClientOptions& options);
  ~ClusterView();

  // Reads the member list from the first seed that answers.
  kj::Promise<std::expected<void, Error>> bootstrap();
  // Re-reads the member list every refresh interval. Never resolves.
  kj::Promise<void> refresh_forever();

  // Sends every op to its owner; each op completes exactly once.
  void dispatch(std::vector<KeyOp> ops);

  const MemberList& members() const { return members_; }
  std::vector<Member> owners(std::string_view key) const;
  RingInfo ring_info() const;
  // Asks every member for its stats; `done` runs once all answered or failed.
  void collect_stats(std::move_only_function<void(std::vector<NodeStats>)> done);

 private:
  struct Link {
    std::optional<wire::Node::Client> node;  // a promise capability while connecting
    kj::Own<NodeConnection> connection;
    std::uint64_t generation = 0;
  };

  wire::Node::Client node_for(const Member& member);
  void drop_link(const std::string& name);
  void send_batch(const Member& member, std::vector<KeyOp> ops);
  void apply_members(MemberList list);
  kj::Promise<std::expected<MemberList, Error>> fetch_members(std::size_t candidate);
  std::vector<std::string> member_candidates() const;
  Error translate(const kj::Exception& exception, const Member& member) const;

  kj::AsyncIoContext& io_;
  const ClientOptions& options_;
  MemberList members_;
  HashRing ring_;
  std::vector<Member> ring_members_;  // aligned with ring_.nodes()
  std::map<std::string, Link> links_;
  std::uint64_t next_generation_ = 1;
  kj::Own<kj::TaskSet::ErrorHandler> task_errors_;
  kj::TaskSet tasks_;
};

}  // namespace discache::detail
