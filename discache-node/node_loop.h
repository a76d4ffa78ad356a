// One event-loop thread of a node: the shard it owns, and how it reaches the
// other loops' shards.
#pragma once

#include <capnp/message.h>
#include <kj/async.h>
#include <kj/timer.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "discache.capnp.h"
#include "in_flight_budget.h"
#include "limit_log.h"
#include "member_watchers.h"
#include "node_context.h"
#include "shard_operations.h"
#include "stall_watch.h"
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
//
// A thawed loop serves nothing stale (--forget-after-stall). After SIGCONT
// every thread wakes with requests already waiting: in its sockets, in the
// listening socket's backlog, in cross-loop jobs. Callers of those requests
// gave up (they waited past their deadline) and wrote elsewhere, so neither
// the store nor those requests can be trusted. A timer cannot guard this: it
// fires after the socket events of the same wake-up, whose reads and calls
// run first. So every path into the shard asks check_stall() first, which
// costs one comparison: a connection before it accepts (serve_connection)
// and before each message it hands to the RPC system (ConnectionGuard),
// every cross-loop job (run_on), and a periodic tick for an idle loop. On a
// stall the loop, before serving anything, forgets its shard, drops the
// connections waiting in its backlog and ends those open before the stall
// at their next message (their callers reconnect); loop 0 then takes a new
// boot id, so peers refill the node, and tells the other loops to forget.
class NodeLoop {
 public:
  // Registers this loop in node.loops and node.executors; call on the
  // loop's own thread, with its event loop running. `listen_fd`: this
  // loop's listening socket (owned by its listener), whose backlog a stall
  // drops; -1 for none.
  NodeLoop(NodeContext& node, std::size_t index, kj::Timer& timer, int listen_fd = -1);
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
  // The target loop checks for a stall (check_stall) before `f` runs.
  template <typename F>
  kj::Promise<std::invoke_result_t<F&>> run_on(std::size_t target, F f) {
    static_assert(!IsPromise<std::invoke_result_t<F&>>::value,
                  "a cross-loop job must not wait on a promise");
    if (target == index_) {
      check_stall();
      if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        return kj::evalNow([&f]() -> kj::Promise<void> {
          f();
          return kj::READY_NOW;
        });
      } else {
        return kj::evalNow([&f]() { return f(); });
      }
    }
    return node_.executors[target]->executeAsync(
        [&node = node_, target, f = kj::mv(f)]() mutable {
          // On the target's thread (null only once its loop is going away).
          if (NodeLoop* loop = node.loops[target]) {
            loop->check_stall();
          }
          return f();
        });
  }

  // Before serving: if this loop's thread was stopped for longer than
  // --forget-after-stall since it last looked, handles the stall (see the
  // class comment) before returning. One comparison when it was not.
  void check_stall() {
    if (stall_watch_.overdue(monotonic_now())) {
      observe_stall();
    }
  }
  // Counts this loop's stalls; a connection keeps the value it had when
  // accepted.
  std::uint64_t stall_generation() const { return stall_generation_; }
  // Whether a connection accepted at `generation` was open (or waiting to be
  // accepted) across a stall, checking for one first: it must then end
  // without another request served.
  bool spans_stall(std::uint64_t generation) {
    check_stall();
    return generation != stall_generation_;
  }

  // Applies `ops` in order, each on its key's shard; results[i] is the
  // outcome of ops[i]. Ops on one key keep their order, whichever loop owns
  // it. Resolves once every result is written; fails (DISCONNECTED) if a
  // loop it needed has exited. Gets put their values in `results` only as
  // `room` allows (ShardOperations::apply); none: the node's own reads.
  kj::Promise<void> apply(capnp::List<wire::Op>::Reader ops,
                          capnp::List<wire::OpResult>::Builder results,
                          std::shared_ptr<AnswerRoom> room = nullptr);

  // Loop 0 only: sends the current member list to every loop, whose
  // watchers then push it to their subscribers.
  void broadcast_members();

 private:
  using Nanos = StallWatch::Nanos;
  Nanos monotonic_now() const {
    return Nanos((timer_.now() - kj::origin<kj::TimePoint>()) / kj::NANOSECONDS);
  }
  // Starts a new stall interval; handles the stall the last one held.
  void observe_stall();
  kj::Promise<void> tick_stall_watch();
  void handle_stall(const StallWatch::Stall& stall);
  // Loop 0: loop `from` forgot its shard after a stall that began at
  // `began`; once per stall, takes a new boot id and has the others forget.
  void stall_reported(Nanos began, std::size_t from);
  // Forgets this loop's shard unless it did since `began`.
  void forget_unless_since(Nanos began);
  // Erases every item of this loop's shard; returns how many.
  std::size_t forget_shard();
  // Accepts and closes every connection waiting in the listening socket's
  // backlog; returns how many.
  std::size_t drop_waiting_connections();

  using Message = kj::Own<capnp::MallocMessageBuilder>;
  // Ops bound for one other loop, gathered during this turn.
  struct Outbox {
    std::vector<Message> requests;
    std::vector<std::shared_ptr<AnswerRoom>> rooms;  // by request
    std::vector<kj::Own<kj::PromiseFulfiller<Message>>> answers;
    bool scheduled = false;
    bool in_flight = false;  // a job to this loop has not come back yet
  };

  kj::Promise<Message> hand_over(std::size_t target, capnp::List<wire::Op>::Reader ops,
                                 const std::vector<unsigned>& indices,
                                 std::shared_ptr<AnswerRoom> room);
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
  int listen_fd_;
  StallWatch stall_watch_;
  int schedstat_fd_ = -1;  // this thread's /proc/thread-self/schedstat
  std::uint64_t stall_generation_ = 0;
  Nanos last_forget_ = Nanos::min();  // when this loop last forgot its shard
  Nanos renewed_at_ = Nanos::min();   // loop 0: when the boot id was last renewed
  kj::Own<kj::TaskSet::ErrorHandler> errors_;
  kj::TaskSet tasks_;
};

}  // namespace discache::node
