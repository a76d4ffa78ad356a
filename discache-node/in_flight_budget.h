// One node-wide budget for the bytes a node holds outside its arena on
// behalf of clients: request messages being read or run, and answers waiting
// to be written. docs/design.md, "The in-flight budget", says why.
#pragma once

#include <kj/async.h>
#include <kj/timer.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <utility>

#include "task_failures.h"

namespace discache::node {

// Any thread. The node's count of bytes in flight, and the one rule (admits())
// that decides whether a request may be read now. Answers are owed: they are
// always counted (take_owed()), may push the count past the limit, and then
// stop reads until they drain, so the count always comes back down.
class InFlightBudget {
 public:
  // Below this size a frame may use the reserve (the last 1/8 of the budget)
  // while bigger ones wait: light clients keep being served under a flood of
  // large batches.
  static std::uint64_t small_frame(std::uint64_t limit) { return limit / 64; }
  static std::uint64_t reserve(std::uint64_t limit) { return limit / 8; }
  // The largest frame the budget could ever admit; a bigger one is refused.
  static std::uint64_t largest_frame(std::uint64_t limit) { return limit - reserve(limit); }

  // The default floor: room for a few full batches at once (the client
  // library's batch is at most 8 MiB), however small --memory is.
  static constexpr std::uint64_t kFloor = 32ull << 20;
  // Room a legitimate request needs besides its keys and values: the
  // message's framing and up to kMaxBatchOps op structs, rounded up.
  static constexpr std::uint64_t kRequestSlack = 1ull << 20;
  // --in-flight-budget's default: a quarter of --memory, at least kFloor,
  // and at least minimum_limit(), so no legitimate request is ever refused.
  static std::uint64_t default_limit(std::uint64_t memory, std::uint64_t largest_request,
                                     std::size_t loops);
  // The smallest limit under which a request of `largest_request` bytes is
  // still admitted (largest_frame() >= its charge).
  static std::uint64_t minimum_limit(std::uint64_t largest_request, std::size_t loops) {
    const std::uint64_t charged = charge(largest_request, loops);
    return charged + charged / 7 + 8;
  }

  // Set once, before any loop serves. `loops`: the node's event loops.
  void set_limit(std::uint64_t bytes, std::size_t loops) {
    limit_ = bytes;
    copies_ = loops > 1 ? 2 : 1;
  }
  // What a request frame of `frame_bytes` takes from the budget: its size,
  // twice on a node with several loops, where the ops other loops own are
  // copied for them (NodeLoop::hand_over) while the call still holds the
  // message. So the copies are inside the budget, not on top of it.
  std::uint64_t charge(std::uint64_t frame_bytes) const { return frame_bytes * copies_; }
  static std::uint64_t charge(std::uint64_t frame_bytes, std::size_t loops) {
    return loops > 1 ? 2 * frame_bytes : frame_bytes;
  }
  std::uint64_t limit() const { return limit_; }
  std::uint64_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  std::uint64_t peak() const { return peak_.load(std::memory_order_relaxed); }

  // Takes `bytes` for a request frame of a connection that already holds
  // `held`, if the rule admits it now; false: the caller waits (and counts
  // the pause). The rule, so the heaviest readers pause first:
  // - anyone may fill the budget up to its last 1/8 (the reserve);
  // - the reserve takes only small frames of connections holding little.
  bool try_take(std::uint64_t bytes, std::uint64_t held);
  // Answers already owed: always counted.
  void take_owed(std::uint64_t bytes);
  void give_back(std::uint64_t bytes);

