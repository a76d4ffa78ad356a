// Each node's OWN member list, kept current over one RPC connection per node,
// and waits for a condition over all of them.
#pragma once

#include <kj/async-io.h>

#include <chrono>
#include <cstddef>
#include <discache/member.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "discache.capnp.h"
#include "endpoint.h"
#include "node_connection.h"

namespace discache::bench {

// KJ thread only. Asks each node directly (never through a client's routing),
// either by Node.watch (the node pushes its list after every change) or by
// calling Node.members every poll interval.
class MemberViews {
 public:
  using Clock = std::chrono::steady_clock;

  struct View {
    std::string node;                // the node whose own list this is
    bool observed = false;           // still connected and counted by conditions
    std::optional<MemberList> list;  // the newest list it sent (highest epoch)
  };
  // A condition over the views of all observed nodes.
  using Condition = std::function<bool(const std::vector<View>&)>;

  // poll_interval 0: use watch pushes; otherwise poll at that interval.
  MemberViews(kj::AsyncIoContext& io, std::chrono::milliseconds poll_interval);
  ~MemberViews();
  MemberViews(const MemberViews&) = delete;
  MemberViews& operator=(const MemberViews&) = delete;

  // Connects to `node` at `address` as view number `index` (views are
  // indexed like the nodes) and keeps its list current. Resolves once the
  // first list has arrived.
  kj::Promise<void> observe(std::size_t index, std::string node, Endpoint address);
  // Stops observing view `index` and drops its connection: call it before
  // the node is killed, so its disconnect is expected.
  void forget(std::size_t index);
  // Drops every connection and view (between runs).
  void clear();

  // Something to wait for, named for error messages.
  struct Goal {
    std::string what;
    Condition condition;
  };
  // When each goal first held (nullopt: not by the deadline) and, if any
  // missed, which ones and what every node saw at the deadline.
  struct Reached {
    std::vector<std::optional<Clock::time_point>> times;
    std::string missed;  // empty when every goal was met
  };
  // Resolves once every goal has held, or at `deadline` with what was met.
  // Goals are checked after every change, so one that holds only briefly
  // still counts. Rejects when an observed node's connection breaks. One
  // wait at a time.
  kj::Promise<Reached> wait_for(std::vector<Goal> goals, Clock::time_point deadline);

  const std::vector<View>& views() const { return views_; }
  // One line per observed node: its name and "member=state" words.
  std::string describe() const;

 private:
  class ListReceiver;
  struct Link {
    kj::Own<NodeConnection> connection;
    kj::Maybe<wire::WatchHandle::Client> handle;
    std::uint64_t generation = 0;
    // Wraps every promise that uses `connection`; cancelled before it is dropped.
    kj::Own<kj::Canceler> canceler = kj::heap<kj::Canceler>();
  };
  struct Waiting;

  void apply(std::size_t index, std::uint64_t generation, MemberList list);
  void lost(std::size_t index, std::uint64_t generation, const kj::Exception& exception);
  kj::Promise<void> poll_loop(std::size_t index, std::uint64_t generation);
  kj::Promise<void> wait_step(Waiting& waiting);
  void drop_link(std::size_t index);
  void wake();

  kj::AsyncIoContext& io_;
  std::chrono::milliseconds poll_interval_;
  std::vector<View> views_;
  std::vector<Link> links_;
  std::uint64_t next_generation_ = 1;
  std::optional<std::string> broken_;  // why an observed link failed
  kj::Own<kj::PromiseFulfiller<void>> changed_;
  kj::Own<kj::TaskSet::ErrorHandler> task_errors_;
  kj::TaskSet tasks_;
};

}  // namespace discache::bench
