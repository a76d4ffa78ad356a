#include "expiry_sweeper.h"

namespace discache::node {

kj::Promise<void> run_expiry_sweeper(ShardState& shard, kj::Timer& timer, SweepSchedule schedule,
                                     std::uint64_t (*now_ms)()) {
  return timer.afterDelay(schedule.interval).then([&shard, &timer, schedule, now_ms]() {
    const std::uint64_t now = now_ms();
    shard.items.sweep_expired(now, schedule.blocks_per_tick);
    shard.tombstones.sweep(now, schedule.tombstones_per_tick);
    return run_expiry_sweeper(shard, timer, schedule, now_ms);
  });
}

}  // namespace discache::node