  void count_pause() { paused_reads_.fetch_add(1, std::memory_order_relaxed); }
  void count_refused() { refused_frames_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t paused_reads() const { return paused_reads_.load(std::memory_order_relaxed); }
  std::uint64_t refused_frames() const { return refused_frames_.load(std::memory_order_relaxed); }

 private:
  void note_peak(std::uint64_t now);

  std::uint64_t limit_ = kFloor;
  std::uint64_t copies_ = 1;
  std::atomic<std::uint64_t> in_use_{0};
  std::atomic<std::uint64_t> peak_{0};
  std::atomic<std::uint64_t> paused_reads_{0};
  std::atomic<std::uint64_t> refused_frames_{0};
};

class ConnectionShare;

// Any thread (a call's ops run on several loops; its count is atomic). Room
// in the budget for the values one call's answer carries, taken before each
// value is copied into the answer: a value that does not fit is answered
// `deferred` (the client asks for it again) rather than the answer growing
// past the budget. An answer being built is not yet owed (a batch of 1,024
// gets of 1 MiB values would make a 1 GiB answer), so it must fit first.
// The room lasts until the RPC system has sent the answer and the guard
// counts it as queued (ConnectionShare::keep_answer).
class AnswerRoom {
 public:
  // Values one answer may carry (the first one always may, if the budget has
  // room): the client library's largest request, so an answer is about as
  // large as the largest request and far below the 64 MiB message limit.
  static constexpr std::uint64_t kMaxAnswerBytes = 8ull << 20;
  // An answer's result for one op, without its value: struct, pointer and
  // message, rounded up.
  static constexpr std::uint64_t kResultBytes = 48;
  // What a value costs in an answer: its bytes in whole words.
  static std::uint64_t cost(std::uint64_t value_bytes) { return (value_bytes + 7) & ~7ull; }

  // `held`: what the call's connection holds of the budget now (the rule
  // pauses the heaviest first).
  AnswerRoom(std::shared_ptr<InFlightBudget> budget, std::uint64_t held)
      : budget_(std::move(budget)), held_(held) {}
  // Gives back all it took.
  ~AnswerRoom();
  AnswerRoom(const AnswerRoom&) = delete;
  AnswerRoom& operator=(const AnswerRoom&) = delete;

  // The answer's results for `ops` ops, built whatever the budget says (they
  // are about as large as the request that asked for them, which the budget
  // admitted): counted, like an owed answer, until this room is destroyed.
  void hold_results(std::uint64_t ops, std::uint64_t copies);
  // Whether a value of `value_bytes` may go into this answer now; takes its
  // cost from the budget if so. `copies`: 2 for a value built on another
  // loop, which is copied into the answer from there.
  bool take(std::uint64_t value_bytes, std::uint64_t copies);
  // The connection's loop, once the answer is built: gives back the copies
  // made across loops (freed by now); the answer's own room stays until
  // this room is destroyed (ConnectionShare::keep_answer).
  void release_copies();
  // Whether no further value should even be looked up: the answer is at its
  // cap, or the budget already had no room for one of its values.
  bool full() const {
    return values_.load(std::memory_order_relaxed) >= kMaxAnswerBytes ||
           denied_.load(std::memory_order_relaxed) > 0;
  }
  // Bytes of values the budget had no room for (not those past the 8 MiB
  // cap): how much room the caller's connection should wait for before it
  // sends more (ConnectionShare::keep_answer).
  std::uint64_t denied() const { return denied_.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<InFlightBudget> budget_;
  std::uint64_t held_;
  std::atomic<std::uint64_t> answer_{0};  // in the answer
  std::atomic<std::uint64_t> values_{0};  // of answer_: values (the 8 MiB cap)
  std::atomic<std::uint64_t> copies_{0};  // in cross-loop answers, copied into it
  std::atomic<std::uint64_t> denied_{0};
};

// One event-loop thread only. Bytes of a request taken from the budget for
// one connection; given back when destroyed (the message it holds is freed,
// or the read that waited for it was cancelled).
class BudgetLease {
 public:
  BudgetLease(std::shared_ptr<ConnectionShare> share, std::uint64_t bytes);
  BudgetLease(BudgetLease&&) noexcept = default;
  BudgetLease& operator=(BudgetLease&&) noexcept = default;
  ~BudgetLease();

 private:
  std::shared_ptr<ConnectionShare> share_;
  std::uint64_t bytes_;
};

// One event-loop thread only. That loop's connections waiting for room in
// the budget, in arrival order. Room freed on this loop wakes them at once;
// room freed on another loop is noticed by a retry every kRetry while anyone
// waits (one timer per loop, not per connection), which is cheaper than a
// cross-thread wake-up per freed message.
class BudgetQueue {
 public:
  static constexpr kj::Duration kRetry = 5 * kj::MILLISECONDS;

  BudgetQueue(std::shared_ptr<InFlightBudget> budget, kj::Timer& timer);
  ~BudgetQueue();
  KJ_DISALLOW_COPY(BudgetQueue);

