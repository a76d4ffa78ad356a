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
#include "replicated_op.h"
#include "version_clock.h"

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

  // Sends every op to its owners (op_dispatch.cpp); each completes exactly once.
  void dispatch(std::vector<KeyOp> ops);
  // Resolves once no batch call is in flight (background replica writes and
  // repairs included), or after `limit`: a client shutting down finishes
  // what it already acknowledged to its caller.
  kj::Promise<void> settle(kj::Duration limit);

  // One replica-level send of an op, waiting in the outbox or in flight.
  struct Pending {
    std::shared_ptr<ReplicatedOp> op;
    Send send;
  };

  const MemberList& members() const { return members_; }
  // A list a node pushed to our watcher.
  void on_pushed(MemberList list);
  // Called after every change of the member list.
  void add_listener(std::function<void(const MemberList&)> listener) {
    listeners_.push_back(std::move(listener));
  }
  std::vector<Member> owners(std::string_view key) const;
  RingInfo ring_info() const;
  // Asks each owner of `key` whether it holds it.
  void locate(std::string_view key, std::move_only_function<void(std::vector<Replica>)> done);
  // Asks the member named (or addressed) `node` to drain.
  void drain(std::string_view node, std::move_only_function<void(std::expected<void, Error>)> done);
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
  using Outbox = std::map<std::string, std::vector<Pending>>;
  void post(Outbox& outbox, const std::shared_ptr<ReplicatedOp>& op, std::vector<Send> sends);
  void flush(Outbox& outbox);
  void send_batch(const Member& member, std::vector<Pending> batch);
  void handle_reply(Outbox& outbox, Pending& pending, Reply reply);
  // Owners of `key` under the current ring that are not down, in replica order.
  std::vector<Member> live_owners(std::string_view key);
  // During a ring transition: owners under the previous ring not in `current`.
  std::vector<Member> previous_owners(std::string_view key, const std::vector<Member>& current);
  std::size_t replicas() const;
  void apply_members(MemberList list);
  kj::Promise<std::expected<MemberList, Error>> fetch_members(std::size_t candidate);
  std::vector<std::string> member_candidates() const;
  Error translate(const kj::Exception& exception, const Member& member) const;

  kj::AsyncIoContext& io_;
  const ClientOptions& options_;
  MemberList members_;
  HashRing ring_;
  std::vector<Member> ring_members_;  // aligned with ring_.nodes()
  // The ring before the last change, asked on a miss until the transition
  // window ends, so a node joining does not turn its keys cold.
  HashRing previous_ring_;
  std::vector<Member> previous_members_;
  kj::TimePoint previous_until_ = kj::origin<kj::TimePoint>();
  VersionClock versions_;
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
  std::size_t calls_in_flight_ = 0;
  kj::Own<kj::TaskSet::ErrorHandler> task_errors_;
  kj::TaskSet tasks_;
};

}  // namespace discache::detail
