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
  // A list a node pushed to our watcher.
  void on_pushed(MemberList list);
  // Called after every change of the member list.
  void add_listener(std::function<void(const MemberList&)> listener) {
    listeners_.push_back(std::move(listener));
  }
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
  // Forgets the connection; `broken` also marks the node down for a while.
  void drop_link(const std::string& name, bool broken = false);
  std::optional<Error> down_error(const Member& member);
  void watch_through(const Member& target);
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
  // Nodes whose connection broke: ops fail fast until the member list shows a
  // new incarnation or the retry time passes (libmemcached-style ejection).
  struct Down {
    std::uint64_t incarnation;
    kj::TimePoint retry_at;
  };
  std::map<std::string, Down> down_;
  // The subscription to member-list pushes, and the link it rides on.
  std::vector<std::function<void(const MemberList&)>> listeners_;
  std::optional<wire::WatchHandle::Client> watch_handle_;
  std::string watch_link_;
  std::uint64_t next_generation_ = 1;
  kj::Own<kj::TaskSet::ErrorHandler> task_errors_;
  kj::TaskSet tasks_;
};

}  // namespace discache::detail
