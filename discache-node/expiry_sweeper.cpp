#include "expiry_sweeper.h"

namespace discache::node {

kj::Promise<void> run_expiry_sweeper(ShardedStore& store, kj::Timer& timer, SweepSchedule schedule,
                                     std::uint64_t (*now_ms)()) {
  return timer.afterDelay(schedule.interval).then([&store, &timer, schedule, now_ms]() {
    store.sweep_expired(now_ms(), schedule.blocks_per_tick);
    return run_expiry_sweeper(store, timer, schedule, now_ms);
  });
}

}  // namespace discache::node
