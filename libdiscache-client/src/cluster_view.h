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
#include "hint_set.h"
#include "key_op.h"
#include "node_connection.h"
#include "replicated_op.h"
#include "route_snapshot.h"
#include "tls_stream.h"
#include "version_clock.h"

namespace discache::detail {

// I/O thread only. Routes each KeyOp to the first owner on the ring, sending
// all ops for one node that were queued together as batch calls.
class ClusterView {
 public:
  // `tls`: null for plain TCP; read only here (this thread builds its own context).
  // `versions`: the client's clock, shared with callers' threads (ClientCore).
  ClusterView(kj::AsyncIoContext& io, const ClientOptions& options, VersionClock& versions,
              const TlsClientConfig* tls = nullptr);
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
    // A get the node deferred (its answer had no room): how long it has
    // waited to ask again so far, counting only answers that served nothing.
    std::chrono::milliseconds deferred_for{0};
  };

  const MemberList& members() const { return members_; }
  // A list a node pushed to our watcher.
  void on_pushed(MemberList list);
  // Merges `list` into the member list (member_order.h) and applies the
  // result when anything changed.
  void fold_in(const MemberList& list);
  // Re-subscribes through a serving member at once when the member this
  // view watches through is no longer serving.
  void watch_elsewhere_if_leaving();
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
  // Publishes a RouteSnapshot to `board` now and after every routing change,
  // for blocking reads done on callers' threads (caller_path.cpp).
  void publish_routes_to(RouteBoard& board);
  // Another thread's connection to `name` broke or missed the deadline: mark
  // it down here too, so the I/O thread routes around it at once.
  void report_unreachable(const std::string& name) { drop_link(name, /*broken=*/true); }
  // Asks every member for its stats; `done` runs once all answered or failed.
  void collect_stats(std::move_only_function<void(std::vector<NodeStats>)> done);

 private:
  struct Link {
    std::optional<wire::Node::Client> node;  // a promise capability while connecting
    kj::Own<NodeConnection> connection;
    std::uint64_t generation = 0;
  };

  wire::Node::Client node_for(const Member& member);
  // Forgets the connection; `broken` also marks the node down until a
  // background probe gets an answer from it (down_probe.cpp).
  void drop_link(const std::string& name, bool broken = false);
  std::optional<Error> down_error(const Member& member);
  // down_probe.cpp: the life of a node this client marked down, and the
  // tombstones it owes the node for writes it missed meanwhile.
  void mark_down(const std::string& name);
  void start_probe(const std::string& name);
  void on_probe_done(const std::string& name, std::uint64_t probe, bool answered);
  void restart_probes(const MemberList& list);
  void add_hint(const Member& owner, const KeyOp& op, std::uint64_t version);
  void flush_hints(const std::string& name);
  void send_hints(const Member& member, std::vector<Hint> hints,
                  std::function<void(bool answered)> done);
  const Member* member_named(std::string_view name) const;
  void watch_through(const Member& target);
  using Outbox = std::map<std::string, std::vector<Pending>>;
  void post(Outbox& outbox, const std::shared_ptr<ReplicatedOp>& op, std::vector<Send> sends);
  void flush(Outbox& outbox);
  void send_batch(const Member& member, std::vector<Pending> batch);
  void handle_reply(Outbox& outbox, Pending& pending, Reply reply);
  // Gets a node answered `deferred` go again to the same node: at once when
  // the same answer served others (it was full), else after a pause that
  // doubles up to kMaxDeferPause (its in-flight budget is full), failing
  // with Errc::overloaded once they waited for the deadline in all.
  static constexpr std::chrono::milliseconds kMaxDeferPause{64};
  void ask_again(Outbox& outbox, std::vector<Pending> deferred, bool served);
  // Owners of `key` under the current ring that are not down, in replica
  // order; the down ones go to `skipped` when given.
  std::vector<Member> live_owners(std::string_view key, std::vector<Member>* skipped = nullptr);
  // During a ring transition: owners under the previous ring not in `current`.
  std::vector<Member> previous_owners(std::string_view key, const std::vector<Member>& current);
  std::size_t replicas() const;
  void publish_route();
  void apply_members(MemberList list);
  // `notable`: the first TLS failure met so far, reported instead of no_seed
  // when no candidate answers.
  kj::Promise<std::expected<MemberList, Error>> fetch_members(std::size_t candidate,
                                                              std::optional<Error> notable = {});
  std::vector<std::string> member_candidates() const;
  Error translate(const kj::Exception& exception, const Member& member) const;

  kj::AsyncIoContext& io_;
  const ClientOptions& options_;
  kj::Own<TlsClient> tls_;  // null: plain TCP. Before links_, which use it.
  MemberList members_;
  HashRing ring_;
  std::vector<Member> ring_members_;  // aligned with ring_.nodes()
  // The ring before the last change, asked on a miss until the transition
  // window ends, so a node joining does not turn its keys cold.
  HashRing previous_ring_;
  std::vector<Member> previous_members_;
  kj::TimePoint previous_until_ = kj::origin<kj::TimePoint>();
  // Stamps writes; observes the version of every reply, so a write made
  // after this client saw a version (read, write or stale) is above it.
  VersionClock& versions_;
  std::map<std::string, Link> links_;
  // Nodes whose connection broke or that missed a deadline: ops skip them
  // (libmemcached-style ejection) until a probe, one call with no deadline
  // on a fresh connection, is answered. So a frozen node costs one deadline
  // in all, and is used again the moment it answers.
  struct Down {
    std::uint64_t incarnation;
    std::uint64_t probe = 0;  // the current probe's number; older answers are ignored
    bool probing = false;     // a probe is connecting or waiting for its answer
  };
  std::map<std::string, Down> down_;
  // Tombstones owed to replicas that missed writes, sent ahead of any op on
  // the replica's next connection (hinted handoff, kept by the client).
  static constexpr std::size_t kMaxHintsPerNode = 100000;
  std::map<std::string, HintSet, std::less<>> hints_;
  std::vector<std::string> hinted_;  // names with new hints since the last flush
  RouteBoard* route_board_ = nullptr;
  // The subscription to member-list pushes, and the link it rides on.
  std::vector<std::function<void(const MemberList&)>> listeners_;
  std::optional<wire::WatchHandle::Client> watch_handle_;
  std::string watch_link_;
  bool resubscribing_ = false;  // watch_elsewhere_if_leaving's fetch in flight
  std::uint64_t next_generation_ = 1;
  std::size_t calls_in_flight_ = 0;
  kj::Own<kj::TaskSet::ErrorHandler> task_errors_;
  kj::TaskSet tasks_;
};

}  // namespace discache::detail