  const std::shared_ptr<InFlightBudget>& budget() { return budget_; }
  // Resolves to a lease of `bytes` for `share`'s connection once the rule
  // admits them (InFlightBudget::try_take, with the connection's holding at
  // that moment). Waiters are served in order, except that a small frame may
  // pass big ones (the reserve). `paused` runs, at once, if the caller waits.
  kj::Promise<BudgetLease> take(std::shared_ptr<ConnectionShare> share, std::uint64_t bytes,
                                const std::function<void()>& paused);
  // Some room came back on this loop: let waiters try again now.
  void room_freed();

 private:
  struct Waiter {
    std::uint64_t bytes;
    std::shared_ptr<ConnectionShare> share;
    kj::Own<kj::PromiseFulfiller<BudgetLease>> fulfiller;
  };
  // A lease if the rule admits `bytes` for `share` now.
  kj::Maybe<BudgetLease> try_lease(const std::shared_ptr<ConnectionShare>& share,
                                   std::uint64_t bytes);
  void serve_waiters();
  void arm_retry();

  std::shared_ptr<InFlightBudget> budget_;
  kj::Timer& timer_;
  std::deque<Waiter> waiters_;
  bool retry_armed_ = false;
  bool serving_ = false;
  IgnoreTaskFailures errors_;
  kj::TaskSet tasks_;
};

// One event-loop thread only, shared (std::shared_ptr) by a connection's
// guard, its stream's write queue and every lease of a message it read,
// since any of them may outlive the others (a call's message may even be
// freed after its loop has gone, as the process exits): what one
// connection holds of the budget, so the rule can pause the heaviest first.
class ConnectionShare : public std::enable_shared_from_this<ConnectionShare> {
 public:
  explicit ConnectionShare(const std::shared_ptr<BudgetQueue>& queue)
      : budget_(queue->budget()), queue_(queue) {}
  ~ConnectionShare() { give_back(held_); }
  KJ_DISALLOW_COPY(ConnectionShare);

  std::uint64_t held() const { return held_; }
  InFlightBudget& budget() { return *budget_; }
  const std::shared_ptr<InFlightBudget>& shared_budget() const { return budget_; }
  // Room for one call's answer (AnswerRoom), as this connection holds now;
  // shared, as the call's ops may run on several loops.
  std::shared_ptr<AnswerRoom> answer_room() {
    return std::make_shared<AnswerRoom>(budget_, held_);
  }
  // A call's answer is built: keeps its room until the RPC system has sent
  // it, when the guard counts it as queued (ConnectionGuard's
  // keep_until_queued), or at once if the guard has gone.
  // Values it deferred for want of room make the connection's next read
  // wait until the budget has that much room (take_wanted): a connection
  // asking for more than the budget holds is slowed to the pace at which
  // answers drain, as one sending large requests is.
  void keep_answer(std::shared_ptr<AnswerRoom> room) {
    wanted_ = std::max(wanted_, std::min(room->denied(), AnswerRoom::kMaxAnswerBytes));
    if (answer_keeper_) {
      answer_keeper_(std::move(room));
    }
  }
  std::uint64_t take_wanted() { return std::exchange(wanted_, 0); }
  // Set by the connection's guard while it lives.
  void set_answer_keeper(std::function<void(std::shared_ptr<AnswerRoom>)> keeper) {
    answer_keeper_ = std::move(keeper);
  }
  // A request frame: waits for room (see BudgetQueue::take).
  kj::Promise<BudgetLease> take_request(std::uint64_t bytes, const std::function<void()>& paused);
  // Answers owed: counted at once, whatever the budget says.
  void take_owed(std::uint64_t bytes);
  void give_back(std::uint64_t bytes);

 private:
  friend class BudgetQueue;
  // Bytes the budget already counted for this connection.
  void note_taken(std::uint64_t bytes) { held_ += bytes; }

  std::shared_ptr<InFlightBudget> budget_;
  // Gone once the loop has exited; only wakes waiters.
  std::weak_ptr<BudgetQueue> queue_;
  std::uint64_t held_ = 0;
  std::function<void(std::shared_ptr<AnswerRoom>)> answer_keeper_;
  std::uint64_t wanted_ = 0;  // room its next read waits for (keep_answer)
};

}  // namespace discache::node
