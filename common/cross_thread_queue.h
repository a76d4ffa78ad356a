// Hands items from any thread to one KJ event-loop thread, one wake-up per burst.
#pragma once

#include <kj/async.h>
#include <kj/mutex.h>

#include <vector>

namespace discache {

// push() and close() from any thread; pop_all() only on the consumer's KJ
// thread. Items pushed while the consumer is busy are collected and handed
// over together, so a burst costs one cross-thread wake-up.
template <typename T>
class CrossThreadQueue {
 public:
  // Any thread. Queues `item` and wakes the consumer if it is waiting.
  void push(T item) {
    auto lock = state_.lockExclusive();
    lock->items.push_back(std::move(item));
    wake(*lock);
  }

  // Any thread. pop_all() then resolves with an empty vector once drained.
  void close() {
    auto lock = state_.lockExclusive();
    lock->closed = true;
    wake(*lock);
  }

  // Consumer thread. Resolves with everything queued (never empty), or with
  // an empty vector once the queue is closed and drained.
  kj::Promise<std::vector<T>> pop_all() {
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    {
      auto lock = state_.lockExclusive();
      if (!lock->items.empty() || lock->closed) {
        std::vector<T> out;
        out.swap(lock->items);
        return out;
      }
      lock->waiting = kj::mv(paf.fulfiller);
    }
    return paf.promise.then([this]() { return pop_all(); });
  }

 private:
  struct State {
    std::vector<T> items;
    bool closed = false;
    kj::Own<kj::CrossThreadPromiseFulfiller<void>> waiting;
  };
  static void wake(State& state) {
    if (state.waiting.get() != nullptr) {
      state.waiting->fulfill();
      state.waiting = nullptr;
    }
  }

  kj::MutexGuarded<State> state_;
};

}  // namespace discache
