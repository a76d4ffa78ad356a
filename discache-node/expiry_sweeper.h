// The background half of TTL: expired items that nobody reads again still
// give their memory back, a bounded slice at a time.
#pragma once

#include <kj/async.h>
#include <kj/timer.h>

#include <cstddef>
#include <cstdint>

#include "shard_state.h"

namespace discache::node {

struct SweepSchedule {
  kj::Duration interval = 100 * kj::MILLISECONDS;
  // Blocks looked at per shard and tick. Headers are read in address
  // order, a few ns each: 8192 blocks took 53-88 us here (0.05-0.09% of a
  // core at 100 ms), and a 64 MiB shard of 150-byte items (~450k blocks) is
  // swept every ~5.5 s.
  std::size_t blocks_per_tick = 8192;
  // Expired tombstones dropped per tick: at 100 ms, 100k per second, far
  // above the rate deletes can make them.
  std::size_t tombstones_per_tick = 10'000;
};

// The shard's owning thread only. Sweeps the shard's items and tombstones
// every `schedule.interval` until the promise is cancelled; `now_ms` is the
// same wall clock the shard's callers pass.
kj::Promise<void> run_expiry_sweeper(ShardState& shard, kj::Timer& timer, SweepSchedule schedule,
                                     std::uint64_t (*now_ms)());

}  // namespace discache::node
