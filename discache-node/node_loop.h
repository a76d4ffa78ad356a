// One event-loop thread of a node: the shard it owns, and how it reaches the
// other loops' shards.
#pragma once

#include <capnp/message.h>
#include <kj/async.h>
#include <kj/timer.h>

#include <cstddef>
#include <type_traits>
#include <vector>

#include "discache.capnp.h"
#include "in_flight_budget.h"
#include "limit_log.h"
#include "member_watchers.h"
#include "node_context.h"
#include "shard_operations.h"
#include "tls_stream.h"

namespace discache::node {

template <typename T>
struct IsPromise : std::false_type {};
template <typename T>
struct IsPromise<kj::Promise<T>> : std::true_type {};

// Its own thread only. Loop i owns shard i of the store (a key's shard is
// chosen by its hash) and serves the connections the kernel hands to its
// listening socket. An op that arrives here for another loop's shard is
// copied into that loop's outbox; each outbox leaves once per event-loop
// turn, as one cross-thread job, so many ops share one wake-up of the
// owner instead of paying one each. No lock is taken on an op's path.
class NodeLoop {
 public:
  // Registers this loop in node.loops and node.executors; call on the
  // loop's own thread, with its event loop running.
  NodeLoop(NodeContext& node, std::size_t index, kj::Timer& timer);
  ~NodeLoop();
  KJ_DISALLOW_COPY(NodeLoop);

  NodeContext& node() { return node_; }
  std::size_t index() const { return index_; }
  ShardState& shard() { return *node_.shards[index_]; }
  kj::Timer& timer() { return timer_; }
  LimitLog& limit_log() { return log_; }
  // This loop's connections waiting for room in the node's in-flight budget.
  const std::shared_ptr<BudgetQueue>& budget_queue() { return budget_queue_; }
  MemberWatchers& watchers() { return watchers_; }
  // This loop's shard's operations; only for keys owns() says are here.
  ShardOperations& local_ops() { return ops_; }
  bool owns(KeyHash hash) const { return node_.store.shard_index(hash) == index_; }
  // This loop's TLS context when the node serves TLS (kj::TlsContext is not
  // shared between threads).
  kj::Maybe<TlsServer&> tls() {
    if (tls_) {
      return *tls_;
    }
    return nullptr;
  }

  // Runs `f` on loop `target`'s thread (right here if that is this loop) and
  // resolves with what it returned. `f` must finish synchronously: a
  // cross-thread job that waited on a promise could hold up a loop's exit.
  // If `target`'s loop has exited (the node is stopping), the promise fails
  // with DISCONNECTED.
  template <typename F>
  kj::Promise<std::invoke_result_t<F&>> run_on(std::size_t target, F f) {
    static_assert(!IsPromise<std::invoke_result_t<F&>>::value,
                  "a cross-loop job must not wait on a promise");
    if (target == index_) {
      if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        return kj::evalNow([&f]() -> kj::Promise<void> {
          f();
          return kj::READY_NOW;
        });
      } else {
        return kj::evalNow([&f]() { return f(); });
      }
    }
    return node_.executors[target]->executeAsync(kj::mv(f));
  }

  // Applies `ops` in order, each on its key's shard; results[i] is the
  // outcome of ops[i]. Ops on one key keep their order, whichever loop owns
  // it. Resolves once every result is written; fails (DISCONNECTED) if a
  // loop it needed has exited.
  kj::Promise<void> apply(capnp::List<wire::Op>::Reader ops,
                          capnp::List<wire::OpResult>::Builder results);

  // Loop 0 only: sends the current member list to every loop, whose
  // watchers then push it to their subscribers.
  void broadcast_members();

 private:
  using Message = kj::Own<capnp::MallocMessageBuilder>;
  // Ops bound for one other loop, gathered during this turn.
  struct Outbox {
    std::vector<Message> requests;
    std::vector<kj::Own<kj::PromiseFulfiller<Message>>> answers;
    bool scheduled = false;
    bool in_flight = false;  // a job to this loop has not come back yet
  };

  kj::Promise<Message> hand_over(std::size_t target, capnp::List<wire::Op>::Reader ops,
                                 const std::vector<unsigned>& indices);
  void send_outbox(std::size_t target);

  NodeContext& node_;
  std::size_t index_;
  kj::Timer& timer_;
  ShardOperations ops_;
  LimitLog log_;
  std::shared_ptr<BudgetQueue> budget_queue_;
  kj::Own<TlsServer> tls_;
  // The member list as loop 0 last sent it: what this loop's watchers push.
  MemberList latest_members_;
  MemberWatchers watchers_;
  std::vector<Outbox> outboxes_;  // by target loop
  kj::Own<kj::TaskSet::ErrorHandler> errors_;
  kj::TaskSet tasks_;
};

}  // namespace discache::node
