#include "in_flight_budget.h"

#include <kj/debug.h>

#include <algorithm>

namespace discache::node {

// ---- InFlightBudget ------------------------------------------------------------

std::uint64_t InFlightBudget::default_limit(std::uint64_t memory, std::uint64_t largest_request,
                                            std::size_t loops) {
  return std::max({memory / 4, kFloor, minimum_limit(largest_request, loops)});
}

bool InFlightBudget::try_take(std::uint64_t bytes, std::uint64_t held) {
  const std::uint64_t pool = largest_frame(limit_);
  const bool small = bytes <= small_frame(limit_) && held <= small_frame(limit_);
  std::uint64_t now = in_use_.load(std::memory_order_relaxed);
  while (true) {
    const std::uint64_t after = now + bytes;
    if (after > pool && !(small && after <= limit_)) {
      return false;
    }
    if (in_use_.compare_exchange_weak(now, after, std::memory_order_relaxed)) {
      note_peak(after);
      return true;
    }
  }
}

void InFlightBudget::take_owed(std::uint64_t bytes) {
  note_peak(in_use_.fetch_add(bytes, std::memory_order_relaxed) + bytes);
}

void InFlightBudget::give_back(std::uint64_t bytes) {
  in_use_.fetch_sub(bytes, std::memory_order_relaxed);
}

void InFlightBudget::note_peak(std::uint64_t now) {
  std::uint64_t seen = peak_.load(std::memory_order_relaxed);
  while (now > seen && !peak_.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}

// ---- AnswerRoom ----------------------------------------------------------------

AnswerRoom::~AnswerRoom() {
  budget_->give_back(answer_.load(std::memory_order_relaxed) +
                     copies_.load(std::memory_order_relaxed));
}

bool AnswerRoom::take(std::uint64_t value_bytes, std::uint64_t copies) {
  const std::uint64_t bytes = cost(value_bytes);
  const std::uint64_t in_answer = answer_.load(std::memory_order_relaxed);
  const std::uint64_t values = values_.load(std::memory_order_relaxed);
  // Loops check this at once, so an answer may pass the cap by a value per loop.
  if (values > 0 && values + bytes > kMaxAnswerBytes) {
    return false;
  }
  if (!budget_->try_take(bytes * copies, held_ + in_answer)) {
    denied_.fetch_add(bytes, std::memory_order_relaxed);
    return false;
  }
  answer_.fetch_add(bytes, std::memory_order_relaxed);
  values_.fetch_add(bytes, std::memory_order_relaxed);
  copies_.fetch_add(bytes * (copies - 1), std::memory_order_relaxed);
  return true;
}

void AnswerRoom::hold_results(std::uint64_t ops, std::uint64_t copies) {
  const std::uint64_t bytes = ops * kResultBytes;
  budget_->take_owed(bytes * copies);
  answer_.fetch_add(bytes, std::memory_order_relaxed);
  copies_.fetch_add(bytes * (copies - 1), std::memory_order_relaxed);
}

void AnswerRoom::release_copies() {
  budget_->give_back(copies_.exchange(0, std::memory_order_relaxed));
}

// ---- BudgetLease ---------------------------------------------------------------

BudgetLease::BudgetLease(std::shared_ptr<ConnectionShare> share, std::uint64_t bytes)
    : share_(kj::mv(share)), bytes_(bytes) {}

BudgetLease::~BudgetLease() {
  if (share_) {
    share_->give_back(bytes_);
  }
}

// ---- BudgetQueue ---------------------------------------------------------------

BudgetQueue::BudgetQueue(std::shared_ptr<InFlightBudget> budget, kj::Timer& timer)
    : budget_(kj::mv(budget)), timer_(timer), tasks_(errors_) {}

BudgetQueue::~BudgetQueue() = default;

kj::Maybe<BudgetLease> BudgetQueue::try_lease(const std::shared_ptr<ConnectionShare>& share,
                                              std::uint64_t bytes) {
  if (!budget_->try_take(bytes, share->held())) {
    return nullptr;
  }
  share->note_taken(bytes);
  return BudgetLease(share, bytes);
}

kj::Promise<BudgetLease> BudgetQueue::take(std::shared_ptr<ConnectionShare> share,
                                           std::uint64_t bytes,
                                           const std::function<void()>& paused) {
  // Nobody ahead, or a small frame (which may pass): try at once, one CAS.
  if (waiters_.empty() || bytes <= InFlightBudget::small_frame(budget_->limit())) {
    KJ_IF_MAYBE (lease, try_lease(share, bytes)) {
      return kj::mv(*lease);
    }
  }
  budget_->count_pause();
  paused();
  auto paf = kj::newPromiseAndFulfiller<BudgetLease>();
  waiters_.push_back(Waiter{bytes, kj::mv(share), kj::mv(paf.fulfiller)});
  arm_retry();
  return kj::mv(paf.promise);
}

void BudgetQueue::room_freed() {
  if (!waiters_.empty()) {
    serve_waiters();
  }
}

void BudgetQueue::serve_waiters() {
  if (serving_) {
    return;  // a lease given back while serving (a cancelled waiter's)
  }
  serving_ = true;
  bool head_blocked = false;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (!it->fulfiller->isWaiting()) {
      it = waiters_.erase(it);  // its connection ended meanwhile
      continue;
    }
    // In order: once the head cannot go, only small frames (the reserve) may
    // pass it, so a big frame is not starved by a stream of big ones behind.
    const bool small = it->bytes <= InFlightBudget::small_frame(budget_->limit());
    if (!head_blocked || small) {
      KJ_IF_MAYBE (lease, try_lease(it->share, it->bytes)) {
        // The promise owns the lease now: if its read is cancelled before it
        // runs, the bytes come back with it.
        it->fulfiller->fulfill(kj::mv(*lease));
        it = waiters_.erase(it);
        continue;
      }
    }
    head_blocked = true;
    ++it;
  }
  serving_ = false;
  arm_retry();
}

void BudgetQueue::arm_retry() {
  if (waiters_.empty() || retry_armed_) {
    return;
  }
  retry_armed_ = true;
  tasks_.add(timer_.afterDelay(kRetry).then([this]() {
    retry_armed_ = false;
    serve_waiters();
  }));
}

// ---- ConnectionShare -----------------------------------------------------------

kj::Promise<BudgetLease> ConnectionShare::take_request(std::uint64_t bytes,
                                                       const std::function<void()>& paused) {
  auto queue = queue_.lock();
  if (!queue) {
    return KJ_EXCEPTION(DISCONNECTED, "the node is stopping");
  }
  return queue->take(shared_from_this(), bytes, paused);
}

void ConnectionShare::take_owed(std::uint64_t bytes) {
  held_ += bytes;
  budget_->take_owed(bytes);
}

void ConnectionShare::give_back(std::uint64_t bytes) {
  if (bytes == 0) {
    return;
  }
  KJ_ASSERT(bytes <= held_, "a connection gave back more than it held", bytes, held_);
  held_ -= bytes;
  budget_->give_back(bytes);
  if (auto queue = queue_.lock()) {
    queue->room_freed();
  }
}

}  // namespace discache::node
